package formats

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"reflect"
	"time"

	"context"
	"encoding/json"
	"errors"
	"github.com/hamba/avro/v2"
	"strings"
	"testing"

	"github.com/regnotify/regnotify/events"
)

// referenceJSON is how the json format decoded before the single-pass walk:
// encoding/json into a generic tree, then the pointers looked up in it. The
// walk must agree with it on every record, except where encoding/json
// refuses a well-formed number that overflows float64 (ok is false then).
func referenceJSON(x *extractor, topic string, value []byte) (e events.Event, err error, ok bool) {
	if err := checkText(value); err != nil {
		return events.Event{}, err, true
	}
	var doc any
	if err := json.Unmarshal(value, &doc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return events.Event{}, nil, false
		}
		return events.Event{}, &events.Error{Rule: "malformed JSON: " + err.Error()}, true
	}
	e, err = x.eventFromDoc(topic, doc)
	return e, err, true
}

// sameOutcome fails unless the walk and the reference both accepted the same
// event, or both rejected the record for the same field and source (both
// for malformed JSON, when either says so).
func sameOutcome(t *testing.T, value []byte, got events.Event, gotErr error, want events.Event, wantErr error) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("record %q: walk says (%+v, %v), encoding/json says (%+v, %v)", value, got, gotErr, want, wantErr)
	}
	if gotErr == nil {
		if got != want {
			t.Fatalf("record %q: walk decoded %+v, encoding/json %+v", value, got, want)
		}
		return
	}
	var g, w *events.Error
	if !errors.As(gotErr, &g) || !errors.As(wantErr, &w) {
		t.Fatalf("record %q: errors %v, %v, want *events.Error", value, gotErr, wantErr)
	}
	gm, wm := strings.HasPrefix(g.Rule, "malformed JSON"), strings.HasPrefix(w.Rule, "malformed JSON")
	if gm != wm || g.Field != w.Field || g.Source != w.Source {
		t.Fatalf("record %q:\n walk error          %v\n encoding/json error %v", value, gotErr, wantErr)
	}
}

// FuzzWalkMatchesEncodingJSON: the json format's walk finds the same values
// as encoding/json plus Pointer.Lookup, and accepts and rejects the same
// documents: duplicate keys (the last wins), escapes in keys and values,
// unpaired surrogates (U+FFFD), arrays by index, nesting.
func FuzzWalkMatchesEncodingJSON(f *testing.F) {
	spec := Spec{Format: FormatJSON, Fields: map[string]string{"uid": "/data/u~1id", "siteUid": "/data/list/1", "cid": "/data"}}
	d, err := New(spec, nil)
	if err != nil {
		f.Fatal(err)
	}
	x := d.(*jsonDecoder).x
	for _, s := range []string{
		`{"eventId":"e","type":"account.linked","data":{"u/id":"u","list":["a","s"]}}`,
		`{"eventId":"e","type":"user.registered","data":{"u/id":"u"},"data":{"u/id":"v"}}`,
		`{"eventId":"e","type":"user.registered","data":{"u/id":"u"},"data":5}`,
		`{"eventId":"e\u00e9","type":"user.registered","data":{"u\/id":"\ud83d\ude00","u/id":"\ud800x"}}`,
		`{"eventId":"e","type":"user.registered","occurredAt":"2026-11-26T10:00:00+01:00","data":{"u/id":"u","list":[{},"s"]}}`,
		`{"eventId":"e","type":"user.registered","data":{"u/id":"u","list":[1,[2],{"a":[true,false,null]},-0.5e+3]}}`,
		`{"eventId":"e","type":"user.registered","data":{"u/id":"u"},"x":1e999}`,
		`{"eventId":"e","type":"user.registered","data":"x"}`, ` [1] `, `{"a":01}`, `{"a":"\x"}`, `{"a" 1}`, `{"a":tru}`, `{"eventId":"e",}`,
	} {
		f.Add("events", []byte(s))
	}
	f.Fuzz(func(t *testing.T, topic string, value []byte) {
		want, wantErr, ok := referenceJSON(x, topic, value)
		if !ok {
			t.Skip("encoding/json refuses a number that overflows float64; the walk accepts it")
		}
		got, gotErr := d.Decode(context.Background(), Record{Topic: topic, Value: value})
		sameOutcome(t, value, got, gotErr, want, wantErr)
	})
}

