package contract

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/events"
	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
)

// The document describes exactly the kinds of pkg/events, and accepts each as the services publish it.
func TestDocumentDescribesEveryKindAsPublished(t *testing.T) {
	v, err := New(ProtoDir())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range events.Kinds() {
		want = append(want, k.Type)
		subject, header, body := publish(t, k, k.NewData())
		if typ, err := v.Validate(subject, header, body); err != nil || typ != k.Type {
			t.Errorf("%s: %q, %v", k.Type, typ, err)
		}
	}
	got := v.Types()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("document types %v, want %v", got, want)
	}
}

func TestValidateRefusesWhatBreaksTheContract(t *testing.T) {
	v, err := New(ProtoDir())
	if err != nil {
		t.Fatal(err)
	}
	created := &eventsv1.UserCreated{User: &eventsv1.User{UserId: "u1", Email: "pat@example.com",
		Role: eventsv1.TenantRole_TENANT_ROLE_ADMIN, CreatedAt: timestamppb.Now()}}
	subject, header, body := publish(t, events.UserCreated, created)
	if _, err := v.Validate(subject, header, body); err != nil {
		t.Fatalf("a full UserCreated: %v", err)
	}
	tests := []struct {
		name          string
		subject       string
		header        func(h nats.Header)
		old, new, why string
	}{
		{name: "wrong subject", subject: events.UserUpdated.Subject, why: "belongs on"},
		{name: "no Nats-Msg-Id", header: func(h nats.Header) { delete(h, "Nats-Msg-Id") }, why: "Nats-Msg-Id"},
		{name: "binary mode", header: func(h nats.Header) { h["Content-Type"] = []string{"application/json"} }, why: "Content-Type"},
		{name: "wrong dataschema", old: `"proto:bbq.events.v1.UserCreated"`, new: `"proto:bbq.events.v1.UserUpdated"`, why: "dataschema"},
		{name: "number where a string is", old: `"userId":"u1"`, new: `"userId":1`, why: "userId"},
		{name: "unknown enum value", old: `"TENANT_ROLE_ADMIN"`, new: `"TENANT_ROLE_OWNER"`, why: "role"},
		{name: "not a time", old: `"time":"`, new: `"time":"x`, why: "time"},
		{name: "other specversion", old: `"specversion":"1.0"`, new: `"specversion":"0.3"`, why: "specversion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, h, b := subject, nats.Header(http.Header(header).Clone()), body
			if tt.subject != "" {
				s = tt.subject
			}
			if tt.header != nil {
				tt.header(h)
			}
			if tt.old != "" {
				if !bytes.Contains(b, []byte(tt.old)) {
					t.Fatalf("%s not in %s", tt.old, b)
				}
				b = bytes.Replace(b, []byte(tt.old), []byte(tt.new), 1)
			}
			_, err := v.Validate(s, h, b)
			if err == nil || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("err = %v, want one about %s", err, tt.why)
			}
		})
	}
}

// publish builds the NATS message the services publish for data (with the Nats-Msg-Id JetStream adds).
func publish(t *testing.T, k events.Kind, data proto.Message) (string, nats.Header, []byte) {
	t.Helper()
	source := events.UsersSource
	if strings.HasPrefix(k.Subject, "events.idp.") {
		source = events.IdPSource("bbq")
	}
	ev, err := events.New(k, events.Meta{ID: "id-1", Source: source, Subject: "user-1", Time: time.Now(),
		TraceParent: events.NewTraceParent()}, data)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := bus.Message(k.Subject, ev)
	if err != nil {
		t.Fatal(err)
	}
	msg.Header.Set("Nats-Msg-Id", ev.ID())
	return msg.Subject, msg.Header, msg.Data
}
