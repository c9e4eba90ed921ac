package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/connectedbbq/platform/pkg/adminapi"
	"github.com/connectedbbq/platform/services/user-service/internal/store"
	"github.com/connectedbbq/platform/testing/openapitest"
)

// The contract: api/admin-openapi.yaml, pkg/adminapi and this package's checks agree. A body the document
// accepts passes readPut and a body it refuses is refused by readPut, and every answer fits the document.

const tenantPath = "/admin/v1/tenants/{id}"

func loadDocument(t *testing.T) *openapi3.T {
	t.Helper()
	return openapitest.Load(t, "../../api/admin-openapi.yaml")
}

func TestDocumentDescribesTenantSpec(t *testing.T) {
	doc := loadDocument(t)
	if got := doc.Paths.Find(tenantPath); got == nil || adminapi.TenantsPath+"{id}" != tenantPath {
		t.Fatalf("the document has no %s (adminapi.TenantsPath is %q)", tenantPath, adminapi.TenantsPath)
	}
	spec := doc.Components.Schemas["TenantSpec"].Value
	if got, want := slices.Sorted(maps.Keys(spec.Properties)), jsonFields(reflect.TypeFor[adminapi.TenantSpec]()); !slices.Equal(got, want) {
		t.Errorf("TenantSpec properties: document %v, Go %v", got, want)
	}
	stored := doc.Components.Schemas["Tenant"].Value
	if got, want := slices.Sorted(maps.Keys(stored.Properties)), jsonFields(reflect.TypeFor[store.Tenant]()); !slices.Equal(got, want) {
		t.Errorf("Tenant properties: document %v, Go (store.Tenant) %v", got, want)
	}
}

func TestPutBodiesAgreeWithTheDocument(t *testing.T) {
	doc := loadDocument(t)
	marshal := func(s adminapi.TenantSpec) string {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name, id, body string
		status         int // readPut's refusal, 0 when accepted
	}{
		{"what the controller sends, lists absent", "acme", marshal(adminapi.TenantSpec{DisplayName: "Acme"}), 0},
		{"what the controller sends, all fields", "acme-eu", marshal(adminapi.TenantSpec{DisplayName: "  Acme EU ",
			EmailDomains: []string{"acme.test", "EU.Acme.test"}, Admins: []string{"ops@acme.test"}, Suspended: true,
			IdentityProvider: "acme-sso"}), 0},
		{"an identity provider alias with dots and underscores", "acme", `{"displayName":"Acme","identityProvider":"Acme_SSO.eu-1"}`, 0},
		{"an empty identity provider", "acme", `{"displayName":"Acme","identityProvider":""}`, 0},
		{"only a name", "a1", `{"displayName":"Acme"}`, 0},
		{"id not a DNS label", "Acme_1", `{"displayName":"Acme"}`, http.StatusBadRequest},
		{"unknown field", "acme", `{"displayName":"Acme","owner":"x"}`, http.StatusBadRequest},
		{"not JSON", "acme", `{"displayName":`, http.StatusBadRequest},
		{"wrong type", "acme", `{"displayName":"Acme","suspended":"yes"}`, http.StatusBadRequest},
		{"no name", "acme", `{"emailDomains":[]}`, http.StatusUnprocessableEntity},
		{"blank name", "acme", `{"displayName":"   "}`, http.StatusUnprocessableEntity},
		{"name too long", "acme", marshal(adminapi.TenantSpec{DisplayName: strings.Repeat("n", 201)}), http.StatusUnprocessableEntity},
		{"not a domain", "acme", `{"displayName":"Acme","emailDomains":["acme"]}`, http.StatusUnprocessableEntity},
		{"not an email", "acme", `{"displayName":"Acme","admins":["ops.acme.test"]}`, http.StatusUnprocessableEntity},
		{"an identity provider alias with a space", "acme", `{"displayName":"Acme","identityProvider":"acme sso"}`, http.StatusUnprocessableEntity},
		{"an identity provider alias starting with '-'", "acme", `{"displayName":"Acme","identityProvider":"-acme"}`, http.StatusUnprocessableEntity},
		{"an identity provider alias too long", "acme", marshal(adminapi.TenantSpec{DisplayName: "Acme", IdentityProvider: strings.Repeat("a", 101)}), http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validationInput(doc, http.MethodPut, tt.id, tt.body)
			docErr := openapi3filter.ValidateRequest(context.Background(), in)

			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPut, adminapi.TenantsPath+tt.id, strings.NewReader(tt.body))
			req.SetPathValue("id", tt.id)
			_, _, err := readPut(rec, req)
			status := 0
			if rej := (rejection{}); errors.As(err, &rej) {
				status = rej.status
			}
			if status != tt.status {
				t.Fatalf("readPut: status %d (%v), want %d", status, err, tt.status)
			}
			if (docErr == nil) != (status == 0) {
				t.Fatalf("the document says %v, readPut %v", docErr, err)
			}
			if status == 0 {
				checkAnswer(t, in, http.StatusCreated, storedTenant(t, tt.id, tt.body))
				return
			}
			writeError(rec, status, err.Error())
			checkAnswer(t, in, rec.Code, rec.Body.Bytes())
		})
	}
}

func TestOtherAnswersFitTheDocument(t *testing.T) {
	doc := loadDocument(t)
	tests := []struct {
		method string
		status int
	}{
		{http.MethodGet, http.StatusNotFound},
		{http.MethodGet, http.StatusUnauthorized},
		{http.MethodDelete, http.StatusConflict},
		{http.MethodDelete, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		writeError(rec, tt.status, "detail")
		checkAnswer(t, validationInput(doc, tt.method, "acme", ""), rec.Code, rec.Body.Bytes())
	}
	del := validationInput(doc, http.MethodDelete, "acme", "")
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: del, Status: http.StatusNoContent, Header: http.Header{}, Body: io.NopCloser(&bytes.Buffer{}),
	}); err != nil {
		t.Errorf("DELETE 204: %v", err)
	}
}

// storedTenant is the JSON answer for an accepted body, as store.Tenant carries it.
func storedTenant(t *testing.T, id, body string) []byte {
	var spec adminapi.TenantSpec
	if err := json.Unmarshal([]byte(body), &spec); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(store.Tenant{ID: id, DisplayName: strings.TrimSpace(spec.DisplayName), EmailDomains: nonNil(spec.EmailDomains),
		Admins: nonNil(spec.Admins), Suspended: spec.Suspended, IdentityProvider: spec.IdentityProvider, Kind: "declared", UpdatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkAnswer(t *testing.T, in *openapi3filter.RequestValidationInput, status int, body []byte) {
	t.Helper()
	ct := "application/json"
	if status >= 400 {
		ct = "application/problem+json"
	}
	err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: http.Header{"Content-Type": {ct}}, Body: io.NopCloser(bytes.NewReader(body)),
	})
	if err != nil {
		t.Errorf("%s %d %s does not fit the document: %v", in.Request.Method, status, body, err)
	}
}

func validationInput(doc *openapi3.T, method, id, body string) *openapi3filter.RequestValidationInput {
	req := httptest.NewRequest(method, adminapi.TenantsPath+id, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer token")
	item := doc.Paths.Find(tenantPath)
	return &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: map[string]string{"id": id},
		Route:      &routers.Route{Spec: doc, Path: tenantPath, PathItem: item, Method: method, Operation: item.GetOperation(method)},
		Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
}

// jsonFields lists the JSON names of a struct's fields, sorted.
func jsonFields(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		names = append(names, strings.Split(t.Field(i).Tag.Get("json"), ",")[0])
	}
	slices.Sort(names)
	return names
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
