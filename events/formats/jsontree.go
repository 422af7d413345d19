package formats

import (
	"encoding/json"
)

// parseJSONTree decodes one JSON value (already size- and UTF-8-checked)
// into the generic tree JSON Schema validation needs: map[string]any,
// []any, string, json.Number (exact, for minimum, multipleOf, ...), bool
// and nil. It accepts and rejects what encoding/json with UseNumber does
// (the last of duplicate keys wins, an unpaired surrogate escape becomes
// U+FFFD), in one pass; strings and numbers without escapes are substrings
// of one copy of the record, so the tree costs little more than its maps
// and the boxing of its values.
func parseJSONTree(b []byte) (any, error) {
	return parseJSONTreeReusing(b, nil)
}

// parseJSONTreeReusing is parseJSONTree taking its objects from maps
// (may be nil) while it has any.
func parseJSONTreeReusing(b []byte, maps *treeMaps) (any, error) {
	w := jsonWalk{data: b, maps: maps}
	text := string(b)
	w.space()
	v, err := w.tree(0, text)
	if err != nil {
		return nil, err
	}
	w.space()
	if w.pos != len(b) {
		return nil, w.syntax("trailing data after the value")
	}
	return v, nil
}

// tree decodes the value at pos, depth containers deep; text is the
// record as a string.
func (w *jsonWalk) tree(depth int, text string) (any, error) {
	if w.pos == len(w.data) {
		return nil, w.syntax("want a value")
	}
	switch c := w.data[w.pos]; c {
	case '{', '[':
		if depth+1 > maxJSONDepth {
			return nil, w.syntax("exceeded max depth")
		}
		if c == '{' {
			return w.treeObject(depth, text)
		}
		return w.treeArray(depth, text)
	case '"':
		return w.treeString(text)
	case 't':
		return true, w.literal("true")
	case 'f':
		return false, w.literal("false")
	case 'n':
		return nil, w.literal("null")
	}
	start := w.pos
	if err := w.number(); err != nil {
		return nil, err
	}
	return json.Number(text[start:w.pos]), nil
}

func (w *jsonWalk) treeString(text string) (string, error) {
	start, end, escaped, err := w.str()
	if err != nil {
		return "", err
	}
	if escaped {
		return string(unescaped(w.data[start:end])), nil
	}
	return text[start:end], nil
}

func (w *jsonWalk) treeObject(depth int, text string) (any, error) {
	m := w.maps.get()
	w.pos++
	w.space()
	if w.pos < len(w.data) && w.data[w.pos] == '}' {
		w.pos++
		return m, nil
	}
	for {
		w.space()
		if w.pos == len(w.data) || w.data[w.pos] != '"' {
			return nil, w.syntax("want an object key (a string)")
		}
		k, err := w.treeString(text)
		if err != nil {
			return nil, err
		}
		w.space()
		if w.pos == len(w.data) || w.data[w.pos] != ':' {
			return nil, w.syntax("want ':' after an object key")
		}
		w.pos++
		w.space()
		v, err := w.tree(depth+1, text)
		if err != nil {
			return nil, err
		}
		m[k] = v
		if done, err := w.more('}'); done || err != nil {
			return m, err
		}
	}
}

func (w *jsonWalk) treeArray(depth int, text string) (any, error) {
	a := []any{}
	w.pos++
	w.space()
	if w.pos < len(w.data) && w.data[w.pos] == ']' {
		w.pos++
		return a, nil
	}
	for {
		w.space()
		v, err := w.tree(depth+1, text)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		if done, err := w.more(']'); done || err != nil {
			return a, err
		}
	}
}

// treeMaps are emptied objects of parsed trees, for the next tree: a
// decoder gives a tree back once nothing refers to its maps (the event's
// strings alias the record's copy, not the maps).
type treeMaps struct{ free []map[string]any }

// maxTreeMaps caps how many maps a treeMaps keeps; treeMapSize is the
// largest map it keeps, so a huge record does not stay pinned.
const maxTreeMaps, treeMapSize = 32, 16

func (t *treeMaps) get() map[string]any {
	if t == nil || len(t.free) == 0 {
		return make(map[string]any)
	}
	m := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	return m
}

// put gives back the maps of tree v, which must not be used after.
func (t *treeMaps) put(v any) {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			t.put(e)
		}
		if len(v) <= treeMapSize && len(t.free) < maxTreeMaps {
			clear(v)
			t.free = append(t.free, v)
		}
	case []any:
		for _, e := range v {
			t.put(e)
		}
	}
}
