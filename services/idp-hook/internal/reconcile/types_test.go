package reconcile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/connectedbbq/platform/services/idp-hook/internal/kcevent"
)

// The reconciler can replay only what the realm stores: every type idp-hook maps must be stored.
func TestTheRealmStoresEveryMappedType(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "deploy", "keycloak", "realm", "bbq-realm.json"))
	if err != nil {
		t.Fatal(err)
	}
	var realm struct {
		EnabledEventTypes []string `json:"enabledEventTypes"`
	}
	if err := json.Unmarshal(b, &realm); err != nil {
		t.Fatal(err)
	}
	for _, typ := range kcevent.UserEventTypes() {
		if !slices.Contains(realm.EnabledEventTypes, typ) {
			t.Errorf("%s is mapped but not in the realm's enabledEventTypes", typ)
		}
	}
}
