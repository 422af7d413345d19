package formats

import (
	"context"
	"encoding/json"
	"errors"
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
