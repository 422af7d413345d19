package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/internal/jsontext"
)

// allFields is every field; dataFields those a cloudevents topic reads
// from data (the others are attributes).
var (
	allFields  = []int{jsontext.EventID, jsontext.Type, jsontext.OccurredAt, jsontext.UID, jsontext.SiteUID, jsontext.CID}
	dataFields = []int{jsontext.UID, jsontext.SiteUID, jsontext.CID}
)

// extractor reads the event fields from a decoded document by pointers.
type extractor struct {
	want events.Type // the configured type, if any
	// ptrs[f] is field f's pointer; used[f] is false for fields not read
	// from the document (not configurable, or configured as "").
	ptrs [jsontext.NumFields]Pointer
	used [jsontext.NumFields]bool
}

// newExtractor builds the extractor of spec for the fields in allowed,
// with the default pointers "/<name>".
func newExtractor(spec Spec, allowed []int) (*extractor, error) {
	x := &extractor{want: spec.Type}
	for _, f := range allowed {
		x.ptrs[f] = Pointer{text: "/" + jsontext.FieldNames[f], tokens: []string{jsontext.FieldNames[f]}}
		x.used[f] = true
	}
	for _, name := range sortedKeys(spec.Fields) {
		f := fieldIndex(name)
		if f < 0 {
			return nil, fmt.Errorf("format spec: fields: unknown field %q; want eventId, uid, siteUid, cid, occurredAt or type", name)
		}
		if !x.used[f] {
			return nil, fmt.Errorf("format spec: fields: %s is not read by pointer in format %q", name, spec.Format)
		}
		text := spec.Fields[name]
		if text == "" {
			if f == jsontext.EventID || f == jsontext.UID {
				return nil, fmt.Errorf("format spec: fields: %s: a required field needs a pointer", name)
			}
			x.used[f] = false
			continue
		}
		p, err := ParsePointer(text)
		if err != nil {
			return nil, fmt.Errorf("format spec: fields: %s: pointer %q: %w", name, text, err)
		}
		x.ptrs[f] = p
	}
	return x, nil
}

func fieldIndex(name string) int {
	for f, n := range jsontext.FieldNames {
		if n == name {
			return f
		}
	}
	return -1
}

// invalid returns the error for field f read from the document.
func (x *extractor) invalid(f int, rule string) *events.Error {
	return &events.Error{Field: jsontext.FieldNames[f], Source: x.ptrs[f].String(), Rule: rule}
}

// value is what a pointer found in a record: the JSON type of the value
// ("" when there is none, then "null", "string", "number", "object", ...,
// or "timestamp" for an Avro timestamp), and the value itself when it is a
// string or a timestamp.
type value struct {
	kind string
	s    string
	t    time.Time
}

// valueOf describes a decoded value that Lookup found (or not).
func valueOf(v any, found bool) value {
	if !found {
		return value{}
	}
	switch v := v.(type) {
	case string:
		return value{kind: "string", s: v}
	case time.Time:
		return value{kind: "timestamp", t: v}
	}
	return value{kind: kindOf(v)}
}

// fieldValues are the values at the fields' pointers in one record.
type fieldValues [jsontext.NumFields]value

// lookup sets v to the used fields' values in a decoded document.
func (x *extractor) lookup(doc any, v *fieldValues) {
	for f := range jsontext.NumFields {
		if x.used[f] {
			v[f] = valueOf(x.ptrs[f].Lookup(doc))
		}
	}
}

// text returns the string at field f's pointer ("" when absent or null);
// anything but a string is an error naming the pointer.
func (x *extractor) text(v *fieldValues, f int) (string, bool, error) {
	if !x.used[f] {
		return "", false, nil
	}
	switch v[f].kind {
	case "":
		return "", false, nil
	case "null":
		return "", true, nil
	case "string":
		return v[f].s, true, nil
	}
	return "", true, x.invalid(f, "must be a string, got "+v[f].kind)
}

// fill reads the data fields of e (uid, siteUid, cid) from v.
func (x *extractor) fill(v *fieldValues, e *events.Event) error {
	uid, present, err := x.text(v, jsontext.UID)
	if err != nil {
		return err
	}
	if uid == "" {
		return x.invalid(jsontext.UID, requiredRule(present))
	}
	e.UID = uid
	if e.SiteUID, _, err = x.text(v, jsontext.SiteUID); err != nil {
		return err
	}
	e.CID, _, err = x.text(v, jsontext.CID)
	return err
}

