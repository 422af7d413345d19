package formats_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/regnotify/regnotify/events/formats"
)

// TestPointerRFC6901 evaluates the examples of RFC 6901, section 5, plus
// the array-index and escaping edge cases.
func TestPointerRFC6901(t *testing.T) {
	const doc = `{"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8, "~1": 9}`
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ptr  string
		want any // nil: not found
	}{
		{"/foo/0", "bar"}, {"/foo/1", "baz"}, {"/", 0.0}, {"/a~1b", 1.0}, {"/c%d", 2.0}, {"/e^f", 3.0},
		{"/g|h", 4.0}, {"/i\\j", 5.0}, {"/k\"l", 6.0}, {"/ ", 7.0}, {"/m~0n", 8.0},
		{"/~01", 9.0}, // "~01" is "~1", not "/"
		{"/foo/2", nil}, {"/foo/-", nil}, {"/foo/01", nil}, {"/foo/x", nil}, {"/nope", nil}, {"/foo/0/x", nil},
	}
	for _, tt := range tests {
		p, err := formats.ParsePointer(tt.ptr)
		if err != nil {
			t.Fatalf("ParsePointer(%q): %v", tt.ptr, err)
		}
		got, ok := p.Lookup(v)
		if tt.want == nil {
			if ok {
				t.Errorf("Lookup(%q) = %v, want not found", tt.ptr, got)
			}
			continue
		}
		if !ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Lookup(%q) = %v, %v; want %v", tt.ptr, got, ok, tt.want)
		}
	}
	whole, err := formats.ParsePointer("")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := whole.Lookup(v); !ok || !reflect.DeepEqual(got, v) {
		t.Errorf(`Lookup("") = %v, %v; want the whole document`, got, ok)
	}
	for _, bad := range []string{"foo", "/a~2", "/a~", "#/a"} {
		if _, err := formats.ParsePointer(bad); err == nil {
			t.Errorf("ParsePointer(%q) succeeded, want an error", bad)
		}
	}
}
