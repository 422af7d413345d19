// Package events decodes, validates and encodes the records regnotify consumes:
// one JSON event per Kafka record value, as the "Events" section of the
// product contract defines them.
//
// It is pure: no I/O, no logging, no clock, no globals. It does not know about
// Kafka (the caller passes the topic name and the record value), about Gigya,
// or about dead-lettering; it only says whether a record is a valid event and,
// if not, which field breaks which rule (see [Error]).
//
// Decode is stricter than encoding/json where encoding/json is silently
// lenient:
//   - field names match exactly ("UID" is an unknown field, not uid);
//   - a key that appears twice at the top level is an error, not "last wins";
//   - invalid UTF-8 is an error, not replaced with U+FFFD;
//   - string fields must not contain control characters, escaped or not;
//   - nesting in unknown fields is limited to 32 levels;
//   - a record over [MaxRecordSize] bytes is rejected before it is parsed.
//
// Unknown fields are ignored (but must be well-formed JSON).
package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regnotify/regnotify/events/internal/jsontext"
)

// MaxRecordSize is the largest record value, in bytes, that Decode accepts.
const MaxRecordSize = 64 << 10

// Limits on field lengths. Lengths are counted in characters (Unicode code
// points), except siteUid, which is ASCII, so characters and bytes agree.
const (
	maxEventIDLen = 128
	// maxUIDLen is a generous bound, not Gigya's rule: Gigya UIDs are 32 hex
	// characters, "_gid_" plus base64, or a former siteUID (at most 252).
	maxUIDLen     = 256
	maxSiteUIDLen = 252
	maxCIDLen     = 100
)

// Type is the kind of an event. Its values are the two constants below.
type Type string

// The event types of the contract. Each is also the name (or the name's
// suffix) of the topic that carries it.
const (
	UserRegistered Type = "user.registered"
	AccountLinked  Type = "account.linked"
)

// TypeFromTopic returns the event type that topic names, and whether it names
// one. A topic names type T if it equals T or ends with T preceded by one of
// the separators '.', '-' or '_': "user.registered", "prod.user.registered",
// "acme-user.registered" and "eu_account.linked" name a type;
// "myuser.registered", "User.Registered" and "regnotify.dlq" do not. Topic
// names are case-sensitive, as in Kafka.
func TypeFromTopic(topic string) (Type, bool) {
	for _, t := range [...]Type{UserRegistered, AccountLinked} {
		s := string(t)
		if !strings.HasSuffix(topic, s) {
			continue
		}
		if len(topic) == len(s) {
			return t, true
		}
		switch topic[len(topic)-len(s)-1] {
		case '.', '-', '_':
			return t, true
		}
	}
	return "", false
}

// Event is one decoded and validated event.
type Event struct {
	// EventID identifies the event; redeliveries carry the same EventID.
	EventID string `json:"eventId"`
	// Type is always set on an event returned by Decode.
	Type Type `json:"type,omitempty"`
	// OccurredAt is when the event happened, in UTC; zero if absent.
	OccurredAt time.Time `json:"occurredAt,omitzero"`
	// UID is the Gigya UID of the account.
	UID string `json:"uid"`
	// SiteUID is the site's own id for the account; set on every
	// AccountLinked event, optional on UserRegistered.
	SiteUID string `json:"siteUid,omitempty"`
	// CID is an optional context id passed through to Gigya.
	CID string `json:"cid,omitempty"`
}

// JSON names of the fields, used in error messages.
const (
	fieldEventID    = "eventId"
	fieldType       = "type"
	fieldOccurredAt = "occurredAt"
	fieldUID        = "uid"
	fieldSiteUID    = "siteUid"
	fieldCID        = "cid"
)

// Validate checks every rule of the contract that does not need the raw
// record: eventId non-empty, at most 128 characters; Type one of the two
// constants; OccurredAt, if set, within the years 0000-9999 (what RFC 3339
// can express); uid non-empty, at most 256 characters; siteUid set for
// AccountLinked, and if set printable ASCII (0x20-0x7E), at most 252
// characters and different from uid; cid at most 100 characters. All strings
// must be valid UTF-8 without control characters (C0, DEL, C1). The error is
// an *Error naming the first field, in the order above, that breaks a rule.
func (e Event) Validate() error {
	if e.EventID == "" {
		return &Error{Field: fieldEventID, Rule: "must not be empty"}
	}
	if err := checkText(fieldEventID, e.EventID, maxEventIDLen); err != nil {
		return err
	}
	switch e.Type {
	case UserRegistered, AccountLinked:
	case "":
		return &Error{Field: fieldType, Rule: "must be set"}
	default:
		return &Error{Field: fieldType, Rule: "unknown type " + jsontext.Excerpt(string(e.Type)) + `; want "user.registered" or "account.linked"`}
	}
	if !e.OccurredAt.IsZero() {
		if y := e.OccurredAt.UTC().Year(); y < 0 || y > 9999 {
			return &Error{Field: fieldOccurredAt, Rule: "year " + strconv.Itoa(y) + " is outside 0000-9999 (in UTC)"}
		}
	}
	if e.UID == "" {
		return &Error{Field: fieldUID, Rule: "must not be empty"}
	}
	if err := checkText(fieldUID, e.UID, maxUIDLen); err != nil {
		return err
	}
	if e.SiteUID == "" {
		if e.Type == AccountLinked {
			return &Error{Field: fieldSiteUID, Rule: "required for account.linked events"}
		}
	} else {
		for i := 0; i < len(e.SiteUID); i++ {
			if c := e.SiteUID[i]; c < 0x20 || c > 0x7e {
				return &Error{Field: fieldSiteUID, Rule: "must be printable ASCII (0x20-0x7E); found " + describeByteAt(e.SiteUID, i) + " at byte " + strconv.Itoa(i)}
			}
		}
		if len(e.SiteUID) > maxSiteUIDLen {
			return &Error{Field: fieldSiteUID, Rule: tooLong(len(e.SiteUID), maxSiteUIDLen)}
		}
		if e.SiteUID == e.UID {
			return &Error{Field: fieldSiteUID, Rule: "must differ from uid"}
		}
	}
	if e.CID != "" {
		if err := checkText(fieldCID, e.CID, maxCIDLen); err != nil {
			return err
		}
	}
	return nil
}

