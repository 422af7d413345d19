package formats

import (
	"math/bits"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/internal/jsontext"
)

// avroPlan reads a record of one Avro schema for the pointers of one
// extractor, without building the generic tree: fields that no pointer
// needs are skipped (checked as the generic decoder checks them: lengths,
// enum and union indexes, array sizes), a pointed string is read as is, and
// anything else on a pointer's way (a union, array, map, non-string leaf) is
// decoded generically by hamba/avro, as before, and the rest of the pointer
// looked up in it. It is compiled once per schema id and cached with it.
type avroPlan struct {
	schema *avro.RecordSchema
	x      *extractor
	ptrs   []Pointer // the used fields' pointers, in slot order
	field  []int     // field[slot] is the event field
}

// newAvroPlan returns the plan of s for x, or nil when s is not a record
// (such a record is not an object, which the generic path reports).
func newAvroPlan(s avro.Schema, x *extractor) *avroPlan {
	rs, ok := derefAvro(s).(*avro.RecordSchema)
	if !ok {
		return nil
	}
	p := &avroPlan{schema: rs, x: x}
	for f := range jsontext.NumFields {
		if x.used[f] {
			p.ptrs = append(p.ptrs, x.ptrs[f])
			p.field = append(p.field, f)
		}
	}
	return p
}

func derefAvro(s avro.Schema) avro.Schema {
	for {
		ref, ok := s.(*avro.RefSchema)
		if !ok {
			return s
		}
		s = ref.Schema()
	}
}

// avroWalk is one record read with a plan.
type avroWalk struct {
	p *avroPlan
	r *avro.Reader
	// vals is held by value: escape analysis does not tell a struct's
	// fields apart, and the reader's contents leak.
	vals fieldValues
}

// read decodes the payload in r into v.
func (p *avroPlan) read(r *avro.Reader, v *fieldValues) {
	w := avroWalk{p: p, r: r}
	w.record(p.schema, 0, uint16(1)<<len(p.ptrs)-1)
	*v = w.vals
}

// node reads the value of schema s, depth tokens deep, for the active
// pointers (those whose first depth tokens lead here).
func (w *avroWalk) node(s avro.Schema, depth int, active uint16) {
	if active == 0 {
		w.skip(s)
		return
	}
	s = derefAvro(s)
	var here uint16
	for m := active; m != 0; m &= m - 1 {
		if i := bits.TrailingZeros16(m); len(w.p.ptrs[i].tokens) == depth {
			here |= 1 << i
		}
	}
	switch s := s.(type) {
	case *avro.RecordSchema:
		if here == 0 {
			w.record(s, depth, active)
			return
		}
	case *avro.PrimitiveSchema:
		if here == active && w.primitive(s, here) {
			return
		}
	case *avro.UnionSchema:
		if here == active && w.nullableString(s, here) {
			return
		}
	}
	w.generic(s, depth, active)
}

// primitive reads a pointed string or timestamp as the generic decoder
// would, without boxing it; it reports false for the other types.
func (w *avroWalk) primitive(s *avro.PrimitiveSchema, slots uint16) bool {
	var lt avro.LogicalType
	if l := s.Logical(); l != nil {
		lt = l.Type()
	}
	switch {
	case s.Type() == avro.String:
		w.set(slots, value{kind: "string", s: w.r.ReadString()})
	case s.Type() == avro.Long && lt == avro.TimestampMillis:
		i := w.r.ReadLong()
		sec := i / 1e3
		w.set(slots, value{kind: "timestamp", t: time.Unix(sec, (i-sec*1e3)*1e6)})
	case s.Type() == avro.Long && lt == avro.TimestampMicros:
		i := w.r.ReadLong()
		sec := i / 1e6
		w.set(slots, value{kind: "timestamp", t: time.Unix(sec, (i-sec*1e6)*1e3)})
	default:
		return false
	}
	return true
}

// nullableString reads a pointed ["null", "string"] union (either order),
// which the generic decoder resolves to nil or the string; it reports false
// for other unions.
func (w *avroWalk) nullableString(s *avro.UnionSchema, slots uint16) bool {
	types := s.Types()
	if len(types) != 2 || !(isAvroType(types[0], avro.Null) && isAvroType(types[1], avro.String) ||
		isAvroType(types[0], avro.String) && isAvroType(types[1], avro.Null)) {
		return false
	}
	i := int(w.r.ReadInt())
	switch {
	case w.r.Error != nil:
	case i < 0 || i > 1:
		w.r.ReportError("decode union type", "unknown union type")
	case types[i].Type() == avro.Null:
		w.set(slots, value{kind: "null"})
	default:
		w.set(slots, value{kind: "string", s: w.r.ReadString()})
	}
	return true
}

