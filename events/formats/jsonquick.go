package formats

import (
	"encoding/json"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// quickSchema is a compiled JSON Schema that uses only the commonest
// keywords (type, required, properties,
// additionalProperties, pattern, minLength, maxLength, annotations): it
// checks a record without the allocations of the general validator. It
// only ever says "valid for sure"; a record it does not accept goes to
// jsonschema.Schema.Validate, which is the authority and words the error.
type quickSchema struct {
	types    uint8 // bits of quickType; 0: any type
	required []string
	props    map[string]*quickSchema
	// closed: additionalProperties is false; extra applies to the
	// properties not in props when it is non-nil.
	closed         bool
	extra          *quickSchema
	pattern        jsonschema.Regexp
	minLen, maxLen int // -1: no bound
}

const (
	quickNull uint8 = 1 << iota
	quickBool
	quickNumber
	quickString
	quickArray
	quickObject
	quickInteger
)

// quickAllowed reports whether quickSchema handles the exported
// jsonschema.Schema field name, or the field does not affect validation
// without references; any other field set makes newQuickSchema give up,
// including fields a later library version adds.
func quickAllowed(name string) bool {
	switch name {
	case "DraftVersion", "Location", "ID", "Anchor", "DynamicAnchor", "RecursiveAnchor", "Bool",
		"Types", "Required", "Properties", "AdditionalProperties", "Pattern", "MinLength", "MaxLength",
		"Title", "Description", "Default", "Comment", "ReadOnly", "WriteOnly", "Examples", "Deprecated":
		return true
	}
	return false
}

// quickType is the bit of a JSON Schema type name; 0 for unknown names.
func quickType(name string) uint8 {
	switch name {
	case "null":
		return quickNull
	case "boolean":
		return quickBool
	case "number":
		return quickNumber
	case "string":
		return quickString
	case "array":
		return quickArray
	case "object":
		return quickObject
	case "integer":
		return quickInteger
	}
	return 0
}

// newQuickSchema compiles s, or returns nil when s uses a keyword
// quickSchema does not check (a $ref, a false schema, minimum, ...).
func newQuickSchema(s *jsonschema.Schema, depth int) *quickSchema {
	if s == nil || depth > maxJSONDepth || !quickFieldsOnly(s) || (s.Bool != nil && !*s.Bool) {
		return nil
	}
	q := &quickSchema{required: s.Required, pattern: s.Pattern, minLen: -1, maxLen: -1}
	if s.MinLength != nil {
		q.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		q.maxLen = *s.MaxLength
	}
	if s.Types != nil && !s.Types.IsEmpty() {
		for _, t := range s.Types.ToStrings() {
			bit := quickType(t)
			if bit == 0 {
				return nil
			}
			q.types |= bit
		}
	}
	if len(s.Properties) > 0 {
		q.props = make(map[string]*quickSchema, len(s.Properties))
		for name, ps := range s.Properties {
			if q.props[name] = newQuickSchema(ps, depth+1); q.props[name] == nil {
				return nil
			}
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		q.closed = !a
	case *jsonschema.Schema:
		if q.extra = newQuickSchema(a, depth+1); q.extra == nil {
			return nil
		}
	default:
		return nil
	}
	return q
}

// quickFieldsOnly reports whether every exported field of s outside
// quickAllowed is zero.
func quickFieldsOnly(s *jsonschema.Schema) bool {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && !quickAllowed(f.Name) && !v.Field(i).IsZero() {
			return false
		}
	}
	return true
}

// valid reports whether v (a parseJSONTree value) certainly satisfies the
// schema; false means "ask the library", not "invalid".
func (q *quickSchema) valid(v any) bool {
	var t uint8
	switch v := v.(type) {
	case nil:
		t = quickNull
	case bool:
		t = quickBool
	case json.Number:
		t = quickNumber
	case []any:
		t = quickArray
	case string:
		t = quickString
		if !q.validString(v) {
			return false
		}
	case map[string]any:
		t = quickObject
		if !q.validObject(v) {
			return false
		}
	default:
		return false
	}
	return q.types == 0 || q.types&t != 0 ||
		(t == quickNumber && q.types&quickInteger != 0 && digitsOnly(v.(json.Number)))
}

// digitsOnly reports whether n is written as an integer ("-12"): the
// library counts 1.0 and 1e2 as integers too, but those go to it.
func digitsOnly(n json.Number) bool {
	s := strings.TrimPrefix(string(n), "-")
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (q *quickSchema) validString(s string) bool {
	if q.minLen >= 0 || q.maxLen >= 0 {
		n := utf8.RuneCountInString(s)
		if (q.minLen >= 0 && n < q.minLen) || (q.maxLen >= 0 && n > q.maxLen) {
			return false
		}
	}
	return q.pattern == nil || q.pattern.MatchString(s)
}

func (q *quickSchema) validObject(obj map[string]any) bool {
	for _, name := range q.required {
		if _, ok := obj[name]; !ok {
			return false
		}
	}
	if !q.closed && q.extra == nil {
		for name, ps := range q.props {
			if pv, ok := obj[name]; ok && !ps.valid(pv) {
				return false
			}
		}
		return true
	}
	for name, pv := range obj {
		ps := q.props[name]
		switch {
		case ps != nil:
		case q.closed:
			return false
		default:
			ps = q.extra
		}
		if !ps.valid(pv) {
			return false
		}
	}
	return true
}
