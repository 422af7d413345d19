package deploy

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dockerfile is what the tests need of deploy/Dockerfile.
type dockerfile struct {
	args       map[string]string // ARG defaults
	stages     []dockerStage
	buildLine  string // the RUN line with `go build`
	cmd        []string
	entrypoint []string
	user       string
	expose     []string
}

type dockerStage struct {
	from, name string
}

// dockerInstructions joins continuation lines and drops comments.
func dockerInstructions(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

func parseDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	df := &dockerfile{args: map[string]string{}}
	for _, ins := range dockerInstructions(string(readFile(t, "Dockerfile"))) {
		op, rest, _ := strings.Cut(ins, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(op) {
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			if _, seen := df.args[k]; !seen {
				df.args[k] = v
			}
		case "FROM":
			f := strings.Fields(rest)
			var st dockerStage
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					st.name = f[i+1]
					i++
				default:
					st.from = f[i]
				}
			}
			df.stages = append(df.stages, st)
			// CMD, ENTRYPOINT, USER and EXPOSE of the last stage count.
			df.cmd, df.entrypoint, df.user, df.expose = nil, nil, "", nil
		case "RUN":
			if strings.Contains(rest, "go build") {
				df.buildLine = rest
			}
		case "CMD", "ENTRYPOINT":
			var v []string
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("Dockerfile: %s %s: want the exec (JSON) form: %v", op, rest, err)
			}
			if strings.EqualFold(op, "CMD") {
				df.cmd = v
			} else {
				df.entrypoint = v
			}
		case "USER":
			df.user = rest
		case "EXPOSE":
			df.expose = strings.Fields(rest)
		}
	}
	return df
}

// goBuild is a `go build` command line: the package and the -X variables.
type goBuild struct {
	pkg     string
	xVars   []string
	trimp   bool
	cgoZero bool
}

var xVarRE = regexp.MustCompile(`-X\s+([A-Za-z0-9_./]+)=`)

func parseGoBuild(line string) goBuild {
	var gb goBuild
	for _, m := range xVarRE.FindAllStringSubmatch(line, -1) {
		gb.xVars = append(gb.xVars, m[1])
	}
	slices.Sort(gb.xVars)
	_, after, _ := strings.Cut(line, "go build")
	if i := strings.Index(line, "$(GO) build"); i >= 0 {
		after = line[i+len("$(GO) build"):]
	}
	// Quoted -ldflags values contain spaces: drop quoted spans first.
	unquoted := regexp.MustCompile(`'[^']*'|"[^"]*"`).ReplaceAllString(after, "")
	for _, f := range strings.Fields(unquoted) {
		if strings.HasPrefix(f, "./") {
			gb.pkg = f
		}
	}
	gb.trimp = strings.Contains(after, "-trimpath")
	gb.cgoZero = strings.Contains(line, "CGO_ENABLED=0")
	return gb
}

// makefileBuild returns the `go build` line of the Makefile's build target,
// with $(LDFLAGS) and friends expanded from the Makefile's variables.
func makefileBuild(t *testing.T) (goBuild, map[string][]string) {
	t.Helper()
	src := string(readFile(t, filepath.Join(repoRoot, "Makefile")))
	vars := map[string]string{}
	targets := map[string][]string{}
	var target string
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "\t") {
			if target != "" {
				targets[target] = append(targets[target], strings.TrimSpace(line))
			}
			continue
		}
		target = ""
		if m := regexp.MustCompile(`^([A-Z_]+)\s*[:?]?=\s*(.*)$`).FindStringSubmatch(line); m != nil {
			vars[m[1]] = m[2]
			continue
		}
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, " ") && !strings.HasPrefix(name, ".") && name != "" {
			target = name
		}
	}
	expand := func(s string) string {
		for i := 0; i < 5; i++ {
			s = regexp.MustCompile(`\$\(([A-Z_]+)\)`).ReplaceAllStringFunc(s, func(m string) string {
				name := m[2 : len(m)-1]
				if name == "GO" {
					return m
				}
				if v, ok := vars[name]; ok {
					return v
				}
				return m
			})
		}
		return s
	}
	for _, line := range targets["build"] {
		if strings.Contains(line, " build") {
			return parseGoBuild(expand(line)), targets
		}
	}
	t.Fatalf("Makefile: no go build line in the build target (targets: %v)", keys(targets))
	return goBuild{}, nil
}

