package formats

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"strings"
	"sync/atomic"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/internal/jsontext"
)

// ceDecoder is the cloudevents format: the CloudEvents 1.0 Kafka protocol
// binding, binary mode (attributes in ce_* headers, the value is data) and
// structured mode (content-type application/cloudevents+json, the value is
// the whole event as JSON). Data must be JSON; uid, siteUid and cid are read
// from it by pointers, in the same single pass that checks its syntax.
type ceDecoder struct {
	x     *extractor
	types map[string]events.Type
	// data finds the data fields in data itself (binary mode,
	// data_base64); env finds the attributes (slots 0-5, as ceNames),
	// data_base64 (slot ceBase64) and the data fields under /data.
	data, env           *jsonPlan
	dataSlots, envSlots fieldSlots
	// structuredCT is the last content-type accepted as structured mode:
	// a topic's records carry the same one, and checking it anew (with
	// mime.ParseMediaType) would cost a map per record.
	structuredCT atomic.Pointer[string]
}

// ceBase64 is the slot of data_base64 in the structured-mode plan.
const ceBase64 = len(ceNames)

func newCloudEvents(spec Spec) (*ceDecoder, error) {
	x, err := newExtractor(spec, dataFields)
	if err != nil {
		return nil, err
	}
	d := &ceDecoder{x: x, types: make(map[string]events.Type, len(spec.Types))}
	for _, ceType := range sortedKeys(spec.Types) {
		t := events.Type(spec.Types[ceType])
		if t != events.UserRegistered && t != events.AccountLinked {
			return nil, fmt.Errorf("format spec: types: %s: unknown event type %q; want %q or %q", ceType, t, events.UserRegistered, events.AccountLinked)
		}
		d.types[ceType] = t
	}
	var ptrs []Pointer
	ptrs, d.dataSlots = x.addPointers(nil, nil)
	d.data = newJSONPlan(ptrs)
	ptrs = nil
	for _, name := range ceNames {
		ptrs = append(ptrs, Pointer{text: "/" + name, tokens: []string{name}})
	}
	ptrs = append(ptrs, Pointer{text: "/data_base64", tokens: []string{"data_base64"}})
	ptrs, d.envSlots = x.addPointers(ptrs, []string{"data"})
	d.env = newJSONPlan(ptrs)
	return d, nil
}

// ceAttrs are the context attributes regnotify reads, and where each was
// found (for error messages).
type ceAttrs struct {
	specversion, id, source, typ, time, dataContentType string
	present                                             [6]bool
	// where names an attribute's origin: "header ce_id" or "attribute id".
	where func(name string) string
}

const (
	aSpecversion = iota
	aID
	aSource
	aType
	aTime
	aDataContentType
)

var ceNames = [...]string{"specversion", "id", "source", "type", "time", "datacontenttype"}

func (a *ceAttrs) set(i int, v string) {
	a.present[i] = true
	switch i {
	case aSpecversion:
		a.specversion = v
	case aID:
		a.id = v
	case aSource:
		a.source = v
	case aType:
		a.typ = v
	case aTime:
		a.time = v
	case aDataContentType:
		a.dataContentType = v
	}
}

