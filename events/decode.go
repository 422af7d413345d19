package events

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/regnotify/regnotify/events/internal/jsontext"
)

// maxDepth is the deepest nesting of objects and arrays Decode accepts,
// counting the event object itself as level 1.
const maxDepth = 32

// Decode parses one Kafka record value read from topic and validates it.
//
// The returned event's Type is always set: from the "type" field if present
// (it must then agree with the type topic names, if the topic names one; see
// [TypeFromTopic]), otherwise from the topic, and it is an error if neither
// gives one. A null optional field counts as absent; so does an empty
// siteUid or cid. A null required field (eventId, uid, siteUid on
// account.linked) is an error.
//
// Decode rejects, with an *Error: an empty record, one over [MaxRecordSize]
// bytes, invalid UTF-8 (with the byte offset), anything but a single JSON
// object (with trailing whitespace only), malformed JSON (with the byte
// offset), a key that appears twice at the top level, a known field with a
// JSON type other than string, a string with an unpaired UTF-16 surrogate
// escape, nesting deeper than 32 levels, and everything [Event.Validate]
// rejects. Field names are case-sensitive: "UID" is an unknown field, and the
// error for the then missing uid mentions it.
//
// After a UTF-8 check, Decode parses the value in a single pass, in time
// linear in its size, without reflection; a typical event costs one
// allocation, which holds all its strings. The event does not alias value.
func Decode(topic string, value []byte) (Event, error) {
	if len(value) == 0 {
		return Event{}, &Error{Rule: "empty record"}
	}
	if len(value) > MaxRecordSize {
		return Event{}, &Error{Rule: "record is " + strconv.Itoa(len(value)) + " bytes; the limit is " + strconv.Itoa(MaxRecordSize)}
	}
	if !utf8.Valid(value) {
		return Event{}, &Error{Rule: "invalid UTF-8 at byte offset " + strconv.Itoa(invalidUTF8At(value))}
	}
	var r record
	if err := r.parse(value); err != nil {
		return Event{}, err
	}
	e, err := r.event(topic)
	if err != nil {
		return Event{}, err
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

func fieldName(f int) string {
	switch f {
	case jsontext.EventID:
		return fieldEventID
	case jsontext.Type:
		return fieldType
	case jsontext.OccurredAt:
		return fieldOccurredAt
	case jsontext.UID:
		return fieldUID
	case jsontext.SiteUID:
		return fieldSiteUID
	case jsontext.CID:
		return fieldCID
	}
	return ""
}

// lookupField returns the known field named key, or -1. Names match exactly.
func lookupField(key []byte) int {
	switch string(key) { // does not allocate
	case fieldEventID:
		return jsontext.EventID
	case fieldType:
		return jsontext.Type
	case fieldOccurredAt:
		return jsontext.OccurredAt
	case fieldUID:
		return jsontext.UID
	case fieldSiteUID:
		return jsontext.SiteUID
	case fieldCID:
		return jsontext.CID
	}
	return -1
}

// lookupFieldFold returns the known field whose name equals key ignoring
// case, or -1; it finds near misses like "UID" for error messages.
func lookupFieldFold(key []byte) int {
	for f := range jsontext.NumFields {
		if bytes.EqualFold(key, []byte(fieldName(f))) {
			return f
		}
	}
	return -1
}

// span is the raw content of a JSON string in the record, without quotes.
type span struct {
	start, end int
	escaped    bool // contains backslash escapes
}

// record is the result of the syntactic pass: where each known field's value
// is. Strings are materialized only after the whole record proved well-formed.
type record struct {
	data []byte
	// seen and null are bit sets of known fields: present at all, present
	// as null.
	seen, null uint
	vals       [jsontext.NumFields]span
	// nearMiss holds, per known field, a key that matches its name only
	// ignoring case.
	nearMiss [jsontext.NumFields][]byte
}

// scanner walks the record. Its methods leave pos after what they consumed.
type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// syntaxErr reports malformed JSON at the current position; field is the
// known field whose value is malformed, or "".
func (s *scanner) syntaxErr(field, what string) *Error {
	return &Error{Field: field, Rule: "malformed JSON at byte offset " + strconv.Itoa(s.pos) + ": " + what}
}

// found describes what is at the current position, for error messages.
func (s *scanner) found() string {
	if s.pos >= len(s.data) {
		return "end of input"
	}
	c := s.data[s.pos]
	if c < utf8.RuneSelf {
		return "found " + strconv.QuoteRune(rune(c))
	}
	r, _ := utf8.DecodeRune(s.data[s.pos:])
	if r == '\uFEFF' {
		return "found a byte order mark (U+FEFF)"
	}
	return fmt.Sprintf("found %q (U+%04X)", r, r)
}

// parse checks that data is a single well-formed JSON object and records
// where the known fields' values are.
func (r *record) parse(data []byte) error {
	r.data = data
	s := scanner{data: data}
	s.skipSpace()
	if s.pos == len(data) {
		return &Error{Rule: "record is blank (only whitespace)"}
	}
	if c := data[s.pos]; c != '{' {
		if k := jsontext.KindAt(c); k != "" {
			return &Error{Rule: "not a JSON object: the record is a JSON " + k}
		}
		return s.syntaxErr("", "want a JSON object, "+s.found())
	}
	s.pos++
	s.skipSpace()
	if s.pos < len(data) && data[s.pos] == '}' {
		s.pos++
		return r.parseEnd(&s)
	}
	var unknown keySet
	for {
		s.skipSpace()
		if s.pos == len(data) || data[s.pos] != '"' {
			return s.syntaxErr("", "want an object key (a string), "+s.found())
		}
		kStart := s.pos
		k, err := s.scanString("")
		if err != nil {
			return err
		}
		key := data[k.start:k.end]
		if k.escaped {
			var rule string
			if key, rule = unescape(key); rule != "" {
				s.pos = kStart
				return s.syntaxErr("", "object key "+rule)
			}
		}
		s.skipSpace()
		if s.pos == len(data) || data[s.pos] != ':' {
			return s.syntaxErr("", "want ':' after object key, "+s.found())
		}
		s.pos++
		s.skipSpace()
		if f := lookupField(key); f >= 0 {
			if err := r.parseField(&s, f); err != nil {
				return err
			}
		} else {
			if unknown.addDup(key) {
				return &Error{Rule: "duplicate key " + jsontext.Excerpt(string(key))}
			}
			if f := lookupFieldFold(key); f >= 0 && r.nearMiss[f] == nil {
				r.nearMiss[f] = key
			}
			if err := s.skipValue(1); err != nil {
				return err
			}
		}
		s.skipSpace()
		if s.pos == len(data) {
			return s.syntaxErr("", "want ',' or '}' after object value, "+s.found())
		}
		switch data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return r.parseEnd(&s)
		default:
			return s.syntaxErr("", "want ',' or '}' after object value, "+s.found())
		}
	}
}

func (r *record) parseEnd(s *scanner) error {
	s.skipSpace()
	if s.pos != len(s.data) {
		return &Error{Rule: "trailing data after the JSON object at byte offset " + strconv.Itoa(s.pos)}
	}
	return nil
}

// parseField records the value of known field f, which must be a string or null.
func (r *record) parseField(s *scanner, f int) error {
	name := fieldName(f)
	bit := uint(1) << f
	if r.seen&bit != 0 {
		return &Error{Field: name, Rule: "duplicate key: the field appears more than once"}
	}
	r.seen |= bit
	if s.pos == len(s.data) {
		return s.syntaxErr(name, "want a value, "+s.found())
	}
	switch c := s.data[s.pos]; c {
	case '"':
		v, err := s.scanString(name)
		if err != nil {
			return err
		}
		r.vals[f] = v
		return nil
	case 'n':
		if err := s.literal("null", name); err != nil {
			return err
		}
		r.null |= bit
		return nil
	default:
		if k := jsontext.KindAt(c); k != "" {
			return &Error{Field: name, Rule: "must be a string, got " + k}
		}
		return s.syntaxErr(name, "want a value, "+s.found())
	}
}

// scanString checks the JSON string at pos (which is at its opening quote)
// and returns its raw content. The data is valid UTF-8 (Decode checked it).
func (s *scanner) scanString(field string) (span, error) {
	s.pos++
	v := span{start: s.pos}
	for {
		for s.pos < len(s.data) {
			c := s.data[s.pos]
			if c < 0x20 || c == '"' || c == '\\' {
				break
			}
			s.pos++
		}
		if s.pos == len(s.data) {
			return span{}, s.syntaxErr(field, "unterminated string")
		}
		switch c := s.data[s.pos]; c {
		case '"':
			v.end = s.pos
			s.pos++
			return v, nil
		case '\\':
			v.escaped = true
			if s.pos+1 == len(s.data) {
				s.pos++
				return span{}, s.syntaxErr(field, "unterminated string")
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if s.pos+6 > len(s.data) || !isHex4(s.data[s.pos+2:s.pos+6]) {
					return span{}, s.syntaxErr(field, `invalid \u escape: want 4 hex digits`)
				}
				s.pos += 6
			default:
				s.pos++
				return span{}, s.syntaxErr(field, "invalid escape character after backslash, "+s.found())
			}
		default:
			return span{}, s.syntaxErr(field, fmt.Sprintf("control character U+%04X in string (must be escaped)", c))
		}
	}
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !jsontext.IsHex(c) {
			return false
		}
	}
	return true
}

