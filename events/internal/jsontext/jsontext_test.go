package jsontext

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAppendUnescaped(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		want     string
		unpaired rune
	}{
		{"plain", `abc`, "abc", -1},
		{"simple escapes", `a\"\\\/\b\f\n\r\tz`, "a\"\\/\b\f\n\r\tz", -1},
		{"bmp", `\u00e9\u20AC`, "é€", -1},
		{"pair", `\ud83d\ude00`, "😀", -1},
		{"lone high", `x\ud83dy`, "x\uFFFDy", 0xd83d},
		{"lone low then lone high", `\ude00\ud83d`, "\uFFFD\uFFFD", 0xde00},
		{"high then non-surrogate", `\ud83d\u0041`, "\uFFFDA", 0xd83d},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unpaired := AppendUnescaped([]byte(">"), []byte(tt.raw))
			if string(got) != ">"+tt.want || unpaired != tt.unpaired {
				t.Errorf("AppendUnescaped(%q) = %q, %#x; want %q, %#x", tt.raw, got, unpaired, ">"+tt.want, tt.unpaired)
			}
		})
	}
}

func TestKindAt(t *testing.T) {
	tests := []struct {
		c    byte
		want string
	}{
		{'{', "object"}, {'[', "array"}, {'"', "string"}, {'t', "boolean"}, {'f', "boolean"},
		{'n', "null"}, {'-', "number"}, {'0', "number"}, {'9', "number"}, {'x', ""}, {'}', ""},
	}
	for _, tt := range tests {
		if got := KindAt(tt.c); got != tt.want {
			t.Errorf("KindAt(%q) = %q; want %q", tt.c, got, tt.want)
		}
	}
}

func TestHex(t *testing.T) {
	for _, c := range []byte("0123456789abcdefABCDEF") {
		if !IsHex(c) {
			t.Errorf("IsHex(%q) = false; want true", c)
		}
	}
	for _, c := range []byte("gG/:@`x \"") {
		if IsHex(c) {
			t.Errorf("IsHex(%q) = true; want false", c)
		}
	}
	if got := HexRune([]byte("aF09")); got != 0xaf09 {
		t.Errorf("HexRune(aF09) = %#x; want 0xaf09", got)
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct{ s, want string }{
		{"", `""`},
		{"a\nb", `"a\nb"`},
		{strings.Repeat("é", 40), `"` + strings.Repeat("é", 40) + `"`},
		{strings.Repeat("é", 41), `"` + strings.Repeat("é", 40) + `"...`},
	}
	for _, tt := range tests {
		if got := Excerpt(tt.s); got != tt.want {
			t.Errorf("Excerpt(%q) = %s; want %s", tt.s, got, tt.want)
		}
	}
}

func TestFieldNames(t *testing.T) {
	want := [NumFields]string{EventID: "eventId", Type: "type", OccurredAt: "occurredAt", UID: "uid", SiteUID: "siteUid", CID: "cid"}
	if FieldNames != want {
		t.Errorf("FieldNames = %q; want %q", FieldNames, want)
	}
}
