package relay

import (
	"fmt"
	"testing"

	"github.com/connectedbbq/platform/services/user-service/internal/store"
)

// A wave is the first event of each subject, in outbox order; the rest keep their order.
func TestAWaveHoldsOneEventPerSubject(t *testing.T) {
	ev := func(id, subject string) store.OutboxEvent {
		return store.OutboxEvent{ID: id, Event: []byte(`{"specversion":"1.0","subject":"` + subject + `"}`)}
	}
	ids := func(evs []outgoing) (out []string) {
		for _, e := range evs {
			out = append(out, e.ID)
		}
		return out
	}
	for _, tt := range []struct {
		name  string
		batch []store.OutboxEvent
		waves [][]string
	}{
		{"different subjects share a wave", []store.OutboxEvent{ev("1", "u1"), ev("2", "u2"), ev("3", "t1")}, [][]string{{"1", "2", "3"}}},
		{"sign-ups: the tenant's second event waits", []store.OutboxEvent{ev("1", "t1"), ev("2", "t1"), ev("3", "u1"), ev("4", "t2"), ev("5", "t2"), ev("6", "u2")},
			[][]string{{"1", "3", "4", "6"}, {"2", "5"}}},
		{"a subject's events one wave each, in order", []store.OutboxEvent{ev("1", "u1"), ev("2", "u1"), ev("3", "u2"), ev("4", "u1")},
			[][]string{{"1", "3"}, {"2"}, {"4"}}},
		{"an unreadable event waits for nothing", []store.OutboxEvent{{ID: "1", Event: []byte("x")}, {ID: "2", Event: []byte("x")}}, [][]string{{"1", "2"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]string
			for left := prepare(tt.batch); len(left) > 0; {
				var wave []outgoing
				wave, left = nextWave(left)
				got = append(got, ids(wave))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.waves) {
				t.Errorf("waves %v, want %v", got, tt.waves)
			}
		})
	}
}
