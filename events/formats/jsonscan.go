package formats

import (
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf8"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/internal/jsontext"
)

// This file is the json and cloudevents formats' parser: one pass over the
// record that checks the whole document's syntax (as strictly as
// encoding/json, whose behaviour it keeps: the last of duplicate keys wins,
// an unpaired UTF-16 surrogate escape becomes U+FFFD, nesting up to 10000
// levels) and notes where the values at a fixed set of JSON Pointers are.
// It builds no tree: a record costs the allocation of the strings it
// yields. Measured: BenchmarkDecode, ratio to the strict decoder.

// maxJSONSlots is how many pointers one plan may hold (a bit set of uint16).
const maxJSONSlots = 16

// maxJSONDepth is encoding/json's nesting limit, kept so that the same
// documents are valid.
const maxJSONDepth = 10000

// jsonPlan is a set of JSON Pointers found in one pass over a document.
type jsonPlan struct {
	ptrs []Pointer
	// index[i][d] is the array index that token d of pointer i denotes,
	// or -1 when it is not an array index.
	index [][]int
}

func newJSONPlan(ptrs []Pointer) *jsonPlan {
	if len(ptrs) > maxJSONSlots {
		panic("formats: too many pointers in one JSON plan") // a bug: plans are built from fixed field sets
	}
	p := &jsonPlan{ptrs: ptrs, index: make([][]int, len(ptrs))}
	for i, ptr := range ptrs {
		p.index[i] = make([]int, len(ptr.tokens))
		for d, tok := range ptr.tokens {
			p.index[i][d] = -1
			if n, ok := arrayIndex(tok, int(^uint(0)>>1)); ok {
				p.index[i][d] = n
			}
		}
	}
	return p
}

// jsonHit is what a walk found at one pointer.
type jsonHit struct {
	c          byte // first byte of the value; 0: nothing there
	start, end int  // a string's content, without the quotes
	escaped    bool // the string has backslash escapes
}

// jsonWalk is one pass of a plan over a document, and what it found.
type jsonWalk struct {
	plan *jsonPlan
	maps *treeMaps // parseJSONTree's objects come from here when non-nil
	data []byte
	pos  int
	root byte // first byte of the document's value
	hits [maxJSONSlots]jsonHit
	// shared holds the unescaped strings of the hits that lie close
	// together, copied once; sharedAt is its offset in data.
	shared    string
	sharedAt  int
	shareDone bool
}

// walk checks that data (already size- and UTF-8-checked) is one JSON value
// and records the values at the plan's pointers.
func (w *jsonWalk) walk(p *jsonPlan, data []byte) error {
	*w = jsonWalk{plan: p, data: data}
	w.space()
	if w.pos < len(data) {
		w.root = data[w.pos]
	}
	if err := w.value(0, uint16(1)<<len(p.ptrs)-1); err != nil {
		return err
	}
	w.space()
	if w.pos != len(data) {
		return w.syntax("trailing data after the value")
	}
	return nil
}

// syntax reports malformed JSON at pos, with encoding/json's offset (the
// bytes read up to and including the offending one).
func (w *jsonWalk) syntax(what string) *events.Error {
	if w.pos >= len(w.data) {
		return &events.Error{Rule: "malformed JSON at byte offset " + strconv.Itoa(len(w.data)) + ": unexpected end"}
	}
	return &events.Error{Rule: "malformed JSON at byte offset " + strconv.Itoa(w.pos+1) + ": " + what + ", found " + quoteByte(w.data[w.pos])}
}

