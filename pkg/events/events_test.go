package events_test

import (
	"errors"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
)

func TestRoundTrip(t *testing.T) {
	for _, k := range events.Kinds() {
		t.Run(k.Type, func(t *testing.T) {
			ev, err := events.New(k, events.Meta{ID: "id-1", Source: events.UsersSource, Subject: "user-1", Time: time.Unix(1, 0),
				TraceParent: events.NewTraceParent()}, k.NewData())
			if err != nil {
				t.Fatal(err)
			}
			b, err := events.Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			d, err := events.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if d.Kind.Type != k.Type || d.Event.DataSchema() != "proto:"+k.Schema || d.Event.Subject() != "user-1" {
				t.Fatalf("decoded %s %s %s", d.Kind.Type, d.Event.DataSchema(), d.Event.Subject())
			}
		})
	}
}

func TestNewAndDecodeRefuseWhatBreaksTheContract(t *testing.T) {
	if _, err := events.New(events.UserCreated, events.Meta{ID: "x", Source: "/users", Subject: "u"}, &eventsv1.UserRegistered{}); err == nil {
		t.Error("New accepted data of another kind")
	}
	if _, err := events.New(events.UserCreated, events.Meta{Source: "/users", Subject: "u"}, &eventsv1.UserCreated{}); err == nil {
		t.Error("New accepted an event without id")
	}
	tests := []struct {
		name    string
		body    string
		wantErr error
	}{
		{"not JSON", `{`, nil},
		{"not a CloudEvent", `{"hello":"world"}`, nil},
		{"unknown type", `{"specversion":"1.0","id":"1","source":"/x","type":"com.example.other.v1"}`, events.ErrUnknownType},
		{"wrong data", `{"specversion":"1.0","id":"1","source":"/x","type":"com.connectedbbq.users.user.created.v1","datacontenttype":"application/json","data":{"user":"nobody"}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.Decode([]byte(tt.body))
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("Decode error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
