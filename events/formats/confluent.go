package formats

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/sync/singleflight"

	"github.com/regnotify/regnotify/events"
)

// SchemaCacheSize is how many compiled schemas each avro or jsonschema
// topic keeps, least recently used first out. Schema ids are immutable, so
// an entry never goes stale; the bound only caps memory when producers
// cycle through many schema versions.
const SchemaCacheSize = 256

// compiled is a cached schema: an Avro schema, a JSON Schema, or the reason
// every record naming this id is invalid.
type compiled struct {
	avro     avro.Schema
	avroPlan *avroPlan // nil: decode generically (the schema is not a record)
	json     *jsonschema.Schema
	quick    *quickSchema // nil: every record goes to json.Validate
	invalid  string
}

// confluentDecoder is the avro and jsonschema formats: the Confluent wire
// format (magic byte 0, a 4-byte big-endian schema id, the payload).
type confluentDecoder struct {
	format string
	x      *extractor
	// avro bounds what one record may make the Avro decoder allocate (no
	// record is larger than events.MaxRecordSize); it caches codecs, so
	// it is per decoder rather than global.
	avro  avro.API
	reg   Registry
	cache *lru.Cache[int, compiled]
	sf    singleflight.Group
	// readers are reused Avro readers (they cost two allocations each).
	readers sync.Pool
	// trees are *treeMaps, the reused objects of JSON records' trees.
	trees sync.Pool
}

func newConfluent(format string, x *extractor, reg Registry) *confluentDecoder {
	c, _ := lru.New[int, compiled](SchemaCacheSize) // errors only for a size <= 0
	api := avro.Config{MaxByteSliceSize: events.MaxRecordSize, MaxSliceAllocSize: events.MaxRecordSize}.Freeze()
	return &confluentDecoder{format: format, x: x, avro: api, reg: reg, cache: c}
}

func (d *confluentDecoder) Decode(ctx context.Context, r Record) (events.Event, error) {
	if err := checkSize(r.Value); err != nil {
		return events.Event{}, err
	}
	if len(r.Value) < 5 || r.Value[0] != 0 {
		return events.Event{}, &events.Error{Rule: "not in the Schema Registry wire format: want magic byte 0 and a 4-byte schema id"}
	}
	id := int(binary.BigEndian.Uint32(r.Value[1:5]))
	sch, err := d.schema(ctx, id)
	if err != nil {
		return events.Event{}, err
	}
	if sch.invalid != "" {
		return events.Event{}, &events.Error{Rule: "schema id " + strconv.Itoa(id) + ": " + sch.invalid}
	}
	var doc any
	switch {
	case d.format == FormatAvro && sch.avroPlan != nil:
		var v fieldValues
		if err := d.decodeAvroPlan(sch.avroPlan, id, r.Value[5:], &v); err != nil {
			return events.Event{}, err
		}
		return d.x.event(r.Topic, &v)
	case d.format == FormatAvro:
		doc, err = decodeAvro(d.avro, sch.avro, id, r.Value[5:])
	default:
		return d.decodeJSONSchema(sch, id, r)
	}
	if err != nil {
		return events.Event{}, err
	}
	return d.x.eventFromDoc(r.Topic, doc)
}

// schema returns the compiled schema for id, from the cache or the
// registry; concurrent misses for one id make one request.
func (d *confluentDecoder) schema(ctx context.Context, id int) (compiled, error) {
	if c, ok := d.cache.Get(id); ok {
		return c, nil
	}
	v, err, _ := d.sf.Do(strconv.Itoa(id), func() (any, error) {
		if c, ok := d.cache.Get(id); ok {
			return c, nil
		}
		rs, err := d.reg.SchemaByID(ctx, id)
		if errors.Is(err, ErrUnknownSchema) {
			// Not cached: the id may be registered later.
			return compiled{invalid: "not registered in the schema registry"}, nil
		}
		if err != nil {
			return nil, &TransientError{SchemaID: id, Err: err}
		}
		c := d.compile(rs)
		d.cache.Add(id, c)
		return c, nil
	})
	if err != nil {
		return compiled{}, err
	}
	return v.(compiled), nil
}

// compile parses a registered schema for this decoder's format.
func (d *confluentDecoder) compile(rs RegisteredSchema) compiled {
	want := "AVRO"
	if d.format == FormatJSONSchema {
		want = "JSON"
	}
	typ := rs.Type
	if typ == "" {
		typ = "AVRO"
	}
	switch {
	case typ != want:
		return compiled{invalid: "is a " + typ + " schema; topic format " + d.format + " needs " + want}
	case rs.References > 0:
		return compiled{invalid: "refers to other schemas; schema references are not supported"}
	case want == "AVRO":
		s, err := avro.ParseWithCache(rs.Schema, "", &avro.SchemaCache{})
		if err != nil {
			return compiled{invalid: "not a valid Avro schema: " + err.Error()}
		}
		return compiled{avro: s, avroPlan: newAvroPlan(s, d.x)}
	}
	s, err := compileJSONSchema(rs.Schema)
	if err != nil {
		return compiled{invalid: "not a valid JSON Schema: " + err.Error()}
	}
	return compiled{json: s, quick: newQuickSchema(s, 0)}
}

