package keycloak

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/test/internal/pipelinetest"
	"github.com/connectedbbq/platform/testing/kctest"
	"github.com/connectedbbq/platform/testing/otlptest"
)

// One sign-up through Keycloak's own form: the verification's trace starts at Keycloak's span for the request
// (Keycloak's OpenTelemetry tracing), whose context the provider sends on the webhook, and goes on through
// idp-hook, JetStream and user-service to the relay's publish of UserCreated. Every process exports to an
// in-process OTLP receiver (otlptest, a stand-in for a collector). The test starts a traced Keycloak of its own.
func TestOneSignUpThroughKeycloakIsOneTraceRootedInKeycloak(t *testing.T) {
	traces := otlptest.New(t)
	traced, err := kctest.StartWith(context.Background(), kctest.Config{TracingEndpoint: traces.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(traced.Stop)
	if !traced.Tracing {
		t.Skip("a reused Keycloak (KCTEST_URL) does not export its spans to this test binary")
	}
	e := newEnv(t, options{webhook: true, hookEnv: traces.Env(), serviceEnv: traces.Env(), keycloak: traced})
	s := e.realm.SignUp(t, "tracy@example.com", password, "Tracy Span")
	s.FollowVerification(t)
	e.eventually(30*time.Second, "UserCreated", func() bool { return len(e.count(events.UserCreated.Subject)) == 1 })
	d, err := events.Decode(e.bus.Messages(t, events.UserCreated.Subject)[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := d.Event.Extensions()[events.TraceParentExtension].(string)
	traceID, _ := pipelinetest.TraceIDs(tp)
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range traces.Trace(traceID) {
				t.Logf("span %s %s %q span %s parent %s attrs %v", s.Service, s.Kind, s.Name, s.SpanID, s.ParentID, s.Attrs)
			}
		}
	})

	var root, hook otlptest.Span
	var chain []otlptest.Span
	e.eventually(20*time.Second, "the trace from Keycloak's span to UserCreated", func() bool {
		spans := traces.Trace(traceID)
		var ok bool
		if hook, ok = otlptest.Find(spans, func(s otlptest.Span) bool { return s.Service == "idp-hook" && s.Kind == "server" }); !ok {
			return false
		}
		if root, ok = pipelinetest.RootOf(spans, hook); !ok {
			return false
		}
		chain = pipelinetest.SpanChain(spans, hook.SpanID, pipelinetest.Step{"idp-hook", "producer", "publish events.idp."},
			pipelinetest.Step{"user-service", "consumer", "process events.idp."}, pipelinetest.Step{"user-service", "producer", "publish " + events.UserCreated.Subject})
		return len(chain) == 3
	})
	if root.Service != "keycloak" || root.Kind != "server" {
		t.Errorf("the trace's root is %s %s %q, want Keycloak's server span", root.Service, root.Kind, root.Name)
	}
	if parent, _ := otlptest.Find(traces.Trace(traceID), func(s otlptest.Span) bool { return s.SpanID == hook.ParentID }); parent.Service != "keycloak" {
		t.Errorf("idp-hook's webhook span has parent %s %q, want a span of Keycloak", parent.Service, parent.Name)
	}
	if !strings.Contains(root.Name+root.Attrs["url.path"]+root.Attrs["http.route"], "/realms/") {
		t.Errorf("Keycloak's root span %q (%v) is not a realm request", root.Name, root.Attrs)
	}
	t.Logf("one trace %s: keycloak %q → idp-hook %q → %q → %q → %q", traceID, root.Name, hook.Name, chain[0].Name, chain[1].Name, chain[2].Name)
}
