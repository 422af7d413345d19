package formats

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// quickSchemas are schemas the quick check handles, in several drafts.
func quickSchemas() []string {
	return []string{
		`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","required":["id","data"],
	  "properties":{"id":{"type":"string"},"time":{"type":"string","title":"t"},
	    "data":{"type":"object","required":["gigyaUid"],"properties":{
	      "gigyaUid":{"type":"string","pattern":"^_gid_"},"customerNo":{"type":["string","null"]}}}}}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
	  "properties":{"a":{"type":"string","minLength":2,"maxLength":3},"b":{"type":["boolean","number","array"]},"c":true}}`,
		`{"$schema":"http://json-schema.org/draft-04/schema#","additionalProperties":{"type":"string","pattern":"é"},
	  "properties":{"n":{}}}`,
		`{"description":"no $schema: the library's default draft"}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"v":{"type":"integer"},"w":{"type":["integer","string"]}}}`,
	}
}

func compileQuick(t testing.TB, text string) (*quickSchema, func(any) error) {
	t.Helper()
	s, err := compileJSONSchema(text)
	if err != nil {
		t.Fatalf("compileJSONSchema(%s): %v", text, err)
	}
	q := newQuickSchema(s, 0)
	if q == nil {
		t.Fatalf("newQuickSchema(%s) = nil, want a quick check", text)
	}
	return q, s.Validate
}

// checkQuick asserts the quick check agrees with the library on record b:
// it never accepts what the library rejects and, for the keywords it
// handles, accepts everything the library accepts.
func checkQuick(t *testing.T, schema string, q *quickSchema, validate func(any) error, b []byte) {
	t.Helper()
	doc, err := parseJSONNumbers(b, nil)
	if err != nil {
		return
	}
	got, want := q.valid(doc), validate(doc) == nil
	// The one case left to the library: an integer written as 1.0 or 1e2.
	if !got && want && strings.Contains(schema, `"integer"`) && bytes.ContainsAny(b, ".eE") {
		return
	}
	if got != want {
		t.Fatalf("schema %s, record %s: quick valid = %v, library valid = %v", schema, b, got, want)
	}
}

func TestQuickSchemaMatchesLibrary(t *testing.T) {
	records := []string{
		`{"id":"c-1","data":{"gigyaUid":"_gid_x","customerNo":"42"}}`, `{"id":"c-1","data":{"gigyaUid":"_gid_x","customerNo":null}}`,
		`{"id":"c-1","data":{"gigyaUid":"x"}}`, `{"id":5,"data":{"gigyaUid":"_gid_x"}}`, `{"id":"c-1"}`, `{"id":"c","data":{"gigyaUid":"_gid_","customerNo":1}}`,
		`{"id":"c","time":1,"data":{"gigyaUid":"_gid_"}}`, `[]`, `"s"`, `null`, `1.5`, `true`,
		`{"a":"ab"}`, `{"a":"a"}`, `{"a":"abcd"}`, `{"a":"éé"}`, `{"a":"ééé","b":[1],"c":{}}`, `{"b":"x"}`, `{"b":false}`, `{"b":-1e3}`,
		`{"d":1}`, `{"n":1,"x":"é"}`, `{"n":1,"x":"e"}`, `{"x":3}`, `{}`,
		`{"v":3}`, `{"v":-30}`, `{"v":1.0}`, `{"v":1e2}`, `{"v":1.5e0}`, `{"v":3.5}`, `{"v":"3"}`, `{"w":"3"}`, `{"w":-0}`, `{"w":true}`, `{"v":null}`,
	}
	for _, s := range quickSchemas() {
		q, validate := compileQuick(t, s)
		for _, r := range records {
			checkQuick(t, s, q, validate, []byte(r))
		}
	}
}

func TestQuickSchemaDeclines(t *testing.T) {
	for _, s := range []string{
		`{"minimum":1}`, `{"allOf":[{"type":"string"}]}`, `{"$defs":{"a":{"type":"string"}},"$ref":"#/$defs/a"}`,
		`false`, `{"properties":{"a":false}}`, `{"enum":["a"]}`, `{"const":1}`, `{"patternProperties":{"^a":{}}}`,
		`{"additionalProperties":{"minimum":1}}`, `{"unevaluatedProperties":false}`, `{"items":{"type":"string"}}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","format":"email"}`, `{"minProperties":1}`, `{"not":{}}`,
	} {
		sch, err := compileJSONSchema(s)
		if err != nil {
			t.Fatalf("compileJSONSchema(%s): %v", s, err)
		}
		if q := newQuickSchema(sch, 0); q != nil {
			t.Errorf("newQuickSchema(%s) = %+v, want nil (a keyword it does not check)", s, q)
		}
	}
}

// FuzzQuickSchema: the quick check and the library agree on every record
// for every schema in quickSchemas.
func FuzzQuickSchema(f *testing.F) {
	schemas := quickSchemas()
	quick := make([]*quickSchema, len(schemas))
	validate := make([]func(any) error, len(schemas))
	for i, s := range schemas {
		quick[i], validate[i] = compileQuick(f, s)
	}
	for _, s := range []string{`{"id":"c-1","data":{"gigyaUid":"_gid_x","customerNo":"42"}}`, `{"a":"ab","b":[1],"n":{}}`, `{"x":"é"}`, `[1]`, `{"v":-3,"w":2.0}`} {
		for i := range schemas {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, i uint8, b []byte) {
		if checkText(b) != nil {
			return
		}
		n := int(i) % len(schemas)
		checkQuick(t, schemas[n], quick[n], validate[n], b)
	})
}

// TestTreeMapsReuse: trees parsed from recycled maps are the trees
// parseJSONTree builds, with nothing left over from the earlier records.
func TestTreeMapsReuse(t *testing.T) {
	maps := &treeMaps{}
	docs := []string{
		`{"id":"c-1","data":{"gigyaUid":"_gid_x","customerNo":"42","n":[{"a":1},{"b":null}]}}`,
		`{"x":{}}`, `{"id":"c-2","data":{"gigyaUid":"_gid_y"}}`, `[{"a":{"b":{}}},{}]`, `{}`, `"s"`,
		`{"id":"c-3","data":{"gigyaUid":"_gid_z","customerNo":"43","visits":3}}`,
	}
	for round := range 2 {
		for _, s := range docs {
			free := len(maps.free)
			got, err := parseJSONTreeReusing([]byte(s), maps)
			if err != nil {
				t.Fatalf("parseJSONTreeReusing(%s): %v", s, err)
			}
			want, _ := parseJSONTree([]byte(s))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d, %s: reusing maps got %#v, want %#v", round, s, got, want)
			}
			if round == 1 && strings.HasPrefix(s, "{") && len(maps.free) >= free {
				t.Errorf("round %d, %s: free maps %d before, %d after: want some reused", round, s, free, len(maps.free))
			}
			maps.put(got)
		}
	}
	if len(maps.free) > maxTreeMaps {
		t.Errorf("kept %d maps, want at most %d", len(maps.free), maxTreeMaps)
	}
	big := make(map[string]any, treeMapSize+1)
	for i := range treeMapSize + 1 {
		big[strconv.Itoa(i)] = nil
	}
	n := len(maps.free)
	maps.put(big)
	if len(maps.free) != n {
		t.Errorf("kept a map of %d entries, want maps of at most %d", len(big), treeMapSize)
	}
}
