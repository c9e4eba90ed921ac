// Package webhook signs and verifies Standard Webhooks (https://www.standardwebhooks.com):
// headers webhook-id, webhook-timestamp and webhook-signature ("v1,<base64 HMAC-SHA256>"),
// computed over "<id>.<timestamp>.<body>" with the base64 key that follows "whsec_".
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names defined by the specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	secretPrefix    = "whsec_"
)

// Errors returned by Verify; all mean "not authenticated" (401), the detail goes to logs and metrics.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrBadTimestamp   = errors.New("webhook: timestamp is not a unix time in seconds")
	ErrStale          = errors.New("webhook: timestamp outside the tolerance")
	ErrNoMatch        = errors.New("webhook: no signature matches any configured secret")
)

// Secret is one HMAC key. Several are configured during a rotation.
type Secret []byte

// ParseSecrets reads a comma- or space-separated list of "whsec_<base64>" secrets.
func ParseSecrets(list string) ([]Secret, error) {
	fields := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' })
	if len(fields) == 0 {
		return nil, errors.New("webhook: no secret given")
	}
	secrets := make([]Secret, 0, len(fields))
	for i, f := range fields {
		raw, ok := strings.CutPrefix(f, secretPrefix)
		if !ok {
			return nil, fmt.Errorf("webhook: secret #%d does not start with %q", i+1, secretPrefix)
		}
		key, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return nil, fmt.Errorf("webhook: secret #%d is not base64: %w", i+1, err)
		}
		if len(key) < 24 {
			return nil, fmt.Errorf("webhook: secret #%d is %d bytes; use at least 24", i+1, len(key))
		}
		secrets = append(secrets, key)
	}
	return secrets, nil
}

// FormatSecret renders a key in the "whsec_" form that ParseSecrets reads.
func FormatSecret(key []byte) string { return secretPrefix + base64.StdEncoding.EncodeToString(key) }

// Sign returns the webhook-signature value for one secret.
func Sign(secret Secret, msgID string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	fmt.Fprintf(mac, "%s.%d.", msgID, ts.Unix())
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignRequest sets the three headers on r, signing with every secret (as senders do during a rotation).
func SignRequest(h http.Header, secrets []Secret, msgID string, ts time.Time, body []byte) {
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sigs[i] = Sign(s, msgID, ts, body)
	}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
}

// Verifier checks signatures against a set of secrets and a clock tolerance.
type Verifier struct {
	secrets   []Secret
	tolerance time.Duration
}

// NewVerifier returns a Verifier; the specification recommends a 5-minute tolerance.
func NewVerifier(secrets []Secret, tolerance time.Duration) *Verifier {
	return &Verifier{secrets: secrets, tolerance: tolerance}
}

// Verify authenticates a request and returns its webhook-id. Comparison is constant-time.
func (v *Verifier) Verify(h http.Header, body []byte, now time.Time) (string, error) {
	id, tsText, sigText := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigText == "" {
		return "", ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return "", ErrBadTimestamp
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > v.tolerance || d < -v.tolerance {
		return "", ErrStale
	}
	for _, secret := range v.secrets {
		want := Sign(secret, id, ts, body)
		for _, got := range strings.Fields(sigText) {
			if hmac.Equal([]byte(got), []byte(want)) {
				return id, nil
			}
		}
	}
	return "", ErrNoMatch
}