func (d *ceDecoder) Decode(_ context.Context, r Record) (events.Event, error) {
	ct, hasCT := r.headerBytes("content-type")
	var (
		a    ceAttrs
		data fieldValues
		err  error
	)
	switch {
	case hasCT && hasPrefixFold(bytes.TrimSpace(ct), "application/cloudevents"):
		err = d.structuredMode(&a, ct, r.Value, &data)
	case r.hasHeader("ce_specversion"):
		err = d.binaryMode(&a, r, &data)
	default:
		return events.Event{}, &events.Error{Rule: "not a CloudEvent: neither a ce_specversion header (binary mode) nor content-type application/cloudevents+json (structured mode)"}
	}
	if err != nil {
		return events.Event{}, err
	}
	e, err := d.attributes(r.Topic, &a)
	if err != nil {
		return events.Event{}, err
	}
	if err := d.x.fill(&data, &e); err != nil {
		return events.Event{}, err
	}
	return e, d.validate(e, &a)
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// ceHeaders are the binary mode's attribute headers, in the order of
// ceNames; the last is datacontenttype's.
var ceHeaders = [...]string{"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"}

// binaryMode reads the attributes from ce_* headers and data from the value.
// The attributes' strings share one allocation.
func (d *ceDecoder) binaryMode(a *ceAttrs, r Record, data *fieldValues) error {
	a.where = func(name string) string { return "header ce_" + name }
	var (
		vals  [len(ceHeaders)][]byte
		total int
	)
	for i, name := range ceHeaders {
		if v, ok := r.headerBytes(name); ok {
			a.present[i] = true
			vals[i] = v
			total += len(v)
		}
	}
	var buf strings.Builder
	buf.Grow(total)
	for _, v := range vals {
		buf.Write(v)
	}
	all := buf.String()
	for i, v := range vals {
		if a.present[i] {
			a.set(i, all[:len(v)])
			all = all[len(v):]
		}
	}
	if a.present[aDataContentType] && !isJSON(a.dataContentType) {
		return &events.Error{Source: "header content-type", Rule: "data must be JSON; got " + jsontext.Excerpt(a.dataContentType)}
	}
	return d.dataValues(r.Value, data)
}

// dataValues finds the data fields in a JSON data value.
func (d *ceDecoder) dataValues(b []byte, data *fieldValues) error {
	if err := checkText(b); err != nil {
		return err
	}
	var w jsonWalk
	if err := w.walk(d.data, b); err != nil {
		return err
	}
	d.dataSlots.values(&w, data)
	return nil
}

// structuredMode reads the whole event from the value.
func (d *ceDecoder) structuredMode(a *ceAttrs, ct, value []byte, data *fieldValues) error {
	a.where = func(name string) string { return "attribute " + name }
	if err := d.checkStructuredCT(ct); err != nil {
		return err
	}
	if err := checkText(value); err != nil {
		return err
	}
	var w jsonWalk
	if err := w.walk(d.env, value); err != nil {
		return err
	}
	if w.root != '{' {
		return &events.Error{Rule: "not a CloudEvent: the record is a JSON " + jsontext.KindAt(w.root)}
	}
	all := uint16(1)<<ceBase64 - 1
	for _, i := range d.envSlots {
		if i >= 0 {
			all |= 1 << i
		}
	}
	w.share(all)
	for i, name := range ceNames {
		switch v := w.found(i); v.kind {
		case "", "null":
		case "string":
			a.set(i, v.s)
		default:
			return &events.Error{Source: a.where(name), Rule: "must be a string, got " + v.kind}
		}
	}
	if a.present[aDataContentType] && !isJSON(a.dataContentType) {
		return &events.Error{Source: "attribute datacontenttype", Rule: "data must be JSON; got " + jsontext.Excerpt(a.dataContentType)}
	}
	if b64 := w.found(ceBase64); b64.kind != "" {
		if b64.kind != "string" {
			return &events.Error{Source: "attribute data_base64", Rule: "must be a string, got " + b64.kind}
		}
		raw, err := base64.StdEncoding.DecodeString(b64.s)
		if err != nil {
			return &events.Error{Source: "attribute data_base64", Rule: "not valid base64"}
		}
		return d.dataValues(raw, data)
	}
	d.envSlots.values(&w, data)
	return nil
}

// checkStructuredCT accepts application/cloudevents+json, with or without
// parameters; the last accepted value is remembered.
func (d *ceDecoder) checkStructuredCT(ct []byte) error {
	if last := d.structuredCT.Load(); last != nil && *last == string(ct) {
		return nil
	}
	s := string(ct)
	if mt, _, err := mime.ParseMediaType(s); err != nil || mt != "application/cloudevents+json" {
		return &events.Error{Source: "header content-type", Rule: "want application/cloudevents+json (batches and other event formats are not supported); got " + jsontext.Excerpt(s)}
	}
	d.structuredCT.Store(&s)
	return nil
}

// isJSON reports whether a content type is JSON: application/json,
// text/json or any +json type, with or without parameters.
// It looks only at the media type, without allocating (mime.ParseMediaType
// would build a map of the parameters on every record).
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	return strings.EqualFold(mt, "application/json") || strings.EqualFold(mt, "text/json") ||
		len(mt) > len("+json") && strings.EqualFold(mt[len(mt)-len("+json"):], "+json") && strings.Contains(mt, "/")
}

// attributes checks the required attributes and maps them to an event.
func (d *ceDecoder) attributes(topic string, a *ceAttrs) (events.Event, error) {
	for _, i := range []int{aSpecversion, aID, aSource, aType} {
		if !a.present[i] || (i != aSpecversion && ceEmpty(a, i)) {
			return events.Event{}, &events.Error{Source: a.where(ceNames[i]), Rule: "required CloudEvents attribute is missing or empty"}
		}
	}
	if a.specversion != "1.0" {
		return events.Event{}, &events.Error{Source: a.where("specversion"), Rule: `want "1.0"; got ` + jsontext.Excerpt(a.specversion)}
	}
	e := events.Event{EventID: a.id}
	var err error
	if e.Type, err = d.eventType(topic, a); err != nil {
		return e, err
	}
	if a.present[aTime] {
		if e.OccurredAt, err = events.ParseTime(a.time); err != nil {
			err.(*events.Error).Source = a.where("time")
			return e, err
		}
	}
	return e, nil
}

// validate applies the event rules, naming the attribute or pointer.
func (d *ceDecoder) validate(e events.Event, a *ceAttrs) error {
	err := e.Validate()
	if ee, ok := err.(*events.Error); ok {
		switch ee.Field {
		case "eventId":
			ee.Source = a.where("id")
		case "occurredAt":
			ee.Source = a.where("time")
		case "type":
			ee.Source = a.where("type")
		default:
			if f := fieldIndex(ee.Field); f >= 0 && d.x.used[f] {
				ee.Source = d.x.ptrs[f].String()
			}
		}
	}
	return err
}

func ceEmpty(a *ceAttrs, i int) bool {
	switch i {
	case aID:
		return a.id == ""
	case aSource:
		return a.source == ""
	case aType:
		return a.typ == ""
	}
	return false
}

// eventType maps the CloudEvents type through the topic's types; without
// a types map, the type is the configured one or the topic name's.
func (d *ceDecoder) eventType(topic string, a *ceAttrs) (events.Type, error) {
	if len(d.types) > 0 {
		t, ok := d.types[a.typ]
		if !ok {
			return "", &events.Error{Field: "type", Source: a.where("type"), Rule: "CloudEvents type " + jsontext.Excerpt(a.typ) + " is not in the topic's types map"}
		}
		return t, nil
	}
	if d.x.want != "" {
		return d.x.want, nil
	}
	if t, ok := events.TypeFromTopic(topic); ok {
		return t, nil
	}
	return "", &events.Error{Field: "type", Source: a.where("type"), Rule: "the topic has no types map, no configured type, and its name does not name one"}
}
