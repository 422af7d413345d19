package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	yamlparser "github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// The raw shapes: go-yaml's strict decoding checks the keys (unknown and
// duplicate keys come back as typed errors with their token); every leaf is
// a *scalar holding its node, so that interpolation, type conversion and
// every message happen here, with the node's line and path.
type rawFile struct {
	Sites  []*rawSite         `yaml:"sites"`
	Quotas map[string]*scalar `yaml:"quotas"`
	Topics []*rawTopic        `yaml:"topics"`
}

type rawSite struct {
	Name              *scalar `yaml:"name"`
	APIKey            *scalar `yaml:"apiKey"`
	DataCenter        *scalar `yaml:"dataCenter"`
	BaseURL           *scalar `yaml:"baseURL"`
	Auth              *scalar `yaml:"auth"`
	UserKey           *scalar `yaml:"userKey"`
	SecretFile        *scalar `yaml:"secretFile"`
	Secret            *scalar `yaml:"secret"`
	PrivateKeyFile    *scalar `yaml:"privateKeyFile"`
	PrivateKey        *scalar `yaml:"privateKey"`
	PartnerSecretFile *scalar `yaml:"partnerSecretFile"`
	PartnerSecret     *scalar `yaml:"partnerSecret"`
	RateLimit         *scalar `yaml:"rateLimit"`
	Quota             *scalar `yaml:"quota"`
}

type rawTopic struct {
	Name     *scalar            `yaml:"name"`
	Site     *scalar            `yaml:"site"`
	SiteFrom *rawSiteFrom       `yaml:"siteFrom"`
	Lane     *scalar            `yaml:"lane"`
	Format   *scalar            `yaml:"format"`
	Type     *scalar            `yaml:"type"`
	Fields   map[string]*scalar `yaml:"fields"`
	Types    map[string]*scalar `yaml:"types"`
}

type rawSiteFrom struct {
	Header *scalar `yaml:"header"`
	Field  *scalar `yaml:"field"`
}

// scalar is one leaf of the file, kept as its node until it is converted.
type scalar struct{ node ast.Node }

// UnmarshalYAML keeps the node (go-yaml's NodeUnmarshaler).
func (s *scalar) UnmarshalYAML(n ast.Node) error {
	s.node = n
	return nil
}

// parser holds what every step needs to report an error.
type parser struct {
	name   string
	getenv Getenv
	body   ast.Node
}

