// Package personname is the rule a person's name must meet: the one Keycloak's person-name-prohibited-characters
// validator applies to firstName and lastName in the bbq realm's user profile, so that a name the API accepts is
// one the write-back can store in Keycloak.
//
// Keycloak (org.keycloak.userprofile.validator.PersonNameProhibitedCharactersValidator) matches each value
// against the Java pattern ^[^<>&"\v$%!#?§;*~/\\|^=\[\]{}()\p{Cntrl}]+$, where \v is [\n\x0B\f\r\x85\u2028\u2029]
// and \p{Cntrl} is [\x00-\x1F\x7F]. This package refuses the same characters and, in addition, every Unicode
// control character (C1 included), a name longer than MaxLength, and an empty name.
package personname

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLength bounds a name in characters (the realm allows 255 in firstName).
const MaxLength = 100

// Prohibited are the printable characters Keycloak's person-name rule refuses.
const Prohibited = `<>&"$%!#?§;*~/\|^=[]{}()`

// Check says why name (already trimmed) is not a valid person name, or nil.
func Check(name string) error {
	n := utf8.RuneCountInString(name)
	switch {
	case !utf8.ValidString(name):
		return errors.New("name is not valid UTF-8")
	case n == 0:
		return errors.New("name must not be empty")
	case n > MaxLength:
		return fmt.Errorf("name must be at most %d characters", MaxLength)
	case strings.ContainsFunc(name, isBreakOrControl):
		return errors.New("name must not contain control characters or line breaks")
	}
	if i := strings.IndexAny(name, Prohibited); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return fmt.Errorf("name must not contain %q: none of %s is allowed in a name", r, spaced(Prohibited))
	}
	return nil
}

// isBreakOrControl covers Java's \v and \p{Cntrl} (all but U+2028 and U+2029 are Unicode controls).
func isBreakOrControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

func spaced(s string) string {
	return strings.Join(strings.Split(s, ""), " ")
}
