package reconcile_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/services/idp-hook/internal/reconcile"
	"github.com/connectedbbq/platform/testing/kctest"
	"github.com/connectedbbq/platform/testing/natstest"
)

var kc *kctest.Keycloak

func TestMain(m *testing.M) { os.Exit(kctest.Main(m, &kc)) }

// A pass over a quiet realm moves no checkpoint, but it sets the last-pass time: that is what the alert
// BbqReconcilerStalled watches, so an idle reconciler never looks stuck, and a stuck one (Keycloak refusing
// its credentials) does.
func TestPassSetsLastPassTime(t *testing.T) {
	ctx := context.Background()
	realm := kctest.NewRealm(t, kc, kctest.Options{})
	b := natstest.New(t)
	kv, err := reconcile.EnsureBucket(ctx, b.JS, "idp-hook", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, secret string
		wantPass     bool
	}{{"credentials refused", "not-the-secret", false}, {"quiet realm", realm.Secrets["idp-hook"], true}} {
		t.Run(tt.name, func(t *testing.T) {
			client, err := keycloak.New(keycloak.Config{BaseURL: kc.URL, Realm: realm.Name, ClientID: "idp-hook", ClientSecret: tt.secret})
			if err != nil {
				t.Fatal(err)
			}
			m := reconcile.NewMetrics(prometheus.NewRegistry())
			r := reconcile.New(reconcile.Config{Overlap: time.Minute}, client, bus.NewPublisher(b.JS), kv, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
			before := time.Now().Unix()
			_, err = r.Pass(ctx)
			got := testutil.ToFloat64(m.LastPass)
			if tt.wantPass {
				if err != nil || got < float64(before) {
					t.Fatalf("Pass: %v; last pass %v, want at least %d", err, got, before)
				}
				return
			}
			if err == nil || got != 0 {
				t.Fatalf("Pass with refused credentials: %v; last pass %v, want an error and 0", err, got)
			}
		})
	}
}
