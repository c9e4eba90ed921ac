package e2e

import (
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/test/internal/pipelinetest"
	"github.com/connectedbbq/platform/testing/otlptest"
)

// One sign-up is one trace per Keycloak request: the provider's traceparent (Keycloak's span) → idp-hook's
// webhook span → its publish to JetStream → user-service's processing and transaction → the outbox relay's
// publish of UserCreated, whose CloudEvent and NATS headers carry the trace on. The spans are exported over
// OTLP/HTTP by the real processes to an in-process OTLP receiver.
func TestOneSignUpIsOneTraceFromTheWebhookToUserCreated(t *testing.T) {
	rcv := otlptest.New(t)
	e := newEnv(t, nil, func(c *stack.PipelineConfig) {
		c.IdPHookEnv = maps.Clone(rcv.Env())
		c.UserServiceEnv = maps.Clone(rcv.Env())
	})
	const user, email = "user-traced", "traced@example.com"
	// What Keycloak's provider sends: its span for the registration request, then for the verification one.
	register, verify := events.NewTraceParent(), events.NewTraceParent()
	for i, w := range []struct{ id, typ, traceparent string }{{"REGISTER-0", "REGISTER", register}, {"VERIFY-0", "VERIFY_EMAIL", verify}} {
		if got := e.postWith(eventsPath, w.id, kcEvent("kc-"+w.typ, w.typ, user, email), http.Header{"Traceparent": {w.traceparent}}); got != http.StatusAccepted {
			t.Fatalf("webhook %s: status %d", w.id, got)
		}
		// As with Keycloak, the verification comes after the registration was handled (a person clicks a
		// mailed link), so the verification is what confirms the account.
		e.eventually(10*time.Second, w.typ+" applied", func() bool { return e.scalar(`SELECT count(*) FROM processed_events`) == i+1 })
	}
	e.eventually(20*time.Second, "UserCreated", func() bool { return e.userCreated()[user] == 1 })

	// The verification confirmed the account: its trace goes all the way to UserCreated.
	traceID, keycloakSpan := pipelinetest.TraceIDs(verify)
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range rcv.Spans() {
				t.Logf("span %s %s %s %q trace %s span %s parent %s", s.Service, s.Kind, s.Start.Format(time.StampMicro), s.Name, s.TraceID, s.SpanID, s.ParentID)
			}
		}
	})
	var chain []otlptest.Span
	e.eventually(20*time.Second, "the spans of the verification's trace", func() bool {
		chain = pipelinetest.SpanChain(rcv.Trace(traceID), keycloakSpan, pipelinetest.Step{"idp-hook", "server", "POST /webhooks/keycloak/events"},
			pipelinetest.Step{"idp-hook", "producer", "publish events.idp."}, pipelinetest.Step{"user-service", "consumer", "process events.idp."},
			pipelinetest.Step{"user-service", "producer", "publish " + events.UserCreated.Subject})
		return len(chain) == 4
	})
	process, relay := chain[2], chain[3]
	if _, ok := otlptest.Find(rcv.Trace(traceID), func(s otlptest.Span) bool {
		return s.Service == "user-service" && s.Name == "apply events" && s.ParentID == process.SpanID
	}); !ok {
		t.Error("no transaction span under the consumer's")
	}

	// UserCreated carries the trace: the CloudEvent the consumer's span, the NATS header the relay's.
	msgs := e.bus.Messages(t, events.UserCreated.Subject)
	d, err := events.Decode(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if tp, _ := d.Event.Extensions()[events.TraceParentExtension].(string); !strings.Contains(tp, traceID+"-"+process.SpanID) {
		t.Errorf("UserCreated's traceparent %q, want the consumer's span %s-%s", tp, traceID, process.SpanID)
	}
	if h := msgs[0].Header.Get("traceparent"); !strings.Contains(h, traceID+"-"+relay.SpanID) {
		t.Errorf("UserCreated's NATS traceparent %q, want the relay's span %s-%s", h, traceID, relay.SpanID)
	}

	// The registration is a trace of its own, up to the consumer (it announces nothing yet).
	regTrace, regSpan := pipelinetest.TraceIDs(register)
	e.eventually(20*time.Second, "the spans of the registration's trace", func() bool {
		return len(pipelinetest.SpanChain(rcv.Trace(regTrace), regSpan, pipelinetest.Step{"idp-hook", "server", "POST"},
			pipelinetest.Step{"idp-hook", "producer", "publish"}, pipelinetest.Step{"user-service", "consumer", "process"})) == 3
	})
}