// TestWalkDepth: encoding/json's nesting limit (10000) is kept.
func TestWalkDepth(t *testing.T) {
	d, err := New(Spec{Format: FormatJSON}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		depth   int
		wantErr string
	}{{maxJSONDepth - 1, `"uid"`}, {maxJSONDepth, "exceeded max depth"}} {
		v := `{"eventId":"e","type":"user.registered","x":` + strings.Repeat("[", tt.depth) + strings.Repeat("]", tt.depth) + `}`
		_, err := d.Decode(context.Background(), Record{Topic: "t", Value: []byte(v)})
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("depth %d: error %v, want one containing %q", tt.depth+1, err, tt.wantErr)
		}
		var ref any
		refErr := json.Unmarshal([]byte(v), &ref)
		if (refErr != nil) != strings.Contains(tt.wantErr, "depth") {
			t.Errorf("depth %d: encoding/json says %v, the walk %v", tt.depth+1, refErr, err)
		}
	}
}

// richAvro has a field of every kind before, between and after the pointed
// ones, so that skipping is exercised; the pointers go through a record, a
// nullable string, a union with a record, an array and a map.
const richAvro = `{"type":"record","name":"R","fields":[
  {"name":"b","type":"boolean"},{"name":"i","type":"int"},{"name":"f","type":"float"},{"name":"d","type":"double"},
  {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
  {"name":"x","type":{"type":"fixed","name":"X","size":3}},
  {"name":"arr","type":{"type":"array","items":["null",{"type":"record","name":"Empty","fields":[]}]}},
  {"name":"m","type":{"type":"map","values":"bytes"}},
  {"name":"id","type":"string"},
  {"name":"at","type":["null",{"type":"long","logicalType":"timestamp-micros"}]},
  {"name":"data","type":{"type":"record","name":"D","fields":[
    {"name":"u","type":"string"},{"name":"s","type":["string","null"]},{"name":"n","type":"long"}]}},
  {"name":"u2","type":["null","D"]},
  {"name":"list","type":{"type":"array","items":"string"}},
  {"name":"tags","type":{"type":"map","values":"string"}},
  {"name":"when","type":{"type":"long","logicalType":"timestamp-millis"}}]}`