func quoteByte(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (w *jsonWalk) space() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// value walks the value at pos, depth containers deep; active holds the
// pointers whose first depth tokens lead here.
func (w *jsonWalk) value(depth int, active uint16) error {
	if w.pos == len(w.data) {
		return w.syntax("want a value")
	}
	var here, deeper uint16
	for m := active; m != 0; m &= m - 1 {
		i := bits.TrailingZeros16(m)
		if len(w.plan.ptrs[i].tokens) == depth {
			here |= 1 << i
		} else {
			deeper |= 1 << i
		}
	}
	hit := jsonHit{c: w.data[w.pos]}
	var err error
	switch hit.c {
	case '{', '[':
		if depth+1 > maxJSONDepth {
			return w.syntax("exceeded max depth")
		}
		if hit.c == '{' {
			err = w.object(depth, deeper)
		} else {
			err = w.array(depth, deeper)
		}
	case '"':
		hit.start, hit.end, hit.escaped, err = w.str()
	case 't':
		err = w.literal("true")
	case 'f':
		err = w.literal("false")
	case 'n':
		err = w.literal("null")
	default:
		err = w.number()
	}
	if err != nil {
		return err
	}
	for m := here; m != 0; m &= m - 1 {
		w.hits[bits.TrailingZeros16(m)] = hit
	}
	return nil
}

// object walks the object at pos (at depth); a key that is token depth of
// an active pointer leads that pointer on, and a repeated key starts it over
// (the last one wins).
func (w *jsonWalk) object(depth int, active uint16) error {
	w.pos++
	w.space()
	if w.pos < len(w.data) && w.data[w.pos] == '}' {
		w.pos++
		return nil
	}
	for {
		w.space()
		if w.pos == len(w.data) || w.data[w.pos] != '"' {
			return w.syntax("want an object key (a string)")
		}
		start, end, escaped, err := w.str()
		if err != nil {
			return err
		}
		var next uint16
		if active != 0 {
			next = w.matchKey(depth, active, w.data[start:end], escaped)
		}
		w.space()
		if w.pos == len(w.data) || w.data[w.pos] != ':' {
			return w.syntax("want ':' after an object key")
		}
		w.pos++
		w.space()
		for m := next; m != 0; m &= m - 1 {
			w.hits[bits.TrailingZeros16(m)] = jsonHit{}
		}
		if err := w.value(depth+1, next); err != nil {
			return err
		}
		if done, err := w.more('}'); done || err != nil {
			return err
		}
	}
}

// matchKey returns the active pointers whose token depth is key.
func (w *jsonWalk) matchKey(depth int, active uint16, key []byte, escaped bool) uint16 {
	if escaped {
		key = unescaped(key)
	}
	var next uint16
	for m := active; m != 0; m &= m - 1 {
		i := bits.TrailingZeros16(m)
		if w.plan.ptrs[i].tokens[depth] == string(key) {
			next |= 1 << i
		}
	}
	return next
}

// array walks the array at pos (at depth).
func (w *jsonWalk) array(depth int, active uint16) error {
	w.pos++
	w.space()
	if w.pos < len(w.data) && w.data[w.pos] == ']' {
		w.pos++
		return nil
	}
	for n := 0; ; n++ {
		w.space()
		var next uint16
		for m := active; m != 0; m &= m - 1 {
			i := bits.TrailingZeros16(m)
			if w.plan.index[i][depth] == n {
				next |= 1 << i
			}
		}
		if err := w.value(depth+1, next); err != nil {
			return err
		}
		if done, err := w.more(']'); done || err != nil {
			return err
		}
	}
}

// more consumes the ',' between members or the closer after the last one.
func (w *jsonWalk) more(closer byte) (done bool, err error) {
	w.space()
	if w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ',':
			w.pos++
			return false, nil
		case closer:
			w.pos++
			return true, nil
		}
	}
	return true, w.syntax("want ',' or '" + string(closer) + "'")
}

