package kcevent

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	eventsv1 "github.com/connectedbbq/platform/pkg/gen/bbq/events/v1"
)

// Limits of what Keycloak stores (its user profile validators and USER_ENTITY columns). An email is held
// to RFC 5321's 254 characters, as Keycloak's own email validator does for the parts it checks.
const (
	maxEmailChars     = 254
	maxEmailLocalPart = 64 // Keycloak's default max-email-local-part-length
	maxNameChars      = 255
)

// fieldKind is the rule a string field follows.
type fieldKind int

const (
	personName fieldKind = iota // a first or last name, a username, an identity provider alias
	emailAddr                   // an email address, or empty when the event does not report one
)

// field is one string of a webhook that ends up in an event, named as the sender spells it so that a 400
// tells which field was refused.
type field struct {
	name  string
	value string
	kind  fieldKind
}

// checkFields refuses, with an error wrapping ErrInvalid, strings that Keycloak would never send or that
// Postgres cannot store: invalid UTF-8, control characters (NUL above all), names over 255 characters, and
// emails over 254 characters or not shaped like an address. Empty fields pass: events report only what changed.
func checkFields(fields ...field) error {
	for _, f := range fields {
		if problem := checkField(f); problem != "" {
			return fmt.Errorf("%w: %s %s", ErrInvalid, f.name, problem)
		}
	}
	return nil
}

// checkField says what is wrong with f, or "".
func checkField(f field) string {
	switch {
	case !utf8.ValidString(f.value):
		return "is not valid UTF-8"
	case strings.ContainsFunc(f.value, unicode.IsControl):
		return "has control characters"
	case f.kind == personName && utf8.RuneCountInString(f.value) > maxNameChars:
		return fmt.Sprintf("is longer than %d characters", maxNameChars)
	case f.kind == emailAddr && utf8.RuneCountInString(f.value) > maxEmailChars:
		return fmt.Sprintf("is longer than %d characters", maxEmailChars)
	case f.kind == emailAddr && f.value != "" && !emailShaped(f.value):
		return "is not an email address"
	}
	return ""
}

// CheckState applies checkFields to a state read from Keycloak (the webhook's bbqUser or the admin API).
// A nil state passes: older providers send none.
func CheckState(s *eventsv1.UserState) error {
	if s == nil {
		return nil
	}
	fields := []field{
		{"state.email", s.GetEmail(), emailAddr},
		{"state.user_name", s.GetUserName(), personName},
		{"state.first_name", s.GetFirstName(), personName},
		{"state.last_name", s.GetLastName(), personName},
	}
	for _, alias := range s.GetIdentityProviders() {
		fields = append(fields, field{"state.identity_providers", alias, personName})
	}
	return checkFields(fields...)
}

// detailFields are the details of a user event that the mapping copies into events.
func detailFields(d map[string]string) []field {
	return []field{
		{"details.email", d["email"], emailAddr},
		{"details.updated_email", d["updated_email"], emailAddr},
		{"details.username", d["username"], personName},
		{"details.first_name", d["first_name"], personName},
		{"details.last_name", d["last_name"], personName},
		{"details.updated_first_name", d["updated_first_name"], personName},
		{"details.updated_last_name", d["updated_last_name"], personName},
	}
}

// fields are the strings of an admin event's user representation that the mapping copies into events.
func (u userRepresentation) fields() []field {
	return []field{
		{"representation.email", u.Email, emailAddr},
		{"representation.username", u.Username, personName},
		{"representation.firstName", u.FirstName, personName},
		{"representation.lastName", u.LastName, personName},
	}
}

// emailShaped follows Keycloak's EmailValidationUtil (after Hibernate Validator's): split at the last "@",
// a local part of at most 64 characters that is dot-separated atoms or quoted strings, and a domain of
// letter-digit-hyphen labels or a bracketed IP literal. Non-ASCII letters pass, as in Keycloak.
func emailShaped(s string) bool {
	s = strings.TrimSpace(s) // Keycloak trims before it validates
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	return localPartShaped(local) && domainShaped(domain)
}

func localPartShaped(local string) bool {
	if local == "" || utf8.RuneCountInString(local) > maxEmailLocalPart {
		return false
	}
	for _, part := range splitLocal(local) {
		if !atomShaped(part) && !quotedShaped(part) {
			return false
		}
	}
	return true
}

// splitLocal splits a local part at the dots outside quotes.
func splitLocal(local string) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i, r := range local {
		switch {
		case escaped:
			escaped = false
		case quoted && r == '\\':
			escaped = true
		case r == '"':
			quoted = !quoted
		case r == '.' && !quoted:
			parts, start = append(parts, local[start:i]), i+1
		}
	}
	return append(parts, local[start:])
}

// atomShaped: RFC 5322 atext, plus any non-ASCII character.
func atomShaped(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x80 && !isAlnum(r) && !strings.ContainsRune("!#$%&'*+/=?^_`{|}~-", r)
	})
}

// quotedShaped: "..." where a backslash escapes only a backslash or a quote.
func quotedShaped(s string) bool {
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	inner := s[1 : len(s)-1]
	for i := 0; i < len(inner); i++ {
		switch inner[i] {
		case '"':
			return false
		case '\\':
			if i+1 == len(inner) || (inner[i+1] != '\\' && inner[i+1] != '"') {
				return false
			}
			i++
		}
	}
	return true
}

func domainShaped(domain string) bool {
	if lit, ok := strings.CutPrefix(domain, "["); ok {
		lit, ok = strings.CutSuffix(lit, "]")
		lit, v6 := strings.CutPrefix(lit, "IPv6:")
		ip, err := netip.ParseAddr(lit)
		return ok && err == nil && ip.Is6() == v6 && ip.Zone() == ""
	}
	if domain == "" || len(domain) > 255 {
		return false
	}
	for _, label := range strings.Split(domain, ".") {
		if !labelShaped(label) {
			return false
		}
	}
	return true
}

// labelShaped: 1 to 63 letters, digits and inner hyphens.
func labelShaped(label string) bool {
	if label == "" || utf8.RuneCountInString(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	return !strings.ContainsFunc(label, func(r rune) bool { return r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