func (p *parser) errf(line int, key, format string, args ...any) *Error {
	return &Error{File: p.name, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// decode parses data and decodes it strictly into the raw shapes.
//
// go-yaml v1.19.2 dereferences nil on some malformed input (FuzzParse found
// "sites:\n !\n0: #0", kept in testdata/fuzz). The file is read once at
// start, by one goroutine, into values nothing else shares, so a panic inside
// the library is turned into an error here rather than crashing the worker
// with a stack trace instead of exit 2.
func (p *parser) decode(data []byte) (raw *rawFile, err error) {
	defer func() {
		if r := recover(); r != nil {
			raw, err = nil, &Error{File: p.name, Msg: "YAML: the file cannot be decoded (the YAML library failed on it)",
				Err: fmt.Errorf("go-yaml panic: %v", r)}
		}
	}()
	f, err := yamlparser.ParseBytes(data, 0)
	if err != nil {
		return nil, p.libraryError(err)
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	switch {
	case len(docs) == 0:
		return nil, p.errf(0, "", "the file is empty; it needs sites and topics")
	case len(docs) > 1:
		return nil, p.errf(line(docs[1].Body), "", "one YAML document expected, found %d", len(docs))
	}
	p.body = docs[0].Body
	if _, ok := p.body.(*ast.MappingNode); !ok {
		if _, ok := p.body.(*ast.MappingValueNode); !ok {
			return nil, p.errf(line(p.body), "", "expected a mapping with sites, quotas and topics")
		}
	}
	// The parser above already refused a key written twice in one mapping;
	// the decoder's own check would also refuse a key that overrides one
	// merged in with `<<: *anchor`, which YAML allows.
	raw = &rawFile{}
	dec := yaml.NewDecoder(strings.NewReader(""), yaml.Strict(), yaml.AllowDuplicateMapKey())
	if err := dec.DecodeFromNode(p.body, raw); err != nil {
		return nil, p.libraryError(err)
	}
	return raw, nil
}

// libraryError turns go-yaml's typed errors into *Error. Their own Error()
// is never used: it quotes the source around the error, which may hold a
// literal secret.
func (p *parser) libraryError(err error) error {
	var (
		unknown *yaml.UnknownFieldError
		dup     *yaml.DuplicateKeyError
		typ     *yaml.TypeError
		node    *yaml.UnexpectedNodeTypeError
		other   yaml.Error
	)
	switch {
	case errors.As(err, &unknown):
		return p.errf(tokenLine(unknown.Token), p.pathOf(unknown.Token), "unknown key %q", tokenValue(unknown.Token))
	case errors.As(err, &dup):
		return p.errf(tokenLine(dup.Token), p.pathOf(dup.Token), "duplicate key %q", tokenValue(dup.Token))
	case errors.As(err, &typ):
		return p.errf(tokenLine(typ.Token), p.pathOf(typ.Token), "expected %s", kindName(typ.DstType))
	case errors.As(err, &node):
		return p.errf(tokenLine(node.Token), p.pathOf(node.Token), "expected %s, found %s",
			nodeKind(node.Expected), nodeKind(node.Actual))
	case errors.As(err, &other):
		return p.errf(tokenLine(other.GetToken()), p.pathOf(other.GetToken()), "YAML: %s", other.GetMessage())
	}
	return &Error{File: p.name, Msg: "YAML: cannot decode the file", Err: err}
}

// kindName names what a raw shape expects, in the file's words.
func kindName(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == nil:
		return "another kind of value"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "a mapping"
	}
	return "a single value"
}

// nodeKind names a YAML node type for a message.
func nodeKind(t ast.NodeType) string {
	switch t {
	case ast.MappingType, ast.MappingValueType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	}
	return "a single value"
}

// pathOf finds the node of tk in the document and returns its key path.
func (p *parser) pathOf(tk *token.Token) string {
	if tk == nil || p.body == nil {
		return ""
	}
	var found string
	ast.Walk(visitFunc(func(n ast.Node) bool {
		if found != "" {
			return false
		}
		if n.GetToken() == tk {
			found = n.GetPath()
			return false
		}
		return true
	}), p.body)
	return keyPath(found)
}

type visitFunc func(ast.Node) bool

func (f visitFunc) Visit(n ast.Node) ast.Visitor {
	if n == nil || !f(n) {
		return nil
	}
	return f
}

// keyPath turns go-yaml's "$.sites[1].secret" into "sites[1].secret".
func keyPath(p string) string {
	p = strings.TrimPrefix(p, "$")
	return strings.TrimPrefix(p, ".")
}

func tokenLine(tk *token.Token) int {
	if tk == nil {
		return 0
	}
	return tk.Position.Line
}

func tokenValue(tk *token.Token) string {
	if tk == nil {
		return ""
	}
	return tk.Value
}

func line(n ast.Node) int {
	if n == nil {
		return 0
	}
	return tokenLine(n.GetToken())
}

// itemLine is the line of the i-th entry of the list under key.
func (p *parser) itemLine(key string, i int) int {
	return p.lineAt(fmt.Sprintf("$.%s[%d]", key, i))
}

// keyLine is the line of a top-level key's value; 0 when it is absent.
func (p *parser) keyLine(key string) int { return p.lineAt("$." + key) }

func (p *parser) lineAt(at string) int {
	path, err := yaml.PathString(at)
	if err != nil {
		return 0
	}
	n, err := path.FilterNode(p.body)
	if err != nil {
		return 0
	}
	return line(n)
}

// value is a scalar after interpolation, with where it came from.
type value struct {
	text string // interpolated
	raw  string // as written, for messages
	line int
	key  string
	set  bool
}

// str converts a scalar (nil = absent) into a value, interpolating ${VAR}.
func (p *parser) str(s *scalar, key string) (value, error) {
	if s == nil || s.node == nil {
		return value{key: key}, nil
	}
	n := s.node
	if t, ok := n.(*ast.TagNode); ok && t.Value != nil {
		n = t.Value
	}
	v := value{line: line(n), key: key}
	if k := keyPath(n.GetPath()); k != "" {
		v.key = k
	}
	raw, ok := scalarText(n)
	if !ok {
		return v, p.errf(v.line, v.key, "expected a single value")
	}
	if _, null := n.(*ast.NullNode); null {
		return v, nil
	}
	text, err := interpolate(raw, p.getenv)
	if err != nil {
		return v, p.errf(v.line, v.key, "%s", err.Error())
	}
	v.text, v.raw, v.set = text, raw, true
	return v, nil
}

func scalarText(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.LiteralNode:
		if n.Value == nil {
			return "", true
		}
		return n.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode, *ast.NullNode:
		return tokenValue(n.GetToken()), true
	}
	return "", false
}

var varRef = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)

// interpolate replaces ${VAR} from getenv and $$ by $. Any other $ is kept
// as it is. An unset VAR, or a "${" that is not a well-formed reference,
// is an error naming the reference (never a value).
func interpolate(s string, getenv Getenv) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 || !varRef.MatchString(s[i:i+end+1]) {
			return "", fmt.Errorf("bad reference %q: write ${NAME} (letters, digits, _) or $$ for a literal $", clip(s[i:]))
		}
		name := s[i+2 : i+end]
		v, ok := getenv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set (${%s})", name, name)
		}
		b.WriteString(v)
		i += end
	}
	return b.String(), nil
}

// clip shortens a bad reference for its message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
