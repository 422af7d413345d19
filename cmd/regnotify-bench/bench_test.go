package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regnotify/regnotify/worker/kafkatest"
)

// TestSmoke runs every scenario with tiny sizes against a freshly built
// regnotify, and checks that the table and the JSON carry every key the
// issue asks for. It checks no targets: numbers from a loaded CI machine
// under -race mean nothing.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds regnotify and runs it five times; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	jsonFile := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-smoke", "-json", jsonFile}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
	}
	table := stdout.String()
	for _, name := range []string{"zero-latency", "latency-50ms", "rate-limited", "naive-baseline", "latency-p99",
		"replicas-quota", "unknown-quota", "scale-out", "bulk-vs-live"} {
		if !strings.Contains(table, "| "+name+" |") {
			t.Errorf("table has no row for %s:\n%s", name, table)
		}
	}

	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Machine   map[string]any   `json:"machine"`
		Scenarios []map[string]any `json:"scenarios"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, b)
	}
	for _, k := range []string{"cpu_model", "cores", "go_version"} {
		if _, ok := rep.Machine[k]; !ok {
			t.Errorf("machine has no %q: %v", k, rep.Machine)
		}
	}
	want := map[string][]string{
		"zero-latency":   {"cpu_us_per_event", "peak_rss_mib", "http_ceiling_per_sec", "ratio_to_ceiling"},
		"latency-50ms":   {"bound_per_sec", "ratio_to_bound"},
		"rate-limited":   {"ratio_to_limit", "rate_limited_answers", "calls"},
		"naive-baseline": {"speedup"},
		"latency-p99":    {"p50_ms", "p99_ms"},
		"replicas-quota": {"quota_per_sec", "ratio_to_quota", "calls"},
		"unknown-quota":  {"ratio_to_quota", "calls_per_event"},
		"scale-out":      {"budget_per_sec", "max_ratio_1s"},
		"bulk-vs-live":   {"p99_ms", "lanes_off_p99_ms"},
	}
	got := map[string]map[string]any{}
	for _, s := range rep.Scenarios {
		name, _ := s["name"].(string)
		got[name] = s
	}
	for name, keys := range want {
		s, ok := got[name]
		if !ok {
			t.Errorf("JSON has no scenario %s", name)
			continue
		}
		for _, k := range append([]string{"events", "events_per_sec"}, keys...) {
			v, ok := s[k].(float64)
			if !ok {
				t.Errorf("%s: key %q missing or not a number: %v", name, k, s)
				continue
			}
			if v < 0 || (k != "rate_limited_answers" && v == 0) {
				t.Errorf("%s: %s = %v, want > 0", name, k, v)
			}
		}
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{[]string{"-smoke"}, true},
		{[]string{"-auth", "bearer"}, false},
		{[]string{"extra"}, false},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, &bytes.Buffer{})
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q) error %v, want ok=%t", tt.args, err, tt.ok)
		}
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-only", "nope"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("-only nope: exit code %d, want 2 (%s)", code, stderr.String())
	}
}

func TestMain(m *testing.M) { kafkatest.VerifyTestMain(m) }