// unescape decodes the content of a JSON string that scanString accepted.
// It fails, with a rule, only on an unpaired UTF-16 surrogate escape, which
// encoding/json would silently replace with U+FFFD.
func unescape(raw []byte) ([]byte, string) {
	out, r := jsontext.AppendUnescaped(make([]byte, 0, len(raw)), raw)
	if r >= 0 {
		return nil, fmt.Sprintf(`contains an unpaired UTF-16 surrogate escape (\u%04x)`, r)
	}
	return out, ""
}

// literal consumes want (true, false or null) at pos.
func (s *scanner) literal(want, field string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(want)) {
		return s.syntaxErr(field, "invalid literal; want "+want)
	}
	s.pos += len(want)
	return nil
}

// skipValue checks the JSON value at pos, which is nested depth levels deep
// in the event object, and moves past it. Recursion is bounded by maxDepth.
func (s *scanner) skipValue(depth int) error {
	if s.pos == len(s.data) {
		return s.syntaxErr("", "want a value, "+s.found())
	}
	switch c := s.data[s.pos]; c {
	case '{', '[':
		if depth+1 > maxDepth {
			return &Error{Rule: "nesting deeper than " + strconv.Itoa(maxDepth) + " levels at byte offset " + strconv.Itoa(s.pos)}
		}
		return s.skipContainer(depth + 1)
	case '"':
		_, err := s.scanString("")
		return err
	case 't':
		return s.literal("true", "")
	case 'f':
		return s.literal("false", "")
	case 'n':
		return s.literal("null", "")
	default:
		return s.skipNumber()
	}
}

