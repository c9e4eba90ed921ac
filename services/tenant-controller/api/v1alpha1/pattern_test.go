package v1alpha1_test

import (
	"os"
	"strings"
	"testing"

	"github.com/connectedbbq/platform/pkg/adminapi"
)

// The CRD refuses the identity provider aliases the admin API refuses: the same pattern.
func TestIdentityProviderPatternIsTheAdminAPIs(t *testing.T) {
	crd, err := os.ReadFile("../../../../deploy/helm/connected-bbq/crds/platform.connectedbbq.dev_tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(crd), "pattern: "+adminapi.IdentityProviderAlias+"\n") {
		t.Errorf("the Tenant CRD has no identityProvider pattern %s (make tenant-controller-generate)", adminapi.IdentityProviderAlias)
	}
}