// mainVars are the package-level string variables of cmd/regnotify.
func mainVars(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join(repoRoot, "cmd", "regnotify")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, s := range gd.Specs {
					for _, n := range s.(*ast.ValueSpec).Names {
						out = append(out, "main."+n.Name)
					}
				}
			}
		}
	}
	return out
}

func TestDockerfileBuildsWhatTheMakefileBuilds(t *testing.T) {
	df := parseDockerfile(t)
	if df.buildLine == "" {
		t.Fatal("Dockerfile: no RUN with go build")
	}
	dgb := parseGoBuild(df.buildLine)
	mgb, targets := makefileBuild(t)
	if dgb.pkg == "" || dgb.pkg != mgb.pkg {
		t.Errorf("Dockerfile builds package %q, the Makefile %q", dgb.pkg, mgb.pkg)
	}
	if !slices.Equal(dgb.xVars, mgb.xVars) || len(dgb.xVars) == 0 {
		t.Errorf("Dockerfile stamps %v with -X, the Makefile %v", dgb.xVars, mgb.xVars)
	}
	vars := mainVars(t)
	for _, v := range dgb.xVars {
		if !slices.Contains(vars, v) {
			t.Errorf("-X %s: cmd/regnotify has no such variable (has %v)", v, vars)
		}
	}
	if !dgb.trimp || !dgb.cgoZero {
		t.Errorf("Dockerfile go build: want -trimpath and CGO_ENABLED=0 (a static binary for distroless)")
	}

	// The builder's Go is the module's.
	gomod := string(readFile(t, filepath.Join(repoRoot, "go.mod")))
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod: no go directive")
	}
	if got := df.args["GO_VERSION"]; got != m[1] {
		t.Errorf("Dockerfile ARG GO_VERSION=%s, go.mod says go %s", got, m[1])
	}
	if !strings.HasPrefix(df.stages[0].from, "golang:") {
		t.Errorf("Dockerfile first stage FROM %s, want golang:", df.stages[0].from)
	}

	// If the Makefile has an image target, it builds this Dockerfile with the
	// same VERSION and COMMIT.
	if lines, ok := targets["image"]; ok {
		joined := strings.Join(lines, " ")
		for _, want := range []string{"deploy/Dockerfile", "VERSION=", "COMMIT="} {
			if !strings.Contains(joined, want) {
				t.Errorf("Makefile image target lacks %q: %s", want, joined)
			}
		}
	}
}

func TestDockerImageRunsTheWorkerAsNonRoot(t *testing.T) {
	df := parseDockerfile(t)
	last := df.stages[len(df.stages)-1]
	if !strings.HasPrefix(last.from, "gcr.io/distroless/static") || !strings.Contains(last.from, "nonroot") {
		t.Errorf("final stage FROM %s: want distroless static, nonroot", last.from)
	}
	uid, _, _ := strings.Cut(df.user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root user (Kubernetes can verify runAsNonRoot only then)", df.user)
	}
	if len(df.entrypoint) != 1 || filepath.Base(df.entrypoint[0]) != "regnotify" {
		t.Errorf("ENTRYPOINT %v, want the regnotify binary", df.entrypoint)
	}
	if len(df.cmd) == 0 {
		t.Fatal("no CMD")
	}
	cmdFor(t, df.cmd[0])
	if df.cmd[0] != "run" {
		t.Errorf("CMD %v, want [run]", df.cmd)
	}
	_, port, _ := net.SplitHostPort(flagByName(t, "run", "http-addr").def)
	if !slices.Contains(df.expose, port) {
		t.Errorf("EXPOSE %v, want the --http-addr port %s", df.expose, port)
	}
}
