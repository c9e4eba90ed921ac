package relay

import (
	"testing"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// An event waits for the PubAcks in flight exactly when an event of its subject is among them.
func TestMustWaitOnlyBehindItsOwnSubject(t *testing.T) {
	ev := func(id, subject string) store.OutboxEvent {
		return store.OutboxEvent{ID: id, Event: []byte(`{"specversion":"1.0","subject":"` + subject + `"}`)}
	}
	for _, tt := range []struct {
		name  string
		batch []store.OutboxEvent
		waits []bool
	}{
		{"different subjects share a round trip", []store.OutboxEvent{ev("1", "u1"), ev("2", "u2"), ev("3", "t1")}, []bool{false, false, false}},
		{"a second event of a subject waits", []store.OutboxEvent{ev("1", "u1"), ev("2", "t1"), ev("3", "t1")}, []bool{false, false, true}},
		{"after a wait, nothing is in flight but the waiter", []store.OutboxEvent{ev("1", "u1"), ev("2", "u1"), ev("3", "u2"), ev("4", "u1")}, []bool{false, true, false, true}},
		{"an unreadable event waits for nothing", []store.OutboxEvent{{ID: "1", Event: []byte("x")}, {ID: "2", Event: []byte("x")}}, []bool{false, false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := inFlight{}
			for i, e := range tt.batch {
				if got := f.mustWait(e); got != tt.waits[i] {
					t.Errorf("event %d: mustWait %v, want %v", i, got, tt.waits[i])
				}
			}
		})
	}
}
