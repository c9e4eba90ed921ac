// Command genasyncapi writes proto/asyncapi.yaml, the AsyncAPI 3 document of the bus, from the contract in
// code (events.Kinds) and the payloads' JSON Schemas that buf generates into proto/jsonschema, so that the
// document lists exactly the events the services publish. Run by `make generate`; `make lint` checks drift.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/connectedbbq/platform/pkg/events"
)

func main() {
	proto := flag.String("proto", "proto", "the proto directory (asyncapi.yaml and jsonschema/ are in it)")
	flag.Parse()
	if err := run(*proto); err != nil {
		slog.Error("genasyncapi", "err", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	var msgs []message
	for _, k := range events.Kinds() {
		m, err := newMessage(dir, k)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	var out bytes.Buffer
	if err := doc.Execute(&out, msgs); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	path := filepath.Join(dir, "asyncapi.yaml")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// message is one event of the document.
type message struct {
	Kind        events.Kind
	Name        string // the proto message's short name, unique in the contract
	ID          string // channel, message and operation id (the subject without "events.", camel-cased)
	SchemaFile  string // relative to the document
	Description string // the proto message's comment, from its JSON Schema
	Publisher   string
	Source      string // a JSON Schema keyword and value for the CloudEvent source
}

func newMessage(dir string, k events.Kind) (message, error) {
	file := "jsonschema/" + k.Schema + ".jsonschema.bundle.json"
	desc, err := schemaDescription(filepath.Join(dir, file), k.Schema)
	if err != nil {
		return message{}, err
	}
	m := message{Kind: k, Name: k.Schema[strings.LastIndex(k.Schema, ".")+1:], ID: channelID(k.Subject),
		SchemaFile: file, Description: desc}
	switch {
	case strings.HasPrefix(k.Subject, "events.idp."):
		m.Publisher, m.Source = "idp-hook", `pattern: "^/idp/keycloak/realms/[^/]+$"`
	case strings.HasPrefix(k.Subject, "events.users."):
		m.Publisher, m.Source = "user-service", "const: "+events.UsersSource
	default:
		return message{}, fmt.Errorf("%s: no publisher known for the subject", k.Subject)
	}
	return m, nil
}

// channelID turns events.users.tenant.member_added into usersTenantMemberAdded.
func channelID(subject string) string {
	parts := strings.FieldsFunc(strings.TrimPrefix(subject, "events."), func(r rune) bool { return r == '.' || r == '_' })
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// schemaDescription reads the comment of message name from its generated bundle.
func schemaDescription(path, name string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read schema (run buf generate first): %w", err)
	}
	var bundle struct {
		Defs map[string]struct {
			Description string `json:"description"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		return "", fmt.Errorf("parse %s: %w", path, err)
	}
	def, ok := bundle.Defs[name+".jsonschema.json"]
	if !ok {
		return "", fmt.Errorf("%s: no definition of %s", path, name)
	}
	return strings.Join(strings.Fields(def.Description), " "), nil
}

var doc = template.Must(template.New("asyncapi").Funcs(template.FuncMap{"quote": quote}).Parse(docTemplate))

// quote writes s as a YAML (JSON) string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