// isAvroType reports whether s is t without a logical type (which could
// change how the generic decoder resolves a union).
func isAvroType(s avro.Schema, t avro.Type) bool {
	if p, ok := s.(*avro.PrimitiveSchema); ok && p.Logical() != nil {
		return false
	}
	return s.Type() == t
}

// record reads a record's fields in order, each for the pointers whose
// next token names it.
func (w *avroWalk) record(s *avro.RecordSchema, depth int, active uint16) {
	for _, f := range s.Fields() {
		var next uint16
		for m := active; m != 0; m &= m - 1 {
			if i := bits.TrailingZeros16(m); w.p.ptrs[i].tokens[depth] == f.Name() {
				next |= 1 << i
			}
		}
		w.node(f.Type(), depth+1, next)
		if w.r.Error != nil {
			return
		}
	}
}

// generic decodes the value as the generic decoder always did and looks
// the rest of each active pointer up in it.
func (w *avroWalk) generic(s avro.Schema, depth int, active uint16) {
	var v any
	w.r.ReadVal(s, &v)
	for m := active; m != 0; m &= m - 1 {
		i := bits.TrailingZeros16(m)
		rest := Pointer{tokens: w.p.ptrs[i].tokens[depth:]}
		w.set(1<<i, valueOf(rest.Lookup(v)))
	}
}

func (w *avroWalk) set(slots uint16, v value) {
	for m := slots; m != 0; m &= m - 1 {
		w.vals[w.p.field[bits.TrailingZeros16(m)]] = v
	}
}

// skip reads past a value of schema s, failing where the generic decoder
// fails: a negative or too large length, an unknown enum symbol or union
// branch, an array larger than the decoder's allocation limit. Unlike
// hamba/avro's own skipping it bounds arrays, so that a block count of 2^62
// cannot keep it busy.
func (w *avroWalk) skip(s avro.Schema) {
	r := w.r
	switch s := derefAvro(s).(type) {
	case *avro.NullSchema:
	case *avro.PrimitiveSchema:
		w.skipPrimitive(s.Type())
	case *avro.RecordSchema:
		for _, f := range s.Fields() {
			if w.skip(f.Type()); r.Error != nil {
				return
			}
		}
	case *avro.EnumSchema:
		if i := int(r.ReadInt()); r.Error == nil && (i < 0 || i >= len(s.Symbols())) {
			r.ReportError("decode enum symbol", "unknown enum symbol")
		}
	case *avro.FixedSchema:
		r.SkipNBytes(s.Size())
	case *avro.UnionSchema:
		types := s.Types()
		i := int(r.ReadInt())
		if r.Error == nil && (i < 0 || i >= len(types)) {
			r.ReportError("decode union type", "unknown union type")
			return
		}
		if r.Error == nil {
			w.skip(types[i])
		}
	case *avro.ArraySchema:
		w.skipBlocks(s.Items(), false)
	case *avro.MapSchema:
		w.skipBlocks(s.Values(), true)
	default:
		r.ReportError("skip", "unsupported schema type "+string(s.Type()))
	}
}

func (w *avroWalk) skipPrimitive(t avro.Type) {
	r := w.r
	switch t {
	case avro.Boolean:
		r.ReadBool()
	case avro.Int:
		r.ReadInt()
	case avro.Long:
		r.ReadLong()
	case avro.Float:
		r.SkipFloat()
	case avro.Double:
		r.SkipDouble()
	case avro.String, avro.Bytes:
		n := r.ReadLong()
		switch {
		case r.Error != nil:
		case n < 0:
			r.ReportError("skip "+string(t), "invalid "+string(t)+" length")
		case n > events.MaxRecordSize:
			r.ReportError("skip "+string(t), "size is greater than `Config.MaxByteSliceSize`")
		default:
			r.SkipNBytes(int(n)) // running out sets io.EOF: a read error
		}
	}
}

// skipBlocks skips the blocks of an array (items) or map (values, each
// after its string key).
func (w *avroWalk) skipBlocks(s avro.Schema, isMap bool) {
	r := w.r
	total := int64(0)
	for r.Error == nil {
		n, _ := r.ReadBlockHeader()
		if n == 0 || r.Error != nil {
			return
		}
		if total += n; n < 0 || !isMap && total > events.MaxRecordSize {
			r.ReportError("decode array", "size is greater than `Config.MaxSliceAllocSize`")
			return
		}
		for range n {
			if isMap {
				w.skipPrimitive(avro.String)
			}
			if w.skip(s); r.Error != nil {
				return
			}
		}
	}
}