// checkText checks that s is valid UTF-8, has no control characters and is
// at most max characters long.
func checkText(field, s string, max int) error {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return controlErr(field, rune(c), i)
			}
			i++
			n++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return &Error{Field: field, Rule: "must be valid UTF-8; invalid byte at " + strconv.Itoa(i)}
		}
		if r >= 0x80 && r <= 0x9f {
			return controlErr(field, r, i)
		}
		i += size
		n++
	}
	if n > max {
		return &Error{Field: field, Rule: tooLong(n, max)}
	}
	return nil
}

func controlErr(field string, r rune, at int) *Error {
	return &Error{Field: field, Rule: fmt.Sprintf("contains control character U+%04X at byte %d", r, at)}
}

func tooLong(n, max int) string {
	return "is " + strconv.Itoa(n) + " characters long; at most " + strconv.Itoa(max) + " allowed"
}

// describeByteAt names the character starting at byte i of s for an error
// message without quoting the value around it.
func describeByteAt(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte 0x%02x", s[i])
	}
	return fmt.Sprintf("U+%04X", r)
}

// Encode returns the canonical JSON of e: the fields in the order of Event,
// optional ones omitted when empty, occurredAt in UTC (RFC 3339, with
// fractional seconds only when non-zero), no insignificant whitespace. It
// validates e first, so Decode accepts what Encode returns and yields e back
// (with OccurredAt in UTC and without a monotonic clock reading).
func Encode(e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	// 128 covers the names, punctuation, type and timestamp.
	b := make([]byte, 0, 128+len(e.EventID)+len(e.UID)+len(e.SiteUID)+len(e.CID))
	b = append(b, `{"eventId":`...)
	b = appendString(b, e.EventID)
	b = append(b, `,"type":`...)
	b = appendString(b, string(e.Type))
	if !e.OccurredAt.IsZero() {
		b = append(b, `,"occurredAt":"`...)
		b = e.OccurredAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"uid":`...)
	b = appendString(b, e.UID)
	if e.SiteUID != "" {
		b = append(b, `,"siteUid":`...)
		b = appendString(b, e.SiteUID)
	}
	if e.CID != "" {
		b = append(b, `,"cid":`...)
		b = appendString(b, e.CID)
	}
	return append(b, '}'), nil
}

// appendString appends s as a JSON string. s is valid UTF-8 (Validate checked
// it), so only quotes, backslashes and control characters need escaping;
// control characters cannot occur in a valid event but are escaped anyway.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// LinkEventID returns the eventId bulk-link gives the account.linked event
// for (uid, siteUID): "link-" followed by the hex SHA-256 of a length-prefixed
// encoding of both, 69 characters. It is deterministic, so rerunning a bulk
// link produces the same eventIds; changing it would break that, so don't.
// The length prefixes keep ("a", "bc") and ("ab", "c") apart.
func LinkEventID(uid, siteUID string) string {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte("regnotify.link.v1\x00"))
	binary.BigEndian.PutUint64(n[:], uint64(len(uid)))
	h.Write(n[:])
	h.Write([]byte(uid))
	binary.BigEndian.PutUint64(n[:], uint64(len(siteUID)))
	h.Write(n[:])
	h.Write([]byte(siteUID))
	var sum [sha256.Size]byte
	return "link-" + hex.EncodeToString(h.Sum(sum[:0]))
}

// Error is every validation failure of Decode, Validate and Encode.
//
// Its message never contains the record. It quotes (escaped, at most 40
// characters) only values that are safe and useful to show, such as an
// unknown type or a malformed timestamp; never uid, siteUid, cid or eventId.
type Error struct {
	// Field is the JSON name of the offending field, or "" if the problem
	// is with the record as a whole (size, encoding, JSON syntax, nesting).
	Field string
	// Rule says, in words, what is wrong.
	Rule string
	// Source, when set, says where Field was read from in a record of
	// another format (package events/formats): a JSON Pointer such as
	// "/data/gigyaUid" or a header such as "header ce_type". Decode leaves
	// it empty: its fields are the record's top-level keys.
	Source string
}

// Error returns "invalid event: field "<Field>": <Rule>", or
// "invalid event: <Rule>" when Field is empty; a Source follows the field
// in parentheses: "invalid event: field "uid" (/data/gigyaUid): <Rule>".
func (e *Error) Error() string {
	switch {
	case e.Field == "" && e.Source == "":
		return "invalid event: " + e.Rule
	case e.Field == "":
		return "invalid event: " + e.Source + ": " + e.Rule
	case e.Source == "":
		return "invalid event: field " + strconv.Quote(e.Field) + ": " + e.Rule
	}
	return "invalid event: field " + strconv.Quote(e.Field) + " (" + e.Source + "): " + e.Rule
}
