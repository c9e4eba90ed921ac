package webhook_test

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/webhook"
)

// The test vector published with the Standard Webhooks reference libraries.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesSpecVector(t *testing.T) {
	secrets, err := webhook.ParseSecrets(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := webhook.Sign(secrets[0], specID, time.Unix(specTS, 0), []byte(specBody)); got != specSig {
		t.Fatalf("Sign = %s, want %s", got, specSig)
	}
}

func TestVerify(t *testing.T) {
	oldKey, newKey, otherKey := []byte("old-secret-0123456789abcdef"), []byte("new-secret-0123456789abcdef"), []byte("other-secret-0123456789abcd")
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"REGISTER"}`)
	signed := func(keys [][]byte, ts time.Time, b []byte) http.Header {
		h := http.Header{}
		var secrets []webhook.Secret
		for _, k := range keys {
			secrets = append(secrets, k)
		}
		webhook.SignRequest(h, secrets, "evt-1", ts, b)
		return h
	}
	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		wantErr error
	}{
		{"current secret", signed([][]byte{newKey}, now, body), body, nil},
		{"old secret during rotation", signed([][]byte{oldKey}, now, body), body, nil},
		{"several signatures one valid", signed([][]byte{otherKey, newKey}, now, body), body, nil},
		{"within tolerance", signed([][]byte{newKey}, now.Add(-4*time.Minute), body), body, nil},
		{"stale", signed([][]byte{newKey}, now.Add(-6*time.Minute), body), body, webhook.ErrStale},
		{"from the future", signed([][]byte{newKey}, now.Add(6*time.Minute), body), body, webhook.ErrStale},
		{"unknown secret", signed([][]byte{otherKey}, now, body), body, webhook.ErrNoMatch},
		{"tampered body", signed([][]byte{newKey}, now, body), []byte(`{"type":"DELETE_ACCOUNT"}`), webhook.ErrNoMatch},
		{"missing headers", http.Header{}, body, webhook.ErrMissingHeaders},
		{"bad timestamp", func() http.Header {
			h := signed([][]byte{newKey}, now, body)
			h.Set(webhook.HeaderTimestamp, "yesterday")
			return h
		}(), body, webhook.ErrBadTimestamp},
		{"replayed id with another body", func() http.Header {
			h := signed([][]byte{newKey}, now, body)
			h.Set(webhook.HeaderID, "evt-2")
			return h
		}(), body, webhook.ErrNoMatch},
	}
	v := webhook.NewVerifier([]webhook.Secret{newKey, oldKey}, 5*time.Minute)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.header, tt.body, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestParseSecrets(t *testing.T) {
	tests := []struct {
		name, in string
		want     int
		wantErr  bool
	}{
		{"one", specSecret, 1, false},
		{"comma and space separated", specSecret + ", " + specSecret, 2, false},
		{"empty", "", 0, true},
		{"no prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 0, true},
		{"not base64", "whsec_!!!", 0, true},
		{"too short", "whsec_c2hvcnQ=", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhook.ParseSecrets(tt.in)
			if (err != nil) != tt.wantErr || len(got) != tt.want {
				t.Fatalf("ParseSecrets(%q) = %d secrets, err %v", tt.in, len(got), err)
			}
		})
	}
}

// FuzzVerify: whatever the headers and body, Verify never panics and accepts only what was signed
// with the key.
func FuzzVerify(f *testing.F) {
	key := []byte("fuzz-secret-0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	f.Add("msg_1", "1800000000", "v1,"+"AAAA", []byte(`{"type":"REGISTER"}`))
	f.Add("", "", "", []byte{})
	f.Add("id", "-1", "v1,x v2,y", []byte("{"))
	v := webhook.NewVerifier([]webhook.Secret{key}, 5*time.Minute)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(webhook.HeaderID, id)
		h.Set(webhook.HeaderTimestamp, ts)
		h.Set(webhook.HeaderSignature, sig)
		if _, err := v.Verify(h, body, now); err == nil {
			// Only a real signature passes: it must be among the given ones.
			sec, perr := strconv.ParseInt(h.Get(webhook.HeaderTimestamp), 10, 64)
			if perr != nil || !slices.Contains(strings.Fields(h.Get(webhook.HeaderSignature)), webhook.Sign(key, h.Get(webhook.HeaderID), time.Unix(sec, 0), body)) {
				t.Fatalf("accepted an unsigned request: id=%q ts=%q sig=%q", id, ts, sig)
			}
		}
	})
}