// str checks the string at pos (at its opening quote) and returns where its
// content is. The document is valid UTF-8 (checked before the walk).
func (w *jsonWalk) str() (start, end int, escaped bool, err error) {
	w.pos++
	start = w.pos
	for {
		for w.pos < len(w.data) {
			if c := w.data[w.pos]; c < 0x20 || c == '"' || c == '\\' {
				break
			}
			w.pos++
		}
		if w.pos == len(w.data) {
			return 0, 0, false, w.syntax("unterminated string")
		}
		switch c := w.data[w.pos]; c {
		case '"':
			end = w.pos
			w.pos++
			return start, end, escaped, nil
		case '\\':
			escaped = true
			w.pos++
			if w.pos == len(w.data) {
				return 0, 0, false, w.syntax("unterminated string")
			}
			switch w.data[w.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				w.pos++
			case 'u':
				for range 4 {
					w.pos++
					if w.pos == len(w.data) || !jsontext.IsHex(w.data[w.pos]) {
						return 0, 0, false, w.syntax(`invalid \u escape: want 4 hex digits`)
					}
				}
				w.pos++
			default:
				return 0, 0, false, w.syntax("invalid escape character after backslash")
			}
		default:
			return 0, 0, false, w.syntax("control character in string (must be escaped)")
		}
	}
}

func (w *jsonWalk) literal(want string) error {
	for i := 0; i < len(want); i++ {
		if w.pos == len(w.data) || w.data[w.pos] != want[i] {
			return w.syntax("invalid literal; want " + want)
		}
		w.pos++
	}
	return nil
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at pos.
func (w *jsonWalk) number() error {
	if w.pos < len(w.data) && w.data[w.pos] == '-' {
		w.pos++
	}
	switch {
	case w.pos < len(w.data) && w.data[w.pos] == '0':
		w.pos++
	case w.pos < len(w.data) && '1' <= w.data[w.pos] && w.data[w.pos] <= '9':
		w.digits()
	default:
		return w.syntax("want a value")
	}
	if w.pos < len(w.data) && w.data[w.pos] == '.' {
		w.pos++
		if !w.digits() {
			return w.syntax("want a digit after the decimal point")
		}
	}
	if w.pos < len(w.data) && (w.data[w.pos] == 'e' || w.data[w.pos] == 'E') {
		w.pos++
		if w.pos < len(w.data) && (w.data[w.pos] == '+' || w.data[w.pos] == '-') {
			w.pos++
		}
		if !w.digits() {
			return w.syntax("want a digit in the exponent")
		}
	}
	return nil
}

func (w *jsonWalk) digits() bool {
	start := w.pos
	for w.pos < len(w.data) && '0' <= w.data[w.pos] && w.data[w.pos] <= '9' {
		w.pos++
	}
	return w.pos > start
}

// share copies the unescaped strings found at the pointers in slots once,
// when they lie close together (a small event must not pin a large
// record's bytes), so that found needs no further allocation for them.
// Only the first call shares.
func (w *jsonWalk) share(slots uint16) {
	if w.shareDone {
		return
	}
	w.shareDone = true
	lo, hi, total := len(w.data), 0, 0
	for m := slots; m != 0; m &= m - 1 {
		if h := w.hits[bits.TrailingZeros16(m)]; h.c == '"' && !h.escaped && h.end > h.start {
			lo, hi = min(lo, h.start), max(hi, h.end)
			total += h.end - h.start
		}
	}
	if total > 0 && hi-lo <= 2*total+128 {
		w.shared, w.sharedAt = string(w.data[lo:hi]), lo
	}
}

// found returns what was found at pointer i.
func (w *jsonWalk) found(i int) value {
	h := w.hits[i]
	switch {
	case h.c == 0:
		return value{}
	case h.c != '"':
		return value{kind: jsontext.KindAt(h.c)}
	case h.end == h.start:
		return value{kind: "string"}
	case h.escaped:
		return value{kind: "string", s: string(unescaped(w.data[h.start:h.end]))}
	case w.shared != "" && h.start >= w.sharedAt && h.end <= w.sharedAt+len(w.shared):
		return value{kind: "string", s: w.shared[h.start-w.sharedAt : h.end-w.sharedAt]}
	}
	return value{kind: "string", s: string(w.data[h.start:h.end])}
}

// unescaped decodes the content of a JSON string that str accepted, as
// encoding/json decodes it: an unpaired UTF-16 surrogate escape becomes U+FFFD.
func unescaped(raw []byte) []byte {
	out, _ := jsontext.AppendUnescaped(nil, raw)
	return out
}
