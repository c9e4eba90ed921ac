package adminapi_test

import (
	"encoding/json"
	"testing"

	"github.com/connectedbbq/platform/pkg/adminapi"
)

func TestTenantSpecWritesListsNeverNull(t *testing.T) {
	tests := []struct {
		name string
		in   adminapi.TenantSpec
		want string
	}{
		{"absent lists", adminapi.TenantSpec{DisplayName: "Acme"},
			`{"displayName":"Acme","emailDomains":[],"admins":[],"suspended":false}`},
		{"given lists", adminapi.TenantSpec{DisplayName: "Acme", EmailDomains: []string{"acme.test"}, Admins: []string{"a@acme.test"}, Suspended: true},
			`{"displayName":"Acme","emailDomains":["acme.test"],"admins":["a@acme.test"],"suspended":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			var back adminapi.TenantSpec
			if err := json.Unmarshal(got, &back); err != nil || back.DisplayName != tt.in.DisplayName || back.Suspended != tt.in.Suspended {
				t.Errorf("round trip: %+v, %v", back, err)
			}
		})
	}
}
