// Package openapitest loads an OpenAPI document for a contract test. It is the home of the OpenAPI
// library (kin-openapi) in the workspace, so that no shipped module requires it for its tests.
package openapitest

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// Load reads the document at path and fails t unless it is a valid OpenAPI document.
func Load(t testing.TB, path string) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		t.Fatalf("load the OpenAPI document %s: %v", path, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document %s is invalid: %v", path, err)
	}
	return doc
}