// skipContainer checks the object or array at pos, at the given depth.
// Duplicate keys inside unknown fields are not checked: Decode ignores them.
func (s *scanner) skipContainer(depth int) error {
	isObject := s.data[s.pos] == '{'
	closer := byte(']')
	if isObject {
		closer = '}'
	}
	s.pos++
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == closer {
		s.pos++
		return nil
	}
	for {
		s.skipSpace()
		if isObject {
			if s.pos == len(s.data) || s.data[s.pos] != '"' {
				return s.syntaxErr("", "want an object key (a string), "+s.found())
			}
			if _, err := s.scanString(""); err != nil {
				return err
			}
			s.skipSpace()
			if s.pos == len(s.data) || s.data[s.pos] != ':' {
				return s.syntaxErr("", "want ':' after object key, "+s.found())
			}
			s.pos++
			s.skipSpace()
		}
		if err := s.skipValue(depth); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos == len(s.data) {
			return s.syntaxErr("", "want ',' or '"+string(closer)+"', "+s.found())
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case closer:
			s.pos++
			return nil
		default:
			return s.syntaxErr("", "want ',' or '"+string(closer)+"', "+s.found())
		}
	}
}

// skipNumber checks the JSON number at pos:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) skipNumber() error {
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case s.pos < len(s.data) && '1' <= s.data[s.pos] && s.data[s.pos] <= '9':
		s.skipDigits()
	default:
		return s.syntaxErr("", "want a value, "+s.found())
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if !s.skipDigits() {
			return s.syntaxErr("", "want a digit after the decimal point, "+s.found())
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if !s.skipDigits() {
			return s.syntaxErr("", "want a digit in the exponent, "+s.found())
		}
	}
	return nil
}