// decodeAvro decodes an Avro binary payload into generic values; bytes
// left over after the record are an error too.
func decodeAvro(api avro.API, s avro.Schema, id int, payload []byte) (any, error) {
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(api))
	r.Reset(payload)
	var v any
	r.ReadVal(s, &v)
	if r.Error != nil {
		return nil, &events.Error{Rule: "does not decode with its Avro schema (id " + strconv.Itoa(id) + "): " + avroCause(r.Error)}
	}
	if r.Peek(); r.Error == nil {
		return nil, &events.Error{Rule: "does not decode with its Avro schema (id " + strconv.Itoa(id) + "): trailing bytes after the record"}
	}
	return v, nil
}

// decodeAvroPlan reads an Avro binary payload with plan into v; bytes left
// over after the record are an error, as in decodeAvro. Readers are pooled:
// strings read alias the reader's slab, which hamba/avro hands out only
// once, so an event never shares bytes with a later record.
func (d *confluentDecoder) decodeAvroPlan(plan *avroPlan, id int, payload []byte, v *fieldValues) error {
	r, _ := d.readers.Get().(*avro.Reader)
	if r == nil {
		r = avro.NewReader(nil, 0, avro.WithReaderConfig(d.avro))
	}
	defer d.readers.Put(r)
	r.Reset(payload)
	r.Error = nil
	plan.read(r, v)
	if r.Error != nil {
		return &events.Error{Rule: "does not decode with its Avro schema (id " + strconv.Itoa(id) + "): " + avroCause(r.Error)}
	}
	if r.Peek(); r.Error == nil {
		return &events.Error{Rule: "does not decode with its Avro schema (id " + strconv.Itoa(id) + "): trailing bytes after the record"}
	}
	return nil
}

// avroCause describes a decoding failure; the library's messages name
// the operation, not the data.
func avroCause(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of data"
	}
	msg := err.Error()
	if i := strings.Index(msg, "avro: "); i >= 0 {
		msg = msg[i:] // drop the Go type names the decoder prefixes
	}
	return msg
}

// noLoader refuses every $ref outside the schema itself: a schema from the
// registry must not make regnotify read files or fetch URLs.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external reference %q not allowed", url)
}

func compileJSONSchema(text string) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	const loc = "regnotify:///schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}

// decodeJSONSchema decodes a jsonschema record; the parsed tree's maps go
// back to d.trees once the event is extracted.
func (d *confluentDecoder) decodeJSONSchema(s compiled, id int, r Record) (events.Event, error) {
	maps, _ := d.trees.Get().(*treeMaps)
	if maps == nil {
		maps = &treeMaps{}
	}
	defer d.trees.Put(maps)
	doc, err := validJSONSchema(s, id, r.Value[5:], maps)
	if err != nil {
		return events.Event{}, err
	}
	defer maps.put(doc)
	e, err := d.x.eventFromDoc(r.Topic, doc)
	return detach(e, len(r.Value)), err
}

// validJSONSchema parses a JSON payload and validates it: with the
// schema's quick check when it has one and accepts the record, else with
// the full validator, which alone rejects a record.
func validJSONSchema(s compiled, id int, payload []byte, maps *treeMaps) (any, error) {
	doc, err := parseJSONNumbers(payload, maps)
	if err != nil {
		return nil, err
	}
	if s.quick != nil && s.quick.valid(doc) {
		return doc, nil
	}
	if err := s.json.Validate(doc); err != nil {
		return nil, &events.Error{Rule: "does not match its JSON Schema (id " + strconv.Itoa(id) + "): " + schemaCause(err)}
	}
	return doc, nil
}

// detach copies the event's strings, which alias the parsed tree's copy of
// a record of size bytes, when that record is much larger than they are:
// an event must not pin a large record in memory while it waits.
func detach(e events.Event, size int) events.Event {
	n := len(e.EventID) + len(e.UID) + len(e.SiteUID) + len(e.CID)
	if size <= 2*n+128 {
		return e
	}
	all := e.EventID + e.UID + e.SiteUID + e.CID
	e.EventID, all = all[:len(e.EventID)], all[len(e.EventID):]
	e.UID, all = all[:len(e.UID)], all[len(e.UID):]
	e.SiteUID, e.CID = all[:len(e.SiteUID)], all[len(e.SiteUID):]
	return e
}

// schemaCause describes the first failing leaf of a validation error by
// location and keyword, and by what is missing or mistyped; it never
// quotes the record's values (a pattern error would).
func schemaCause(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "validation failed"
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	at := "/" + strings.Join(escapeTokens(ve.InstanceLocation), "/")
	if len(ve.InstanceLocation) == 0 {
		at = "the record"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "at %s: keyword %q", at, strings.Join(ve.ErrorKind.KeywordPath(), "/"))
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		fmt.Fprintf(&b, ": missing %s", strings.Join(k.Missing, ", "))
	case *kind.Type:
		fmt.Fprintf(&b, ": got %s, want %s", k.Got, strings.Join(k.Want, " or "))
	}
	return b.String()
}

func escapeTokens(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
	}
	return out
}
