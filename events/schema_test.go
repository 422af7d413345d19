package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/regnotify/regnotify/events/eventstest"
)

// notExpressible are the bad sample records a JSON Schema cannot reject:
// what is wrong with them is the record's bytes (size, encoding), its
// syntax tree (duplicate keys, depth), a relation between fields, or the
// topic. The decoder rejects them; the schema's description names these
// checks.
var notExpressible = map[string]bool{
	"1 MB value": true, "one byte over the limit": true,
	"invalid UTF-8 byte": true, "truncated UTF-8 sequence": true, "unpaired surrogate in uid": true,
	"nesting 33 levels": true,
	"duplicate uid":     true, "duplicate unknown key": true,
	"type disagrees with topic": true, "no type and untyped topic": true,
	"siteUid missing on account.linked": true, "siteUid null on account.linked": true,
	"siteUid empty on account.linked": true, "siteUid equal to uid": true,
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("event.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// schemaAccepts validates value as a producer would: a value that is not
// JSON is rejected before any schema applies.
func schemaAccepts(s *jsonschema.Schema, value []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return err
	}
	if !json.Valid(value) {
		return errors.New("not one JSON value")
	}
	return s.Validate(v)
}

func TestSchemaAcceptsValidRecords(t *testing.T) {
	s := compileSchema(t)
	for _, r := range eventstest.ValidRecords() {
		if err := schemaAccepts(s, r.Value); err != nil {
			t.Errorf("%s: schema rejects a valid event: %v", r.Name, err)
		}
	}
}

func TestSchemaRejectsBadRecords(t *testing.T) {
	s := compileSchema(t)
	for _, b := range eventstest.BadRecords() {
		err := schemaAccepts(s, b.Value)
		switch {
		case notExpressible[b.Name] && err != nil:
			t.Errorf("%s: listed as not expressible, but the schema rejects it (%v): remove it from the list", b.Name, err)
		case !notExpressible[b.Name] && err == nil:
			t.Errorf("%s: schema accepts a bad record (the decoder says %s: %s)", b.Name, b.WantField, b.WantText)
		}
	}
}