func (s *scanner) skipDigits() bool {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

// keySet remembers unknown top-level keys to find duplicates. Records rarely
// have unknown fields, so it starts small and on the stack; past a handful of
// keys it switches to a map to stay linear.
type keySet struct {
	small [8][]byte
	n     int
	m     map[string]struct{}
}

// addDup adds key and reports whether it was already there.
func (k *keySet) addDup(key []byte) bool {
	if k.m != nil {
		if _, ok := k.m[string(key)]; ok {
			return true
		}
		k.m[string(key)] = struct{}{}
		return false
	}
	for _, have := range k.small[:k.n] {
		if bytes.Equal(have, key) {
			return true
		}
	}
	if k.n < len(k.small) {
		k.small[k.n] = key
		k.n++
		return false
	}
	k.m = make(map[string]struct{}, 2*len(k.small))
	for _, have := range k.small {
		k.m[string(have)] = struct{}{}
	}
	k.m[string(key)] = struct{}{}
	return false
}

// event turns the parsed record into an event: it resolves the type, checks
// presence of the required fields and materializes the strings. Content
// rules are left to Validate.
func (r *record) event(topic string) (Event, error) {
	var e Event
	if r.null&(1<<jsontext.EventID) != 0 {
		return e, &Error{Field: fieldEventID, Rule: "required; got null"}
	}
	if r.seen&(1<<jsontext.EventID) == 0 {
		return e, r.missing(jsontext.EventID, "")
	}

	topicType, topicOK := TypeFromTopic(topic)
	if r.seen&^r.null&(1<<jsontext.Type) != 0 {
		raw, err := r.bytes(jsontext.Type)
		if err != nil {
			return e, err
		}
		switch string(raw) {
		case string(UserRegistered):
			e.Type = UserRegistered
		case string(AccountLinked):
			e.Type = AccountLinked
		default:
			return e, &Error{Field: fieldType, Rule: "unknown type " + jsontext.Excerpt(string(raw)) + `; want "user.registered" or "account.linked"`}
		}
		if topicOK && e.Type != topicType {
			return e, &Error{Field: fieldType, Rule: fmt.Sprintf("%q does not match topic %s, which carries %q", e.Type, jsontext.Excerpt(topic), topicType)}
		}
	} else {
		if !topicOK {
			return e, r.missing(jsontext.Type, ", and topic "+jsontext.Excerpt(topic)+" does not name an event type")
		}
		e.Type = topicType
	}

	if r.seen&^r.null&(1<<jsontext.OccurredAt) != 0 {
		raw, err := r.bytes(jsontext.OccurredAt)
		if err != nil {
			return e, err
		}
		if e.OccurredAt, err = parseTime(raw); err != nil {
			return e, err
		}
	}

	if r.null&(1<<jsontext.UID) != 0 {
		return e, &Error{Field: fieldUID, Rule: "required; got null"}
	}
	if r.seen&(1<<jsontext.UID) == 0 {
		return e, r.missing(jsontext.UID, "")
	}
	if e.Type == AccountLinked {
		if r.null&(1<<jsontext.SiteUID) != 0 {
			return e, &Error{Field: fieldSiteUID, Rule: "required for account.linked events; got null"}
		}
		if r.seen&(1<<jsontext.SiteUID) == 0 {
			return e, r.missing(jsontext.SiteUID, " (on account.linked events)")
		}
	}

	strs, err := r.texts(&[...]int{jsontext.EventID, jsontext.UID, jsontext.SiteUID, jsontext.CID})
	if err != nil {
		return e, err
	}
	e.EventID, e.UID, e.SiteUID, e.CID = strs[0], strs[1], strs[2], strs[3]
	return e, nil
}

func (r *record) missing(f int, context string) *Error {
	rule := "required field is missing" + context
	if near := r.nearMiss[f]; near != nil {
		rule += fmt.Sprintf(" (found %s; field names are case-sensitive)", jsontext.Excerpt(string(near)))
	}
	return &Error{Field: fieldName(f), Rule: rule}
}

// bytes returns the decoded value of string field f; it aliases the record
// unless the value has escapes.
func (r *record) bytes(f int) ([]byte, error) {
	v := r.vals[f]
	raw := r.data[v.start:v.end]
	if !v.escaped {
		return raw, nil
	}
	out, rule := unescape(raw)
	if rule != "" {
		return nil, &Error{Field: fieldName(f), Rule: rule}
	}
	return out, nil
}

// texts materializes the string fields fs (absent or null ones as "").
// Unescaped values that lie close together in the record share one
// allocation; values far apart (unknown fields between them) are copied
// separately so that a small event does not pin a large record in memory.
func (r *record) texts(fs *[4]int) ([4]string, error) {
	var out [4]string
	lo, hi, total := len(r.data), 0, 0
	for _, f := range fs {
		if v := r.vals[f]; !v.escaped && v.end > v.start {
			lo, hi = min(lo, v.start), max(hi, v.end)
			total += v.end - v.start
		}
	}
	var shared string
	if total > 0 && hi-lo <= 2*total+128 {
		shared = string(r.data[lo:hi])
	}
	for i, f := range fs {
		v := r.vals[f]
		switch {
		case v.end == v.start:
		case v.escaped:
			b, err := r.bytes(f)
			if err != nil {
				return out, err
			}
			out[i] = string(b)
		case shared != "":
			out[i] = shared[v.start-lo : v.end-lo]
		default:
			out[i] = string(r.data[v.start:v.end])
		}
	}
	return out, nil
}

// ParseTime parses s as Decode parses occurredAt: an RFC 3339 timestamp
// (upper-case T and Z, offset at most ±23:59, no leap second), returned in
// UTC. The error is an *Error for field occurredAt that quotes at most 40
// characters of s. It is for decoders of other record formats, which must
// apply the same rule.
func ParseTime(s string) (time.Time, error) {
	return parseTime([]byte(s))
}

// parseTime parses an RFC 3339 timestamp and returns it in UTC. Go's parser
// alone also accepts a comma before the fraction and offsets up to ±99:59,
// which RFC 3339 does not; rfc3339Shape rejects those. Leap seconds (":60")
// are rejected, as Go cannot represent them; digits beyond nanoseconds are
// truncated.
func parseTime(raw []byte) (time.Time, error) {
	var t time.Time
	if !rfc3339Shape(raw) || t.UnmarshalText(raw) != nil {
		return time.Time{}, &Error{Field: fieldOccurredAt, Rule: `must be an RFC 3339 timestamp like "2026-11-26T10:00:00Z"; got ` + jsontext.Excerpt(string(raw))}
	}
	return t.UTC(), nil
}

// rfc3339Shape checks the RFC 3339 date-time grammar with upper-case T and Z:
// YYYY-MM-DDTHH:MM:SS[.F+](Z|±HH:MM), with an offset of at most 23:59. Go's
// parser checks the ranges of the other parts.
func rfc3339Shape(b []byte) bool {
	const base = len("2006-01-02T15:04:05")
	if len(b) < base+1 {
		return false
	}
	const shape = "dddd-dd-ddTdd:dd:dd"
	for i := range len(shape) {
		if shape[i] == 'd' {
			if !isDigit(b[i]) {
				return false
			}
		} else if b[i] != shape[i] {
			return false
		}
	}
	rest := b[base:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		if !isDigit(rest[1]) || !isDigit(rest[2]) || !isDigit(rest[4]) || !isDigit(rest[5]) {
			return false
		}
		hh := (rest[1]-'0')*10 + rest[2] - '0'
		mm := (rest[4]-'0')*10 + rest[5] - '0'
		return hh <= 23 && mm <= 59
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
