package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the main module, the parent of this one.
const repoRoot = ".."

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// regnotifyBin builds the binary from the parent module once per test run.
func regnotifyBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "regnotify-deploy-test")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "regnotify")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/regnotify")
		cmd.Dir = repoRoot
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/regnotify: %v\n%s", err, out.String())
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// flagRef mirrors the JSON of `regnotify docs --format json`.
type flagRef struct {
	Commands []struct {
		Name  string `json:"name"`
		Help  string `json:"help"`
		Flags []struct {
			Name     string   `json:"name"`
			Envs     []string `json:"envs"`
			Default  string   `json:"default"`
			Help     string   `json:"help"`
			Required bool     `json:"required"`
			Enum     []string `json:"enum"`
		} `json:"flags"`
	} `json:"commands"`
}

// command is one command's flags, indexed both ways.
type command struct {
	name   string
	flags  map[string]flagInfo // by flag name
	byEnv  map[string]flagInfo // by environment variable
	noFlag bool                // a stub without flags yet
}

type flagInfo struct {
	name, env, def string
	enum           []string
}

var (
	docsOnce sync.Once
	docsCmds map[string]*command
	docsErr  error
)

// commands returns the binary's commands, from `regnotify docs --format json`.
func commands(t *testing.T) map[string]*command {
	t.Helper()
	bin := regnotifyBin(t)
	docsOnce.Do(func() {
		out, err := exec.Command(bin, "docs", "--format", "json").Output()
		if err != nil {
			docsErr = fmt.Errorf("regnotify docs --format json: %v", err)
			return
		}
		var ref flagRef
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ref); err != nil {
			docsErr = fmt.Errorf("decode docs JSON: %v", err)
			return
		}
		docsCmds = map[string]*command{}
		for _, c := range ref.Commands {
			cmd := &command{name: c.Name, flags: map[string]flagInfo{}, byEnv: map[string]flagInfo{}, noFlag: len(c.Flags) == 0}
			for _, f := range c.Flags {
				fi := flagInfo{name: f.Name, def: f.Default, enum: f.Enum}
				if len(f.Envs) > 0 {
					fi.env = f.Envs[0]
				}
				cmd.flags[f.Name] = fi
				for _, e := range f.Envs {
					cmd.byEnv[e] = fi
				}
			}
			docsCmds[c.Name] = cmd
		}
	})
	if docsErr != nil {
		t.Fatal(docsErr)
	}
	return docsCmds
}

// cmdFor returns the named command, failing the test if the binary has no
// such command. A command that has no flags yet (a stub being written) makes
// the calling check skip, saying so.
func cmdFor(t *testing.T, name string) *command {
	t.Helper()
	c, ok := commands(t)[name]
	if !ok {
		t.Fatalf("regnotify has no command %q (docs JSON lists %v)", name, keys(commands(t)))
	}
	return c
}

// flagByName returns a flag of a command, failing the test if it is missing.
func flagByName(t *testing.T, cmd, flag string) flagInfo {
	t.Helper()
	f, ok := cmdFor(t, cmd).flags[flag]
	if !ok {
		t.Fatalf("regnotify %s has no --%s", cmd, flag)
	}
	return f
}

// metricInfo is a metric family the worker registers, with its labels.
type metricInfo struct {
	name   string
	kind   string // Counter, Gauge, Histogram, ...
	labels []string
}

// workerMetrics reads the metric families the worker registers from the
// non-test Go files of ../worker and ../worker/tracing: every
// prometheus.New<Kind>[Vec|Func](<Kind>Opts{Name: ...}, []string{labels...})
// and prometheus.NewDesc("name", help, []string{labels...}, ...) call. It
// also returns the Outcome* constants, the values of the outcome label.
func workerMetrics(t *testing.T) (map[string]metricInfo, []string) {
	t.Helper()
	metrics := map[string]metricInfo{}
	var outcomes []string
	var paths []string
	for _, dir := range []string{"worker", filepath.Join("worker", "tracing")} {
		files, err := filepath.Glob(filepath.Join(repoRoot, dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				paths = append(paths, f)
			}
		}
	}
	for _, path := range paths {
		readMetrics(t, path, metrics, &outcomes)
	}
	if len(metrics) == 0 || len(outcomes) == 0 {
		t.Fatalf("%v: found %d metrics and outcomes %v; has the way metrics are declared changed? Update workerMetrics", paths, len(metrics), outcomes)
	}
	return metrics, outcomes
}

// readMetrics adds the metrics and outcomes declared in the file at path.
func readMetrics(t *testing.T, path string, metrics map[string]metricInfo, outcomes *[]string) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	labelsOf := func(e ast.Expr) []string {
		var out []string
		if lbls, ok := e.(*ast.CompositeLit); ok {
			for _, el := range lbls.Elts {
				if s, ok := stringLit(el); ok {
					out = append(out, s)
				}
			}
		}
		return out
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for i, id := range n.Names {
				if strings.HasPrefix(id.Name, "Outcome") && i < len(n.Values) {
					if s, ok := stringLit(n.Values[i]); ok {
						*outcomes = append(*outcomes, s)
					}
				}
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok || !strings.HasPrefix(sel.Sel.Name, "New") || len(n.Args) == 0 {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "prometheus" {
				return true
			}
			if sel.Sel.Name == "NewDesc" {
				if name, ok := stringLit(n.Args[0]); ok && len(n.Args) > 2 {
					metrics[name] = metricInfo{name: name, kind: "Desc", labels: labelsOf(n.Args[2])}
				}
				return true
			}
			opts, ok := n.Args[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			kind := strings.TrimPrefix(sel.Sel.Name, "New")
			kind = strings.TrimSuffix(strings.TrimSuffix(kind, "Vec"), "Func")
			mi := metricInfo{kind: kind}
			for _, el := range opts.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
						mi.name, _ = stringLit(kv.Value)
					}
				}
			}
			if len(n.Args) > 1 {
				mi.labels = labelsOf(n.Args[1])
			}
			if mi.name != "" {
				metrics[mi.name] = mi
			}
		}
		return true
	})
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
