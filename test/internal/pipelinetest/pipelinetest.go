// Package pipelinetest is what the process-level suites (test/e2e, test/keycloak, test/faults) share: the
// binaries built once per test binary, a pipeline per test with its logs shown when the test fails, signed
// webhooks, waiting for a condition, and reading the bus, the database and the API.
package pipelinetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/testing/natstest"
)

// Build builds the named binaries (stack.Build) into a temporary folder, for a TestMain; remove deletes it.
func Build(names ...string) (bins map[string]string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "pipeline-bin-")
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if bins, err = stack.Build(ctx, dir, names...); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return bins, func() { os.RemoveAll(dir) }, nil
}

// Start starts the pipeline cfg describes (logs in cfg.Dir, a temporary folder when empty) and stops it when
// t ends, failing t if it does not stop cleanly.
func Start(t testing.TB, cfg *stack.PipelineConfig) *stack.Pipeline {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := stack.StartPipeline(ctx, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	LogsOnFailure(t, cfg.Dir)
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// LogsOnFailure shows the end of each service's log in dir when t has failed. Cleanups run last-in first-out:
// call it before registering the pipeline's stop, so the logs are read after the processes have stopped.
func LogsOnFailure(t testing.TB, dir string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, f := range []string{"idp-hook.log", "user-service.log"} {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("--- %s (the last 4000 bytes)\n%s", f, b)
		}
	})
}

// Eventually polls cond until it holds, failing t after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// Scalar runs a query whose answer is one integer.
func Scalar(t testing.TB, db *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Count counts the events on the bus whose NATS subject matches subject, per CloudEvent subject (the user
// or tenant id).
func Count(t testing.TB, b *natstest.Bus, subject string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range b.Messages(t, subject) {
		d, err := events.Decode(m.Data)
		if err != nil {
			t.Fatalf("undecodable event on %s: %v", m.Subject, err)
		}
		out[d.Event.Subject()]++
	}
	return out
}

// Call sends an HTTP request to base+path, with a bearer token and a JSON body when given, and returns the
// status and the answer decoded as a JSON object (nil when it is not one).
func Call(t testing.TB, base, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// PostWebhook posts body to url signed with secret as Keycloak's provider signs it (Standard Webhooks, id
// webhookID, now), and returns the status; err is a failure to reach url.
func PostWebhook(url string, secret []byte, webhookID string, body []byte) (int, error) {
	return PostWebhookWith(url, secret, webhookID, body, nil)
}

// PostWebhookWith is PostWebhook with extra headers (e.g. traceparent).
func PostWebhookWith(url string, secret []byte, webhookID string, body []byte, header http.Header) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("webhook request: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	webhook.SignRequest(req.Header, []webhook.Secret{secret}, webhookID, time.Now(), body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post webhook %s: %w", webhookID, err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
