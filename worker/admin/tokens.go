package admin

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Role is what a token may do.
type Role string

// The roles of the tokens file.
const (
	RoleViewer   Role = "viewer"   // GET calls
	RoleOperator Role = "operator" // every call
)

func (r Role) allows(need Role) bool { return r == RoleOperator || need == RoleViewer }

// identity is who a valid token belongs to. The token itself is kept only
// as its SHA-256, so that no copy of it sits in a session or a log field.
type identity struct {
	Name string
	Role Role
	hash [sha256.Size]byte
}

// tokens holds the tokens file's entries and re-reads the file when its
// modification time or size change (checked on every lookup: one stat).
type tokens struct {
	path string
	log  *zap.Logger

	mu      sync.Mutex
	entries []identity
	mod     time.Time
	size    int64
	badMsg  string // last reload error logged, to log each once
}

// loadTokens reads path; an unreadable or invalid file is an error.
func loadTokens(path string, log *zap.Logger) (*tokens, error) {
	t := &tokens{path: path, log: log}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("admin: tokens file: %w", err)
	}
	entries, err := readTokens(path)
	if err != nil {
		return nil, err
	}
	t.entries, t.mod, t.size = entries, fi.ModTime(), fi.Size()
	return t, nil
}

// devTokens is a single random operator token named "dev".
func devTokens() (*tokens, string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", fmt.Errorf("admin: make a token: %w", err)
	}
	tok := "rna_" + base64.RawURLEncoding.EncodeToString(b[:])
	return &tokens{entries: []identity{{Name: "dev", Role: RoleOperator, hash: sha256.Sum256([]byte(tok))}}}, tok, nil
}

// readTokens parses a tokens file: one "name role token" per line, blank
// lines and lines starting with # ignored. Errors name the line, never the
// token.
func readTokens(path string) ([]identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin: tokens file: %w", err)
	}
	var out []identity
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("admin: tokens file %s line %d: want \"name role token\", got %d fields", path, n, len(f))
		}
		role := Role(f[1])
		if role != RoleViewer && role != RoleOperator {
			return nil, fmt.Errorf("admin: tokens file %s line %d: role %q is neither viewer nor operator", path, n, f[1])
		}
		if len(f[2]) < 16 {
			return nil, fmt.Errorf("admin: tokens file %s line %d: token of %q is shorter than 16 characters", path, n, f[0])
		}
		if names[f[0]] {
			return nil, fmt.Errorf("admin: tokens file %s line %d: name %q appears twice", path, n, f[0])
		}
		names[f[0]] = true
		out = append(out, identity{Name: f[0], Role: role, hash: sha256.Sum256([]byte(f[2]))})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("admin: tokens file %s holds no token", path)
	}
	return out, nil
}

// current returns the entries, re-reading the file first if it changed. A
// file that became invalid or unreadable keeps the last good entries (and
// is logged once): a half-written edit must not lock every operator out.
func (t *tokens) current() []identity {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.path == "" {
		return t.entries
	}
	fi, err := os.Stat(t.path)
	if err == nil && fi.ModTime().Equal(t.mod) && fi.Size() == t.size {
		return t.entries
	}
	var entries []identity
	if err == nil {
		entries, err = readTokens(t.path)
	}
	if err != nil {
		if msg := err.Error(); msg != t.badMsg {
			t.log.Warn("admin tokens file: cannot reload, keeping the previous tokens", zap.Error(err))
			t.badMsg = msg
		}
		return t.entries
	}
	t.entries, t.mod, t.size, t.badMsg = entries, fi.ModTime(), fi.Size(), ""
	t.log.Info("admin tokens file reloaded", zap.String("path", t.path), zap.Int("tokens", len(entries)))
	return t.entries
}

// lookup returns the identity of token. Every entry is compared, in
// constant time over equal-length hashes, so that neither the position of
// a match nor a token's length shows in the time taken.
func (t *tokens) lookup(token string) (identity, bool) {
	if token == "" {
		return identity{}, false
	}
	h := sha256.Sum256([]byte(token))
	var found identity
	ok := 0
	for _, e := range t.current() {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			found, ok = e, 1
		}
	}
	return found, ok == 1
}

// still reports whether id is still in the file with the same token (a
// session ends when its token is removed or rotated).
func (t *tokens) still(id identity) (identity, bool) {
	for _, e := range t.current() {
		if e.Name == id.Name && subtle.ConstantTimeCompare(e.hash[:], id.hash[:]) == 1 {
			return e, true
		}
	}
	return identity{}, false
}
