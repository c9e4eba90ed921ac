package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/connectedbbq/platform/testing/kctest"
)

// keycloakStages runs the stages against a real Keycloak (one for both): backfill and the reconciler after
// an outage, each rated against the end-to-end rate of the same run.
func (r *results) keycloakStages(ctx context.Context, env *benchEnv, o options, out io.Writer) error {
	if o.backfill <= 0 && o.outage <= 0 {
		return nil
	}
	kc, err := kctest.Start(ctx)
	if err != nil {
		return fmt.Errorf("keycloak: %w", err)
	}
	defer kc.Stop()
	if o.backfill > 0 {
		fmt.Fprintf(out, "backfill: %d users from a real Keycloak…\n", o.backfill)
		b, err := env.backfill(ctx, kc, env.bins["idp-hook"], o.backfill, o.reuseRealm, o.backfillPg, out)
		if err != nil {
			return err
		}
		r.backfill = &b
		fmt.Fprintf(out, "backfill: %d users adopted (active in Postgres) in %s: %.0f users/s, %.2f × end-to-end %.0f users/s (target ≥ 0.8); "+
			"published in %s (%.0f users/s); raw JetStream async %.0f msg/s; second run %s; peak RSS %.0f MiB\n",
			b.users, b.adopted.Round(time.Millisecond), b.rate(), b.rate()/r.full.rate(), r.full.rate(), b.first.Round(time.Millisecond), b.publishRate(),
			r.jsAsync, b.second.Round(time.Millisecond), b.maxRSS)
	}
	if o.outage > 0 {
		fmt.Fprintf(out, "outage: %d sign-ups missed while idp-hook was down, caught up by its reconciler…\n", o.outage)
		k, err := env.outage(ctx, kc, o.outage, o.outageEnv, out)
		if err != nil {
			return err
		}
		r.outage = &k
		fmt.Fprintf(out, "outage: caught up %d users in %s: %.0f users/s, %.2f × end-to-end %.0f users/s (target ≥ 0.8)%s\n",
			k.users, k.caughtUp.Round(time.Millisecond), k.rate(), k.rate()/r.full.rate(), r.full.rate(), r.outageBeside())
		fmt.Fprintf(out, "outage: the reconciler published %d new events and %d duplicates for %d users; in the %s after: %d new, %d duplicates; "+
			"CPU during the catch-up: reconciling idp-hook %.1f s, user-service %.1f s, Keycloak %.1f s (-1: not known)\n",
			k.recovered, k.duplicates, k.users, outageSettle, k.laterNew, k.laterDup, k.hookCPU, k.usersCPU, k.keycloakCPU)
	}
	return nil
}

// outageBeside is the outage rate's ratio to the backfill of the same run, when there was one.
func (r *results) outageBeside() string {
	if r.backfill == nil || r.outage == nil {
		return ""
	}
	return fmt.Sprintf("; %.2f × backfill %.0f users/s", r.outage.rate()/r.backfill.rate(), r.backfill.rate())
}