// FuzzAvroPlanMatchesGeneric: reading a record with the plan accepts and
// rejects the same payloads as hamba/avro's generic decoding plus
// Pointer.Lookup, and finds the same event.
func FuzzAvroPlanMatchesGeneric(f *testing.F) {
	specs := []map[string]string{
		{"eventId": "/id", "uid": "/data/u", "siteUid": "/data/s", "occurredAt": "/when", "cid": "/tags/c"},
		{"eventId": "/list/0", "uid": "/u2/com.x.D/u", "siteUid": "/data/n", "occurredAt": "/at", "type": "/e"},
		{"eventId": "/id", "uid": "/data", "siteUid": "/m/k", "cid": "/x"},
	}
	type pair struct {
		x    *extractor
		d    *confluentDecoder
		plan *avroPlan
		s    avro.Schema
	}
	var pairs []pair
	for _, fields := range specs {
		x, err := newExtractor(Spec{Format: FormatAvro, Type: events.UserRegistered, Fields: fields}, allFields)
		if err != nil {
			f.Fatal(err)
		}
		d := newConfluent(FormatAvro, x, nil)
		c := d.compile(RegisteredSchema{Schema: strings.ReplaceAll(richAvro, `"name":"R"`, `"name":"R","namespace":"com.x"`)})
		if c.invalid != "" || c.avroPlan == nil {
			f.Fatalf("compile: %q, plan %v", c.invalid, c.avroPlan)
		}
		pairs = append(pairs, pair{x, d, c.avroPlan, c.avro})
	}
	good, err := avro.Marshal(pairs[0].s, map[string]any{
		"b": true, "i": 3, "f": float32(1), "d": 2.0, "e": "B", "x": [3]byte{1, 2, 3},
		"arr": []any{nil, map[string]any{"com.x.Empty": map[string]any{}}}, "m": map[string]any{"k": []byte("v")},
		"id": "c-1", "at": map[string]any{"long.timestamp-micros": time.Unix(1, 2000).UTC()},
		"data": map[string]any{"u": "_gid_x", "s": map[string]any{"string": "42"}, "n": int64(5)},
		"u2":   map[string]any{"com.x.D": map[string]any{"u": "u2", "s": nil, "n": int64(1)}},
		"list": []any{"l0"}, "tags": map[string]any{"c": "web"}, "when": time.Unix(1764151200, 0).UTC(),
	})
	if err != nil {
		f.Fatal(err)
	}
	var v fieldValues
	if err := pairs[0].d.decodeAvroPlan(pairs[0].plan, 1, good, &v); err != nil {
		f.Fatalf("good record: %v", err)
	}
	e, err := pairs[0].x.event("t", &v)
	if want := (events.Event{EventID: "c-1", Type: events.UserRegistered, OccurredAt: time.Unix(1764151200, 0).UTC(), UID: "_gid_x", SiteUID: "42", CID: "web"}); err != nil || e != want {
		f.Fatalf("good record: got %+v, %v; want %+v", e, err, want)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{2, 0xfe, 0xff, 0xff, 0xff, 0x0f})
	f.Add(append(good[:len(good):len(good)], 0))
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, p := range pairs {
			var v fieldValues
			var got events.Event
			gotErr := p.d.decodeAvroPlan(p.plan, 1, payload, &v)
			if gotErr == nil {
				got, gotErr = p.x.event("t", &v)
			}
			var want events.Event
			doc, wantErr := decodeAvro(p.d.avro, p.s, 1, payload)
			if wantErr == nil {
				want, wantErr = p.x.eventFromDoc("t", doc)
			}
			sameOutcome(t, payload, got, gotErr, want, wantErr)
		}
	})
}

// FuzzTreeMatchesEncodingJSON: parseJSONTree builds the tree that
// encoding/json with UseNumber builds, and rejects the same documents.
func FuzzTreeMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"id":"c-1","n":[1,-0.5e+3,{"a":null,"a":true}],"s":"\u00e9\ud800\ud83d\ude00\/","e":{},"l":[]}`,
		`  "x"  `, `12`, `{"a":01}`, `{"a":"\x"}`, `{"a" 1}`, `[tru]`, `{"a":1,}`, `[1 2]`, `{"a":"b"} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkText(b) != nil {
			return
		}
		got, gotErr := parseJSONTree(b)
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var want any
		wantErr := d.Decode(&want)
		if wantErr == nil {
			if _, err := d.Token(); err != io.EOF {
				wantErr = errors.New("trailing data")
			}
		}
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: parseJSONTree error %v, encoding/json %v", b, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseJSONTree %#v, encoding/json %#v", b, got, want)
		}
	})
}

// errSkip marks a record the reference cannot judge (see referenceJSON).
var errSkip = errors.New("encoding/json refuses a number that overflows float64")

// parseReference is the generic parse the decoders used before the walk.
func parseReference(b []byte) (any, error) {
	if err := checkText(b); err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, errSkip
		}
		return nil, &events.Error{Rule: "malformed JSON: " + err.Error()}
	}
	return doc, nil
}

