// Package contract checks messages on the bus against proto/asyncapi.yaml, the contract published to consumers
// outside Go: the NATS headers, the CloudEvent envelope and its data against the message's schemas in the
// document (which refer to the JSON Schemas generated from the proto messages), with a JSON-Schema validator
// that knows nothing of our Go types.
package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/nats-io/nats.go"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// Validator holds the document's compiled message schemas, by CloudEvent type.
type Validator struct {
	headers  *jsonschema.Schema
	messages map[string]message // by CloudEvent type
}

type message struct {
	address string
	payload *jsonschema.Schema
}

// ProtoDir is the repository's proto directory (asyncapi.yaml, jsonschema/).
func ProtoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "proto")
}

// New compiles the messages of dir/asyncapi.yaml.
func New(dir string) (*Validator, error) {
	path, err := filepath.Abs(filepath.Join(dir, "asyncapi.yaml"))
	if err != nil {
		return nil, fmt.Errorf("asyncapi path: %w", err)
	}
	doc, raw, err := readDocument(path)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.AssertContent()
	url := "file://" + filepath.ToSlash(path)
	if err := c.AddResource(url, raw); err != nil {
		return nil, fmt.Errorf("add %s: %w", path, err)
	}
	v := &Validator{messages: map[string]message{}}
	if v.headers, err = c.Compile(url + "#/components/schemas/NatsHeaders"); err != nil {
		return nil, fmt.Errorf("compile NatsHeaders: %w", err)
	}
	for id, ch := range doc.Channels {
		for name := range ch.Messages {
			payload, err := c.Compile(url + "#/components/messages/" + name + "/payload")
			if err != nil {
				return nil, fmt.Errorf("compile %s: %w", name, err)
			}
			typ := doc.Components.Messages[name].Title
			if typ == "" {
				return nil, fmt.Errorf("channel %s: message %s has no title (its CloudEvent type)", id, name)
			}
			v.messages[typ] = message{address: ch.Address, payload: payload}
		}
	}
	return v, nil
}

// document is the part of the AsyncAPI document that maps messages to subjects and types.
type document struct {
	Channels map[string]struct {
		Address  string         `json:"address"`
		Messages map[string]any `json:"messages"`
	} `json:"channels"`
	Components struct {
		Messages map[string]struct {
			Title string `json:"title"`
		} `json:"messages"`
	} `json:"components"`
}

func readDocument(path string) (document, any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return document{}, nil, fmt.Errorf("read asyncapi: %w", err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return document{}, nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var doc document
	if err := json.Unmarshal(j, &doc); err != nil {
		return document{}, nil, fmt.Errorf("read %s: %w", path, err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return document{}, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return doc, raw, nil
}

// Types lists the CloudEvent types the document describes.
func (v *Validator) Types() []string {
	out := make([]string, 0, len(v.messages))
	for t := range v.messages {
		out = append(out, t)
	}
	return out
}

// Validate checks one message as a consumer would receive it: its subject is the channel of its CloudEvent
// type, its headers and body match the message's schemas. It returns the CloudEvent type.
func (v *Validator) Validate(subject string, header nats.Header, body []byte) (string, error) {
	h := map[string]any{}
	for k := range header {
		h[k] = header.Get(k)
	}
	if err := v.headers.Validate(h); err != nil {
		return "", fmt.Errorf("%s: headers: %w", subject, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("%s: body is not JSON: %w", subject, err)
	}
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return "", fmt.Errorf("%s: body: %w", subject, err)
	}
	m, ok := v.messages[env.Type]
	if !ok {
		return "", fmt.Errorf("%s: type %q is not in the document", subject, env.Type)
	}
	if m.address != subject {
		return "", fmt.Errorf("%s: a %s belongs on %s", subject, env.Type, m.address)
	}
	if err := m.payload.Validate(inst); err != nil {
		return "", fmt.Errorf("%s: %w", subject, err)
	}
	return env.Type, nil
}
