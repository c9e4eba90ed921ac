package personname

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"Ada Lovelace", true},
		{"Zoë O'Brien-Smith", true},
		{"José María Núñez", true},
		{"Łukasz Żółć", true},
		{"山田 太郎", true},
		{"Jean-Luc Picard, Jr.", true},
		{"Ada @ home", true},
		{"Ada_99 + co:", true},
		{strings.Repeat("a", MaxLength), true},
		{"", false},
		{strings.Repeat("a", MaxLength+1), false},
		{"Ada <script>", false},
		{"Tom & Jerry", false},
		{`Ada "the first"`, false},
		{"Ada $", false},
		{"100%", false},
		{"Hi!", false},
		{"#1", false},
		{"Who?", false},
		{"§ 5", false},
		{"a;b", false},
		{"a*b", false},
		{"~Ada", false},
		{"Ada/Bob", false},
		{`Ada\Bob`, false},
		{"Ada|Bob", false},
		{"Ada^2", false},
		{"a=b", false},
		{"[Ada]", false},
		{"{Ada}", false},
		{"Ada (Bob)", false},
		{"Ada\nBob", false},
		{"Ada\tBob", false},
		{"Ada\x0bBob", false},
		{"Ada\u0085Bob", false},
		{"Ada\u2028Bob", false},
		{"Ada\u2029Bob", false},
		{"Ada\x7fBob", false},
		{"Ada\x00", false},
		{"\xff", false},
	} {
		err := Check(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestMessageNamesTheCharacter(t *testing.T) {
	err := Check("Tom & Jerry")
	if err == nil || !strings.Contains(err.Error(), `'&'`) || !strings.Contains(err.Error(), "< > &") {
		t.Fatalf("message: %v", err)
	}
}
