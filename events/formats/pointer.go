package formats

import (
	"errors"
	"strconv"
	"strings"
)

// Pointer is a parsed JSON Pointer (RFC 6901): the reference tokens, with
// "~1" and "~0" already unescaped to "/" and "~".
type Pointer struct {
	text   string
	tokens []string
}

// ParsePointer parses s as an RFC 6901 JSON Pointer. The empty string is the
// whole document; any other pointer starts with "/", and a "~" in it must be
// followed by "0" (for "~") or "1" (for "/").
func ParsePointer(s string) (Pointer, error) {
	if s == "" {
		return Pointer{}, nil
	}
	if s[0] != '/' {
		return Pointer{}, errors.New(`a JSON Pointer starts with "/"`)
	}
	parts := strings.Split(s[1:], "/")
	for i, p := range parts {
		if !strings.Contains(p, "~") {
			continue
		}
		for j := 0; j < len(p); j++ {
			if p[j] == '~' && (j+1 == len(p) || p[j+1] != '0' && p[j+1] != '1') {
				return Pointer{}, errors.New(`"~" must be followed by "0" or "1" in a JSON Pointer`)
			}
		}
		// Order matters (RFC 6901, section 4): "~01" is "~1", not "/".
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return Pointer{text: s, tokens: parts}, nil
}

// String returns the pointer as it was written.
func (p Pointer) String() string { return p.text }

// Lookup returns the value p points to in doc, a tree of map[string]any and
// []any (as encoding/json, jsonschema and hamba/avro's generic decoding
// produce), and whether there is one. An array index is "0" or a decimal
// without leading zeros; "-" (past the end) finds nothing.
func (p Pointer) Lookup(doc any) (any, bool) {
	v := doc
	for _, tok := range p.tokens {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[tok]; !ok {
				return nil, false
			}
		case []any:
			i, ok := arrayIndex(tok, len(c))
			if !ok {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func arrayIndex(tok string, n int) (int, bool) {
	if tok == "" || len(tok) > 1 && tok[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i >= n {
		return 0, false
	}
	return i, true
}
