package writeback

import (
	"errors"
	"slices"
	"testing"

	"github.com/connectedbbq/platform/pkg/keycloak"
)

func TestIdentityProviderChanges(t *testing.T) {
	tests := []struct {
		name       string
		linked     []string
		want       string
		wantUnlink []string
		wantLink   bool
	}{
		{"none linked, none wanted", nil, "", nil, false},
		{"none linked, one wanted", nil, "corp", nil, true},
		{"the wanted one linked", []string{"corp"}, "corp", nil, false},
		{"another linked", []string{"old"}, "corp", []string{"old"}, true},
		{"cleared", []string{"corp"}, "", []string{"corp"}, false},
		{"the wanted one and others linked", []string{"a", "corp", "b"}, "corp", []string{"a", "b"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unlink, link := identityProviderChanges(tt.linked, tt.want)
			if !slices.Equal(unlink, tt.wantUnlink) || link != tt.wantLink {
				t.Errorf("identityProviderChanges(%v, %q) = %v, %v; want %v, %v", tt.linked, tt.want, unlink, link, tt.wantUnlink, tt.wantLink)
			}
		})
	}
}

func TestSameDomains(t *testing.T) {
	d := func(names ...string) []keycloak.OrganizationDomain {
		var out []keycloak.OrganizationDomain
		for _, n := range names {
			out = append(out, keycloak.OrganizationDomain{Name: n})
		}
		return out
	}
	tests := []struct {
		name string
		have []keycloak.OrganizationDomain
		want []string
		same bool
	}{
		{"both empty", nil, nil, true},
		{"equal", d("corp.example"), []string{"corp.example"}, true},
		{"another order", d("b.example", "a.example"), []string{"a.example", "b.example"}, true},
		{"Keycloak's in upper case", d("Corp.Example"), []string{"corp.example"}, true},
		{"one added", d("a.example"), []string{"a.example", "b.example"}, false},
		{"one removed", d("a.example", "b.example"), []string{"a.example"}, false},
		{"all cleared", d("a.example"), nil, false},
		{"another one", d("a.example"), []string{"b.example"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameDomains(tt.have, tt.want); got != tt.same {
				t.Errorf("sameDomains(%v, %v) = %v; want %v", tt.have, tt.want, got, tt.same)
			}
		})
	}
}

func TestRetryDomainTaken(t *testing.T) {
	taken := &keycloak.APIError{Method: "PUT", Path: "/organizations/x", Status: 400,
		Body: `{"errorMessage":"Domain corp.example is already linked to organization Corp Inc in realm bbq"}`}
	tests := []struct {
		name  string
		err   error
		retry bool // errDomainTaken, which classify retries
	}{
		{"none", nil, false},
		{"the domain is another organization's", taken, true},
		{"another 400", &keycloak.APIError{Status: 400, Body: `{"errorMessage":"Identity provider not found with the given alias"}`}, false},
		{"a 409 with the same words", &keycloak.APIError{Status: 409, Body: taken.Body}, false},
		{"not Keycloak's", errors.New("is already linked to organization"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := retryDomainTaken(tt.err)
			if got := errors.Is(err, errDomainTaken); got != tt.retry {
				t.Fatalf("retryDomainTaken(%v) = %v; want errDomainTaken %v", tt.err, err, tt.retry)
			}
			if v, _ := classify(err); tt.retry && v != retry {
				t.Errorf("classify(%v) = %v; want retry", err, v)
			}
		})
	}
}
