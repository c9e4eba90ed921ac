// Package session keeps the browser session in encrypted, chunked, HttpOnly cookies, so the server stays
// stateless (any replica can serve any request) and tokens never reach JavaScript.
package session

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Session is what the server remembers about a logged-in browser.
type Session struct {
	Subject      string    `json:"sub"`
	Email        string    `json:"email,omitempty"`
	Name         string    `json:"name,omitempty"`
	AccessToken  string    `json:"at"`
	RefreshToken string    `json:"rt,omitempty"`
	IDToken      string    `json:"it,omitempty"`
	Expiry       time.Time `json:"exp"`
	CSRFToken    string    `json:"csrf"`
	Created      time.Time `json:"created"`
}

// Login is the short-lived state of one authorization request (between /login and /login/callback).
type Login struct {
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	ReturnTo string    `json:"returnTo"`
	Created  time.Time `json:"created"`
}

const (
	chunkSize = 3800 // below the ~4096-byte per-cookie limit of browsers, with room for name and attributes
	maxChunks = 5
)

// Codec seals values into cookies with AES-256-GCM; the cookie name is bound as additional data so a
// value cannot be moved from one cookie to another.
type Codec struct {
	aead   cipher.AEAD
	secure bool
}

// NewCodec derives the encryption key from secret (at least 32 bytes).
func NewCodec(secret []byte, secure bool) (*Codec, error) {
	if len(secret) < 32 {
		return nil, errors.New("session secret must be at least 32 bytes")
	}
	key := sha256.Sum256(append([]byte("bbq-dashboard-session-v1:"), secret...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return &Codec{aead: aead, secure: secure}, nil
}

// Secure tells whether cookies carry the Secure attribute.
func (c *Codec) Secure() bool { return c.secure }

// Seal encrypts v (JSON, deflated) for the cookie called name.
func (c *Codec) Seal(name string, v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("marshal: %w", err)
	}
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := zw.Write(raw); err != nil {
		return "", fmt.Errorf("compress: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("compress: %w", err)
	}
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("nonce: %w", err)
	}
	sealed := c.aead.Seal(nonce, nonce, buf.Bytes(), []byte(name))
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open decrypts a value made by Seal for the same cookie name into v.
func (c *Codec) Open(name, value string, v any) error {
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	ns := c.aead.NonceSize()
	if len(sealed) < ns {
		return errors.New("cookie too short")
	}
	plain, err := c.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(name))
	if err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(plain)), 64<<10))
	if err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	return json.Unmarshal(raw, v)
}

// Write sets the (possibly chunked) cookie name=seal(v) and clears chunks left over from a longer value.
func (c *Codec) Write(w http.ResponseWriter, r *http.Request, name string, v any, ttl time.Duration) error {
	value, err := c.Seal(name, v)
	if err != nil {
		return err
	}
	n := (len(value) + chunkSize - 1) / chunkSize
	if n > maxChunks {
		return fmt.Errorf("session of %d bytes is too large for cookies", len(value))
	}
	for i := range n {
		end := min(len(value), (i+1)*chunkSize)
		http.SetCookie(w, c.cookie(chunkName(name, i), value[i*chunkSize:end], ttl))
	}
	for i := n; i < maxChunks; i++ {
		if _, err := r.Cookie(chunkName(name, i)); err == nil {
			http.SetCookie(w, c.cookie(chunkName(name, i), "", -1))
		}
	}
	return nil
}

// Read joins the chunks of cookie name and opens them into v.
func (c *Codec) Read(r *http.Request, name string, v any) error {
	var value []byte
	for i := range maxChunks {
		ck, err := r.Cookie(chunkName(name, i))
		if err != nil {
			break
		}
		value = append(value, ck.Value...)
	}
	if len(value) == 0 {
		return http.ErrNoCookie
	}
	return c.Open(name, string(value), v)
}

// Clear expires every chunk of cookie name that the browser sent.
func (c *Codec) Clear(w http.ResponseWriter, r *http.Request, name string) {
	for i := range maxChunks {
		if _, err := r.Cookie(chunkName(name, i)); err == nil {
			http.SetCookie(w, c.cookie(chunkName(name, i), "", -1))
		}
	}
}

func (c *Codec) cookie(name, value string, ttl time.Duration) *http.Cookie {
	ck := &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	}
	if ttl < 0 {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(ttl.Seconds())
	}
	return ck
}

func chunkName(name string, i int) string {
	if i == 0 {
		return name
	}
	return name + "." + strconv.Itoa(i)
}

// RandomToken returns n random bytes, URL-base64 encoded.
func RandomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}
