// Package jsontext holds the small JSON-scanning helpers and the field table
// that package events (the regnotify event format) and package events/formats
// (the other record formats) share, so that both decoders read escapes, name
// value kinds and quote excerpts the same way.
//
// It is not a JSON parser: each package keeps its own scanner, tuned to what
// it checks.
package jsontext

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The indices of the event fields, in the order of events.Event.
const (
	EventID = iota
	Type
	OccurredAt
	UID
	SiteUID
	CID
	NumFields
)

// FieldNames are the JSON names of the event fields, by index.
var FieldNames = [NumFields]string{"eventId", "type", "occurredAt", "uid", "siteUid", "cid"}

// IsHex reports whether c is a hexadecimal digit.
func IsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// HexRune returns the value of the hexadecimal digits b (checked by IsHex).
func HexRune(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// AppendUnescaped appends to dst the content raw of a JSON string whose
// escapes are already checked well-formed, decoded as encoding/json decodes
// it: an unpaired UTF-16 surrogate escape becomes U+FFFD. unpaired is the
// first such surrogate, or -1 if there is none.
func AppendUnescaped(dst, raw []byte) (out []byte, unpaired rune) {
	unpaired = -1
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			return append(dst, raw[i:]...), unpaired
		}
		dst = append(dst, raw[i:i+j]...)
		i += j
		switch c := raw[i+1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := HexRune(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = HexRune(raw[i+2 : i+6])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					if unpaired < 0 {
						unpaired = r
					}
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		i += 2
	}
	return dst, unpaired
}

// KindAt names the JSON type of the value starting with c, or "" if no value
// starts with c.
func KindAt(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "number"
	}
	return ""
}

// Excerpt quotes s for an error message, shortened to 40 characters.
func Excerpt(s string) string {
	const max = 40
	n := 0
	for i := range s {
		if n == max {
			return strconv.Quote(s[:i]) + "..."
		}
		n++
	}
	return strconv.Quote(s)
}
