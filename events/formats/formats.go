// Package formats turns Kafka records of the formats a topic may declare
// (`format` in the configuration file) into validated events: the strict
// regnotify JSON (package events), any JSON object read by JSON Pointers,
// CloudEvents 1.0 (Kafka protocol binding, binary and structured mode), and
// Avro or JSON Schema in the Confluent Schema Registry wire format.
//
// Every extracted field obeys the rules of [events.Event.Validate]; an
// invalid record yields an *events.Error whose Source names the JSON
// Pointer, header or attribute the field came from. A schema registry that
// cannot be reached yields a *TransientError instead: the record is not
// invalid, it must wait.
//
// It is not a Kafka client (the caller builds a [Record] from its message),
// does not log, and has no mutable globals; the only I/O is the schema registry
// lookups of the avro and jsonschema formats, through [Registry].
package formats

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/regnotify/regnotify/events"
)

// The formats a topic may declare.
const (
	FormatRegnotify   = "regnotify"
	FormatJSON        = "json"
	FormatCloudEvents = "cloudevents"
	FormatAvro        = "avro"
	FormatJSONSchema  = "jsonschema"
)

// Record is what a decoder reads of one Kafka record.
type Record struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// headerBytes returns the value of the first header named key, and
// whether there is one. Kafka header names are case-sensitive.
func (r Record) headerBytes(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// hasHeader reports whether r has a header named key, without copying it.
func (r Record) hasHeader(key string) bool {
	for _, h := range r.Headers {
		if h.Key == key {
			return true
		}
	}
	return false
}

// Decoder turns one record of its topic's format into a validated event.
// Its error is an *events.Error when the record is invalid (dead-letter it
// as invalid_event) or a *TransientError when it could not be decided now
// (let the record wait and try again). A Decoder is safe for concurrent use.
type Decoder interface {
	Decode(ctx context.Context, r Record) (events.Event, error)
}

// Spec is a topic's format configuration.
type Spec struct {
	// Format is one of the Format constants; "" means regnotify.
	Format string
	// Type is the topic's configured event type (`type`); "" leaves it to
	// the topic name's suffix, the record's type field, or (cloudevents)
	// Types.
	Type events.Type
	// Fields maps event field names (eventId, uid, siteUid, cid,
	// occurredAt, type) to RFC 6901 JSON Pointers, overriding the defaults
	// /eventId, /uid, ... An empty pointer for an optional field (siteUid,
	// cid, occurredAt, type) means "not in this record". For cloudevents
	// only uid, siteUid and cid may be given; they point into data.
	Fields map[string]string
	// Types maps CloudEvents types to event types (cloudevents only).
	Types map[string]string
}

// New returns the decoder for spec, or an error naming what is wrong with
// it: an unknown format, field name, event type or a malformed pointer.
// reg is needed by the avro and jsonschema formats and ignored by the
// others (it may be nil for them).
func New(spec Spec, reg Registry) (Decoder, error) {
	if spec.Type != "" && spec.Type != events.UserRegistered && spec.Type != events.AccountLinked {
		return nil, fmt.Errorf("format spec: type %q: want %q or %q", spec.Type, events.UserRegistered, events.AccountLinked)
	}
	if len(spec.Types) > 0 && spec.Format != FormatCloudEvents {
		return nil, fmt.Errorf("format spec: types: only for format %q", FormatCloudEvents)
	}
	switch spec.Format {
	case "", FormatRegnotify:
		if len(spec.Fields) > 0 {
			return nil, fmt.Errorf("format spec: fields: not for format %q (its field names are fixed)", FormatRegnotify)
		}
		return regnotifyDecoder{}, nil
	case FormatJSON:
		x, err := newExtractor(spec, allFields)
		if err != nil {
			return nil, err
		}
		return newJSONDecoder(x), nil
	case FormatCloudEvents:
		return newCloudEvents(spec)
	case FormatAvro, FormatJSONSchema:
		if reg == nil {
			return nil, fmt.Errorf("format spec: format %q needs a schema registry (--schema-registry-url)", spec.Format)
		}
		x, err := newExtractor(spec, allFields)
		if err != nil {
			return nil, err
		}
		return newConfluent(spec.Format, x, reg), nil
	}
	return nil, fmt.Errorf("format spec: unknown format %q; want one of %s", spec.Format,
		strings.Join([]string{FormatRegnotify, FormatJSON, FormatCloudEvents, FormatAvro, FormatJSONSchema}, ", "))
}

// regnotifyDecoder is the contract's strict JSON: events.Decode as is.
type regnotifyDecoder struct{}

func (regnotifyDecoder) Decode(_ context.Context, r Record) (events.Event, error) {
	return events.Decode(r.Topic, r.Value)
}

// sortedKeys returns m's keys in order, for deterministic error messages.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
