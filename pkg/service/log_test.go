package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/connectedbbq/platform/pkg/service"
	"github.com/connectedbbq/platform/pkg/tracing"
)

func TestEveryLineCarriesServiceVersionAndTheTraceOfItsContext(t *testing.T) {
	var buf bytes.Buffer
	log, err := service.NewLogger(&buf, "info", "idp-hook", "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	ctx := tracing.WithTraceParent(context.Background(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	log.With("endpoint", "events").WarnContext(ctx, "served", "error", errors.New("boom"))
	log.Info("no request")
	log.Debug("below the level")
	dec := json.NewDecoder(&buf)
	var lines []map[string]any
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	first := lines[0]
	for k, want := range map[string]any{"service": "idp-hook", "version": "v1.2.3", "err": "boom", "endpoint": "events",
		"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"} {
		if first[k] != want {
			t.Errorf("%s = %v, want %v (line %v)", k, first[k], want, first)
		}
	}
	if _, ok := first["error"]; ok {
		t.Errorf("an error under \"error\": %v", first)
	}
	if _, ok := lines[1]["trace_id"]; ok || lines[1]["service"] != "idp-hook" {
		t.Errorf("line without a span: %v", lines[1])
	}
}

func TestBadLevel(t *testing.T) {
	if _, err := service.NewLogger(&bytes.Buffer{}, "loud", "x", "v"); err == nil {
		t.Fatal("no error for LOG_LEVEL=loud")
	}
}
