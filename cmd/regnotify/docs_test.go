package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// configurationDoc is the committed output of `regnotify docs` (make docs).
var configurationDoc = filepath.Join("..", "..", "deploy", "CONFIGURATION.md")

func runDocs(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), append([]string{"docs"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("regnotify docs %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.String()
}

func TestDocsJSONListsTheContractFlags(t *testing.T) {
	var ref docsRef
	dec := json.NewDecoder(strings.NewReader(runDocs(t, "--format", "json")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ref); err != nil {
		t.Fatalf("decode docs JSON: %v", err)
	}
	cmds := map[string]docsCommand{}
	for _, c := range ref.Commands {
		cmds[c.Name] = c
	}
	for _, name := range []string{"run", "dev", "replay", "bulk-link", "gigya-sim", "version"} {
		if _, ok := cmds[name]; !ok {
			t.Errorf("command %q missing from docs JSON; got %v", name, ref.Commands)
		}
	}
	if _, ok := cmds["docs"]; ok {
		t.Error("hidden command docs is listed; want hidden commands left out")
	}

	run := map[string]docsFlag{}
	for _, f := range cmds["run"].Flags {
		run[f.Name] = f
		if len(f.Envs) == 0 {
			t.Errorf("run --%s has no environment variable; the contract says every flag has one", f.Name)
		}
		if f.Name == "help" {
			t.Error("run lists kong's --help flag")
		}
	}
	for _, tc := range []struct{ flag, env, def string }{
		{"brokers", "KAFKA_BROKERS", ""},
		{"group", "KAFKA_GROUP_ID", "regnotify"},
		{"dlq-topic", "KAFKA_DLQ_TOPIC", "regnotify.dlq"},
		{"gigya-api-key", "GIGYA_API_KEY", ""},
		{"gigya-secret-file", "GIGYA_SECRET_FILE", ""},
		{"gigya-partner-secret-file", "GIGYA_PARTNER_SECRET_FILE", ""},
		{"kafka-sasl-password-file", "KAFKA_SASL_PASSWORD_FILE", ""},
		{"http-addr", "REGNOTIFY_HTTP_ADDR", ":8080"},
		{"shutdown-timeout", "REGNOTIFY_SHUTDOWN_TIMEOUT", "30s"},
	} {
		f, ok := run[tc.flag]
		if !ok {
			t.Errorf("run --%s missing", tc.flag)
			continue
		}
		if len(f.Envs) != 1 || f.Envs[0] != tc.env {
			t.Errorf("run --%s envs = %v, want [%s]", tc.flag, f.Envs, tc.env)
		}
		if f.Default != tc.def {
			t.Errorf("run --%s default = %q, want %q", tc.flag, f.Default, tc.def)
		}
	}
	if got := run["gigya-auth"].Enum; strings.Join(got, ",") != ",bearer,secret,signed" {
		t.Errorf("run --gigya-auth enum = %q, want [\"\" bearer secret signed]", got)
	}
}

func TestDocsMarkdownHasATablePerCommand(t *testing.T) {
	md := runDocs(t)
	for _, want := range []string{
		"## `regnotify run`",
		"## `regnotify gigya-sim`",
		"| `--brokers` | `KAFKA_BROKERS` |",
		"| `--http-addr` | `REGNOTIFY_HTTP_ADDR` | `:8080` |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if md != runDocs(t, "--format", "markdown") {
		t.Error("default format differs from --format markdown")
	}
}

func TestDocsBadFormatIsUsageError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"docs", "--format", "yaml"}, &stdout, &stderr); code != 2 {
		t.Errorf("docs --format yaml: exit %d, want 2; stderr:\n%s", code, stderr.String())
	}
}

func TestDocsIsHiddenFromHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	Main(context.Background(), []string{"--help"}, &stdout, &stderr)
	if strings.Contains(stdout.String(), "docs") {
		t.Errorf("--help mentions the hidden docs command:\n%s", stdout.String())
	}
}

// TestConfigurationReferenceIsCurrent keeps deploy/CONFIGURATION.md in step
// with the flag definitions.
func TestConfigurationReferenceIsCurrent(t *testing.T) {
	want := runDocs(t)
	got, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatalf("read %s: %v; run make docs", configurationDoc, err)
	}
	if string(got) != want {
		t.Fatalf("%s is not what `regnotify docs` prints now (a flag changed): run make docs and commit it", configurationDoc)
	}
}
