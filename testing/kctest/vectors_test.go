package kctest_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/webhook"
	"github.com/connectedbbq/platform/testing/kctest"
)

// TestSharedSignatureVectors checks Go's pkg/webhook against the vectors the Java provider's tests use, so
// the two sides of the webhook cannot drift apart.
func TestSharedSignatureVectors(t *testing.T) {
	root, err := kctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy/keycloak/provider/src/test/resources/webhook-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Name, ID, Body, Signature string
			Secrets                   []string
			Timestamp                 int64
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			secrets, err := webhook.ParseSecrets(strings.Join(v.Secrets, ","))
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			webhook.SignRequest(h, secrets, v.ID, time.Unix(v.Timestamp, 0), []byte(v.Body))
			if got := h.Get(webhook.HeaderSignature); got != v.Signature {
				t.Fatalf("signature = %q, want %q", got, v.Signature)
			}
			h.Set(webhook.HeaderTimestamp, strconv.FormatInt(v.Timestamp, 10))
			// Each secret alone must accept the rotated header (the receiver may know only one).
			for _, s := range secrets {
				id, err := webhook.NewVerifier([]webhook.Secret{s}, 5*time.Minute).Verify(h, []byte(v.Body),
					time.Unix(v.Timestamp, 0))
				if err != nil || id != v.ID {
					t.Fatalf("verify: id %q, err %v", id, err)
				}
			}
		})
	}
}
