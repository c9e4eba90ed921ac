package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	osexec "os/exec"
	"strconv"
	"time"

	"github.com/connectedbbq/platform/pkg/keycloak"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/testing/kctest"
)

// backfillRealm is the realm the backfill stage imports into; user-service takes its events (EVENT_SOURCES).
// A realm named otherwise would have every registration dead-lettered as unknown_source.
const backfillRealm = "bench-backfill"

// backfillResult is `idp-hook backfill` adopting users from a real Keycloak into the bench's bus.
type backfillResult struct {
	users               int
	imported            time.Duration // partial import of the users into Keycloak (setup, not measured)
	first, second       time.Duration // the command's run: publishing everything, then nothing new
	adopted             time.Duration // the first run's start -> every user active in user-service's Postgres
	firstOut, secondOut string
	maxRSS              float64 // MiB, the larger of the two runs
}

// rate is users adopted (active rows in Postgres) per second; publishRate what the command published.
func (b backfillResult) rate() float64        { return float64(b.users) / b.adopted.Seconds() }
func (b backfillResult) publishRate() float64 { return float64(b.users) / b.first.Seconds() }

// backfill starts a Keycloak (or uses KCTEST_URL's), creates a realm with n users by partial import, and
// times two runs of `idp-hook backfill` against it and the bench's bus; user-service adopts what it publishes.
// A reuse realm (made by an earlier run, with n users) saves the import. page > 0 is the command's -page.
func (e *benchEnv) backfill(ctx context.Context, kc *kctest.Keycloak, bin string, n int, reuse string, page int, out io.Writer) (backfillResult, error) {
	r := backfillResult{users: n}
	var err error
	realm, secret := reuse, ""
	if reuse != "" {
		if secret, err = clientSecret(ctx, kc, realm, "idp-hook"); err != nil {
			return r, err
		}
	} else {
		realm, secret = backfillRealm, token(16)
		_ = kc.AdminRequest(ctx, "DELETE", "/admin/realms/"+realm, nil, nil) // left by an interrupted run, if any
		if err := createServiceRealm(ctx, kc, realm, secret, nil); err != nil {
			return r, err
		}
		defer kc.AdminRequest(context.Background(), "DELETE", "/admin/realms/"+realm, nil, nil) //nolint:errcheck // best effort
		start := time.Now()
		if err := importUsers(ctx, kc, realm, n); err != nil {
			return r, err
		}
		r.imported = time.Since(start)
		fmt.Fprintf(out, "backfill: %d users imported into Keycloak in %s\n", n, r.imported.Round(time.Millisecond))
	}
	env := append(os.Environ(), "NATS_URL="+e.nc.ConnectedUrl(), "WEBHOOK_SECRETS="+webhook.FormatSecret(e.secret),
		"KEYCLOAK_URL="+kc.URL, "KEYCLOAK_REALM="+realm, "KEYCLOAK_CLIENT_SECRET="+secret, "LOG_LEVEL=warn")
	args := []string{"backfill"}
	if page > 0 {
		args = append(args, "-page", strconv.Itoa(page))
	}
	var rss1, rss2 float64
	start := time.Now()
	if r.first, r.firstOut, rss1, err = runBackfill(ctx, bin, args, env, out); err != nil {
		return r, err
	}
	if r.adopted, err = e.adopted(ctx, realm, n, start, out); err != nil {
		return r, err
	}
	r.second, r.secondOut, rss2, err = runBackfill(ctx, bin, args, env, out)
	r.maxRSS = max(rss1, rss2)
	return r, err
}

// runBackfill runs the command once; it returns its duration, output and peak RSS in MiB.
func runBackfill(ctx context.Context, bin string, args, env []string, out io.Writer) (time.Duration, string, float64, error) {
	cmd := osexec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(out, &buf) // the progress lines show while it runs
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, "", 0, fmt.Errorf("idp-hook backfill: %w", err)
	}
	rss := watchPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	took := time.Since(start)
	if err != nil {
		return took, buf.String(), rss(), fmt.Errorf("idp-hook backfill: %w", err)
	}
	return took, buf.String(), rss(), nil
}

// watchPeakRSS reads the process's VmHWM every 20 ms until it ends; the returned function stops the watch
// and gives the last value read (VmHWM is itself the peak). Not the rusage of the ended child: Linux counts
// in it the high-water mark of the memory the child shared with this process before its exec (os/exec
// forks with CLONE_VM), i.e. the bench's own, which holds the embedded NATS server.
func watchPeakRSS(pid int) func() float64 {
	var peak float64 // written by the watch only; read once it has ended
	stop, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		for {
			if v := peakRSS(pid); v > 0 {
				peak = v
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() float64 {
		close(stop)
		<-ended
		return peak
	}
}

// createServiceRealm makes a realm with the idp-hook client and the roles its service account has in the
// shipped realm (view-users, view-events, view-identity-providers), and the extra realm settings.
func createServiceRealm(ctx context.Context, kc *kctest.Keycloak, realm, secret string, extra map[string]any) error {
	rep := map[string]any{"realm": realm, "enabled": true,
		"clients": []any{map[string]any{"clientId": "idp-hook", "secret": secret, "publicClient": false,
			"serviceAccountsEnabled": true, "standardFlowEnabled": false}},
		"users": []any{map[string]any{"username": "service-account-idp-hook", "enabled": true, "serviceAccountClientId": "idp-hook",
			"clientRoles": map[string]any{"realm-management": []string{"view-users", "view-events", "view-identity-providers"}}}}}
	maps.Copy(rep, extra)
	if err := kc.AdminRequest(ctx, "POST", "/admin/realms", rep, nil); err != nil {
		return fmt.Errorf("create realm %s: %w", realm, err)
	}
	return nil
}

// clientSecret reads the secret of a client of the realm.
func clientSecret(ctx context.Context, kc *kctest.Keycloak, realm, clientID string) (string, error) {
	var clients []struct{ ID string }
	if err := kc.AdminRequest(ctx, "GET", "/admin/realms/"+realm+"/clients?clientId="+clientID, nil, &clients); err != nil || len(clients) == 0 {
		return "", fmt.Errorf("client %s of realm %s: %w", clientID, realm, err)
	}
	var sec struct{ Value string }
	if err := kc.AdminRequest(ctx, "GET", "/admin/realms/"+realm+"/clients/"+clients[0].ID+"/client-secret", nil, &sec); err != nil {
		return "", fmt.Errorf("secret of client %s: %w", clientID, err)
	}
	return sec.Value, nil
}

// importUsers creates n users with Keycloak's partial import (far faster than one POST each).
func importUsers(ctx context.Context, kc *kctest.Keycloak, realm string, n int) error {
	c, err := keycloak.New(keycloak.Config{BaseURL: kc.URL, Realm: realm, TokenRealm: "master",
		ClientID: "admin-cli", Username: kc.AdminUser, Password: kc.AdminPassword})
	if err != nil {
		return err
	}
	users := make([]keycloak.User, n)
	for i := range users {
		email := fmt.Sprintf("adopted%07d@example.com", i)
		users[i] = keycloak.User{Username: email, Email: email, Enabled: true, EmailVerified: true, FirstName: "Adopted", LastName: fmt.Sprint(i)}
	}
	return c.ImportUsers(ctx, users)
}

func token(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// rate is the end-to-end users per second of a push.
func (p pushResult) rate() float64 { return float64(p.users) / p.e2eTime.Seconds() }