func requiredRule(present bool) string {
	if present {
		return "required; got null or empty"
	}
	return "required field is missing"
}

// eventFromDoc reads a whole event from a decoded document, for a record of
// topic, and validates it.
func (x *extractor) eventFromDoc(topic string, doc any) (events.Event, error) {
	if _, ok := doc.(map[string]any); !ok {
		return events.Event{}, notObject(kindOf(doc))
	}
	var v fieldValues
	x.lookup(doc, &v)
	return x.event(topic, &v)
}

func notObject(kind string) error {
	return &events.Error{Rule: "not an object: the record is a " + kind}
}

// event builds an event from the fields' values and validates it.
func (x *extractor) event(topic string, v *fieldValues) (events.Event, error) {
	var e events.Event
	id, present, err := x.text(v, jsontext.EventID)
	if err != nil {
		return e, err
	}
	if id == "" {
		return e, x.invalid(jsontext.EventID, requiredRule(present))
	}
	e.EventID = id
	if e.Type, err = x.eventType(topic, v); err != nil {
		return e, err
	}
	if e.OccurredAt, err = x.occurredAt(v); err != nil {
		return e, err
	}
	if err := x.fill(v, &e); err != nil {
		return e, err
	}
	return e, x.validate(e)
}

// eventType resolves the type: the record's type field, which must agree
// with the configured or topic-named type if there is one, else that type.
func (x *extractor) eventType(topic string, v *fieldValues) (events.Type, error) {
	want, named := x.want, x.want != ""
	if !named {
		want, named = events.TypeFromTopic(topic)
	}
	s, _, err := x.text(v, jsontext.Type)
	if err != nil {
		return "", err
	}
	if s == "" {
		if !named {
			return "", x.invalid(jsontext.Type, "required: the topic has no configured type and its name does not name one")
		}
		return want, nil
	}
	t := events.Type(s)
	if t != events.UserRegistered && t != events.AccountLinked {
		return "", x.invalid(jsontext.Type, "unknown type "+jsontext.Excerpt(s)+`; want "user.registered" or "account.linked"`)
	}
	if named && t != want {
		return "", x.invalid(jsontext.Type, fmt.Sprintf("%q does not match the topic's type %q", t, want))
	}
	return t, nil
}

// occurredAt reads an RFC 3339 string or, from Avro's timestamp logical
// types, a time.Time.
func (x *extractor) occurredAt(v *fieldValues) (time.Time, error) {
	if !x.used[jsontext.OccurredAt] {
		return time.Time{}, nil
	}
	switch val := v[jsontext.OccurredAt]; val.kind {
	case "", "null":
		return time.Time{}, nil
	case "string":
		t, err := events.ParseTime(val.s)
		if err != nil {
			return t, x.withSource(jsontext.OccurredAt, err)
		}
		return t, nil
	case "timestamp":
		return val.t.UTC(), nil
	default:
		return time.Time{}, x.invalid(jsontext.OccurredAt, "must be an RFC 3339 string, got "+val.kind)
	}
}

// validate applies the event rules and names the pointer of the field that
// breaks one.
func (x *extractor) validate(e events.Event) error {
	if err := e.Validate(); err != nil {
		var ee *events.Error
		if errors.As(err, &ee) {
			if f := fieldIndex(ee.Field); f >= 0 {
				return x.withSource(f, err)
			}
		}
		return err
	}
	return nil
}

// withSource names field f's pointer in err, an *events.Error, when the
// field is read by pointer. (Only on the error path: errors.As makes its
// target escape.)
func (x *extractor) withSource(f int, err error) error {
	var ee *events.Error
	if errors.As(err, &ee) && x.used[f] {
		ee.Source = x.ptrs[f].String()
	}
	return err
}

// kindOf names the type of a decoded value in words.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64, float32, int, int32, int64:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case []byte:
		return "bytes"
	case time.Time:
		return "timestamp"
	}
	return fmt.Sprintf("%T", v)
}
