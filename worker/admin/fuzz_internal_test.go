package admin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadTokens: any tokens file either parses into valid entries or is
// refused with an error that never contains a token-looking field.
func FuzzReadTokens(f *testing.F) {
	for _, s := range []string{
		"alice operator 0123456789abcdef0123\n",
		"# c\n\nbob viewer abcdefghijklmnopqrstu\nalice operator 0123456789abcdef0123",
		"alice admin 0123456789abcdef0123",
		"alice operator short",
		"a viewer 0123456789abcdef0123\na viewer 0123456789abcdef0124",
		"x y",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(dir, "tokens")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		ids, err := readTokens(path)
		if err != nil {
			for _, line := range strings.Split(content, "\n") {
				if f := strings.Fields(line); len(f) == 3 && len(f[2]) >= 16 && strings.Contains(err.Error(), f[2]) {
					t.Fatalf("error %q contains the token %q", err, f[2])
				}
			}
			return
		}
		if len(ids) == 0 {
			t.Fatal("no error and no tokens")
		}
		for _, id := range ids {
			if id.Role != RoleViewer && id.Role != RoleOperator {
				t.Fatalf("role %q accepted", id.Role)
			}
		}
	})
}

// FuzzCursor: a cursor either decodes or is refused; what this server
// encodes always decodes to the same offsets.
func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(map[int]int64{0: 5, 3: 0}))
	f.Add("")
	f.Add("!!")
	f.Add("e30")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		back, err := decodeCursor(encodeCursor(c))
		if err != nil || len(back) != len(c) {
			t.Fatalf("round trip of %v: %v, %v", c, back, err)
		}
		for p, o := range c {
			if back[p] != o {
				t.Fatalf("round trip of %v: %v", c, back)
			}
		}
	})
}

// FuzzParseOffsets: accepted "p:o" pairs are never negative.
func FuzzParseOffsets(f *testing.F) {
	for _, s := range []string{"0:1", "3:99999", "-1:2", "a:b", ":", "1:", "2:-5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		offs, err := parseOffsets([]string{s})
		if err != nil {
			return
		}
		if len(offs) != 1 || offs[0].Partition < 0 || offs[0].Offset < 0 {
			t.Fatalf("parseOffsets(%q) = %v", s, offs)
		}
	})
}
