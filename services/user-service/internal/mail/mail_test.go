package mail_test

import (
	"net/mail"
	"strings"
	"testing"
	"time"

	bbqmail "github.com/connectedbbq/platform/services/user-service/internal/mail"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/testing/smtpsink"
)

func TestCompose(t *testing.T) {
	from := &mail.Address{Name: "Connected BBQ", Address: "no-reply@bbq.test"}
	m := store.InvitationMail{InvitationID: "0193", Token: "tok_-en", Email: "eve@example.com", Role: "admin",
		TenantName: "Grill\r\nBcc: eve@evil.example Gäste", InvitedByName: "", ExpiresAt: time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)}
	raw, err := bbqmail.Compose(from, "https://bbq.example/", m, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := smtpsink.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "\r\nBcc:") {
		t.Errorf("a header was injected:\n%s", raw)
	}
	if !strings.Contains(msg.Subject, "Grill Bcc: eve@evil.example Gäste") {
		t.Errorf("subject %q", msg.Subject)
	}
	if links := msg.Links(); len(links) != 1 || links[0] != "https://bbq.example/invitations/accept?token=tok_-en" {
		t.Errorf("links %v in %q", links, msg.Text)
	}
	for _, want := range []string{"An admin invited you", "as admin", "8 Dec 2026 12:00 UTC", "eve@example.com"} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("text lacks %q: %q", want, msg.Text)
		}
	}
	again, _ := bbqmail.Compose(from, "https://bbq.example", m, time.Now().Add(time.Hour))
	if id := header(t, raw, "Message-ID"); id == "" || id != header(t, again, "Message-ID") {
		t.Errorf("Message-ID %q differs between attempts of one link", id)
	}
	if _, err := bbqmail.Compose(from, "https://bbq.example", store.InvitationMail{Email: "not an address"}, time.Now()); err == nil {
		t.Error("composed a mail to a bad recipient")
	}
}

func header(t *testing.T, raw []byte, k string) string {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header.Get(k)
}

func TestConfigValidate(t *testing.T) {
	ok := bbqmail.Config{Addr: "mail:25", From: "a@b.example", DashboardURL: "https://bbq.example"}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid: %v", err)
	}
	bad := bbqmail.Config{Addr: "mail", From: "nobody", DashboardURL: "/relative"}
	err := bad.Validate()
	for _, v := range []string{"SMTP_ADDR", "SMTP_FROM", "DASHBOARD_URL"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("no error naming %s: %v", v, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 4: 40 * time.Second, 50: 15 * time.Minute} {
		if got := bbqmail.Backoff(attempt); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", attempt, got, want)
		}
	}
}