// referenceCloudEvents is the cloudevents decoder as it was before the
// walk: the value parsed generically, attributes and data looked up in it.
func referenceCloudEvents(d *ceDecoder, r Record) (events.Event, error) {
	header := func(k string) (string, bool) { v, ok := r.headerBytes(k); return string(v), ok }
	ct, hasCT := header("content-type")
	var (
		a    ceAttrs
		data any
		err  error
	)
	switch {
	case hasCT && strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/cloudevents"):
		a.where = func(name string) string { return "attribute " + name }
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/cloudevents+json" {
			return events.Event{}, &events.Error{Source: "header content-type", Rule: "want application/cloudevents+json"}
		}
		data, err = referenceStructured(&a, r.Value)
	case r.hasHeader("ce_specversion"):
		a.where = func(name string) string { return "header ce_" + name }
		for i, name := range ceNames[:aDataContentType] {
			if v, ok := header("ce_" + name); ok {
				a.set(i, v)
			}
		}
		if ct, ok := header("content-type"); ok {
			if a.set(aDataContentType, ct); !isJSON(ct) {
				return events.Event{}, &events.Error{Source: "header content-type", Rule: "data must be JSON"}
			}
		}
		data, err = parseReference(r.Value)
	default:
		return events.Event{}, &events.Error{Rule: "not a CloudEvent"}
	}
	if err != nil {
		return events.Event{}, err
	}
	e, err := d.attributes(r.Topic, &a)
	if err != nil {
		return events.Event{}, err
	}
	var v fieldValues
	d.x.lookup(data, &v)
	if err := d.x.fill(&v, &e); err != nil {
		return events.Event{}, err
	}
	return e, d.validate(e, &a)
}

func referenceStructured(a *ceAttrs, value []byte) (any, error) {
	doc, err := parseReference(value)
	if err != nil {
		return nil, err
	}
	env, ok := doc.(map[string]any)
	if !ok {
		return nil, &events.Error{Rule: "not a CloudEvent: the record is a JSON " + kindOf(doc)}
	}
	for i, name := range ceNames {
		switch v := env[name].(type) {
		case nil:
		case string:
			a.set(i, v)
		default:
			return nil, &events.Error{Source: a.where(name), Rule: "must be a string, got " + kindOf(v)}
		}
	}
	if a.present[aDataContentType] && !isJSON(a.dataContentType) {
		return nil, &events.Error{Source: "attribute datacontenttype", Rule: "data must be JSON"}
	}
	if b64, ok := env["data_base64"]; ok {
		s, ok := b64.(string)
		if !ok {
			return nil, &events.Error{Source: "attribute data_base64", Rule: "must be a string, got " + kindOf(b64)}
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, &events.Error{Source: "attribute data_base64", Rule: "not valid base64"}
		}
		return parseReference(raw)
	}
	return env["data"], nil
}

// FuzzCloudEventsMatchesReference: both modes decide every record as the
// generic decoding did, and find the same event.
func FuzzCloudEventsMatchesReference(f *testing.F) {
	dec, err := New(Spec{Format: FormatCloudEvents, Types: map[string]string{"u": "user.registered", "a": "account.linked"},
		Fields: map[string]string{"uid": "/u/0", "siteUid": "/s"}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	d := dec.(*ceDecoder)
	f.Add(true, "application/cloudevents+json; charset=utf-8", []byte(`{"specversion":"1.0","id":"i","source":"s","type":"a","time":"2026-11-26T10:00:00Z","data":{"u":["x"],"s":"y"},"data":{"u":["z"],"s":"y"}}`))
	f.Add(true, "application/cloudevents+json", []byte(`{"specversion":"1.0","id":"i","source":"s","type":"a","data_base64":"eyJ1IjpbIngiXSwicyI6InkifQ==","data":{"u":["q"]}}`))
	f.Add(true, "application/cloudevents+json", []byte(`{"specversion":"1.0","id":"i","source":"s","type":"u","datacontenttype":null,"data_base64":null}`))
	f.Add(false, "application/json", []byte(`{"u":["x","y"],"s":"y"}`))
	f.Add(false, "", []byte(`["x"]`))
	f.Fuzz(func(t *testing.T, structured bool, ct string, value []byte) {
		r := Record{Topic: "events", Value: value}
		if ct != "" {
			r.Headers = append(r.Headers, Header{Key: "content-type", Value: []byte(ct)})
		}
		if !structured {
			r.Headers = append(r.Headers, Header{Key: "ce_specversion", Value: []byte("1.0")}, Header{Key: "ce_id", Value: []byte("id-1")},
				Header{Key: "ce_source", Value: []byte("/src")}, Header{Key: "ce_type", Value: []byte("a")})
		}
		want, wantErr := referenceCloudEvents(d, r)
		if errors.Is(wantErr, errSkip) {
			t.Skip(errSkip)
		}
		got, gotErr := d.Decode(context.Background(), r)
		sameOutcome(t, value, got, gotErr, want, wantErr)
	})
}
