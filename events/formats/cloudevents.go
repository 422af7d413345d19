package formats

import (
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"strings"

	"github.com/regnotify/regnotify/events"
)

// ceDecoder is the cloudevents format: the CloudEvents 1.0 Kafka protocol
// binding, binary mode (attributes in ce_* headers, the value is data) and
// structured mode (content-type application/cloudevents+json, the value is
// the whole event as JSON). Data must be JSON; uid, siteUid and cid are read
// from it by pointers.
type ceDecoder struct {
	x     *extractor
	types map[string]events.Type
}

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
	ct, hasCT := r.header("content-type")
	var (
		a    ceAttrs
		data any
		err  error
	)
	switch {
	case hasCT && strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/cloudevents"):
		data, err = structuredMode(&a, ct, r.Value)
	case r.hasHeader("ce_specversion"):
		data, err = binaryMode(&a, r)
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
	if err := d.x.fill(data, &e); err != nil {
		return events.Event{}, err
	}
	return e, d.validate(e, &a)
}

// binaryMode reads the attributes from ce_* headers and data from the value.
func binaryMode(a *ceAttrs, r Record) (any, error) {
	a.where = func(name string) string { return "header ce_" + name }
	for i, name := range ceNames[:aDataContentType] {
		if v, ok := r.header("ce_" + name); ok {
			a.set(i, v)
		}
	}
	if ct, ok := r.header("content-type"); ok {
		a.set(aDataContentType, ct)
		if !isJSON(ct) {
			return nil, &events.Error{Source: "header content-type", Rule: "data must be JSON; got " + excerpt(ct)}
		}
	}
	return parseJSON(r.Value)
}

// structuredMode reads the whole event from the value.
func structuredMode(a *ceAttrs, ct string, value []byte) (any, error) {
	a.where = func(name string) string { return "attribute " + name }
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/cloudevents+json" {
		return nil, &events.Error{Source: "header content-type", Rule: "want application/cloudevents+json (batches and other event formats are not supported); got " + excerpt(ct)}
	}
	doc, err := parseJSON(value)
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
		return nil, &events.Error{Source: "attribute datacontenttype", Rule: "data must be JSON; got " + excerpt(a.dataContentType)}
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
		return parseJSON(raw)
	}
	return env["data"], nil
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
		return events.Event{}, &events.Error{Source: a.where("specversion"), Rule: `want "1.0"; got ` + excerpt(a.specversion)}
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
			return "", &events.Error{Field: "type", Source: a.where("type"), Rule: "CloudEvents type " + excerpt(a.typ) + " is not in the topic's types map"}
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
