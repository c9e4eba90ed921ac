package smtpsink_test

import (
	"context"
	"net/smtp"
	"testing"
	"time"

	"github.com/connectedbbq/platform/testing/smtpsink"
)

func TestSinkReceivesAndDecodes(t *testing.T) {
	s, err := smtpsink.Start(smtpsink.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	msg := "From: kc@example.com\r\nTo: Ada@Example.com\r\nSubject: =?UTF-8?Q?Verify_email?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Click http://localhost:8080/auth/realms/x/login-actions/action-token?key=3Dabc&client_id=3Dy=\r\n" +
		"z here.\r\n" +
		"--b1\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"PGEgaHJlZj0iaHR0cDovL2guZXhhbXBsZS9hP2ImYW1wO2MiPmxpbms8L2E+\r\n--b1--\r\n"
	if err := smtp.SendMail(s.Addr(), nil, "kc@example.com", []string{"Ada@Example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := s.WaitTo(ctx, "ada@example.com", "verify")
	if err != nil {
		t.Fatal(err)
	}
	links := m.Links()
	want := "http://localhost:8080/auth/realms/x/login-actions/action-token?key=abc&client_id=yz"
	if len(links) != 1 || links[0] != want {
		t.Fatalf("links = %q, want [%q]", links, want)
	}
	if m.HTML != `<a href="http://h.example/a?b&amp;c">link</a>` {
		t.Fatalf("html = %q", m.HTML)
	}
}
