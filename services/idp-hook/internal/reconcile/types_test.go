package reconcile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
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

// The provider sends exactly the user event types idp-hook maps (its EventFilter names them as EventType.X).
func TestTheProviderSendsEveryMappedType(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "deploy", "keycloak", "provider", "src", "main", "java",
		"com", "connectedbbq", "keycloak", "webhook", "EventFilter.java"))
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, m := range regexp.MustCompile(`EventType\.([A-Z_]+)`).FindAllStringSubmatch(string(b), -1) {
		sent = append(sent, m[1])
	}
	mapped := kcevent.UserEventTypes()
	slices.Sort(sent)
	slices.Sort(mapped)
	if !slices.Equal(slices.Compact(sent), mapped) {
		t.Fatalf("provider sends %v\nidp-hook maps  %v", sent, mapped)
	}
}
