package formats

import (
	"context"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/internal/jsontext"
)

// jsonDecoder is the json format: any JSON object, fields by pointers,
// found in one pass over the record (see jsonWalk).
type jsonDecoder struct {
	x     *extractor
	plan  *jsonPlan
	slots fieldSlots
}

func newJSONDecoder(x *extractor) *jsonDecoder {
	d := &jsonDecoder{x: x}
	var ptrs []Pointer
	ptrs, d.slots = x.addPointers(ptrs, nil)
	d.plan = newJSONPlan(ptrs)
	return d
}

func (d *jsonDecoder) Decode(_ context.Context, r Record) (events.Event, error) {
	if err := checkText(r.Value); err != nil {
		return events.Event{}, err
	}
	var w jsonWalk
	if err := w.walk(d.plan, r.Value); err != nil {
		return events.Event{}, err
	}
	if w.root != '{' {
		return events.Event{}, notObject(jsontext.KindAt(w.root))
	}
	var v fieldValues
	d.slots.values(&w, &v)
	return d.x.event(r.Topic, &v)
}

// fieldSlots maps each event field to its pointer's slot in a jsonPlan
// (-1: the field is not read from the document).
type fieldSlots [jsontext.NumFields]int

// addPointers appends the pointers of the fields x reads, each under the
// reference tokens of prefix, and returns where each field's went.
func (x *extractor) addPointers(ptrs []Pointer, prefix []string) ([]Pointer, fieldSlots) {
	var s fieldSlots
	for f := range jsontext.NumFields {
		s[f] = -1
		if !x.used[f] {
			continue
		}
		p := x.ptrs[f]
		p.tokens = append(slices.Clip(prefix), p.tokens...)
		s[f] = len(ptrs)
		ptrs = append(ptrs, p)
	}
	return ptrs, s
}

// values sets v to the fields' values that w found.
func (s *fieldSlots) values(w *jsonWalk, v *fieldValues) {
	var all uint16
	for _, i := range s {
		if i >= 0 {
			all |= 1 << i
		}
	}
	w.share(all)
	for f, i := range s {
		if i >= 0 {
			v[f] = w.found(i)
		}
	}
}

// checkSize applies the contract's record size limit.
func checkSize(b []byte) error {
	if len(b) == 0 {
		return &events.Error{Rule: "empty record"}
	}
	if len(b) > events.MaxRecordSize {
		return &events.Error{Rule: "record is " + strconv.Itoa(len(b)) + " bytes; the limit is " + strconv.Itoa(events.MaxRecordSize)}
	}
	return nil
}

// checkText applies the size limit and rejects invalid UTF-8, which
// encoding/json would silently replace, as events.Decode does.
func checkText(b []byte) error {
	if err := checkSize(b); err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return &events.Error{Rule: "invalid UTF-8"}
	}
	return nil
}

// parseJSONNumbers decodes one JSON value with numbers as json.Number,
// exact, for JSON Schema validation (minimum, multipleOf, ...). See
// parseJSONTree.
func parseJSONNumbers(b []byte, maps *treeMaps) (any, error) {
	if err := checkText(b); err != nil {
		return nil, err
	}
	return parseJSONTreeReusing(b, maps)
}
