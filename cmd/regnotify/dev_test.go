package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/regnotify/regnotify/events/formats"
)

// TestDevDemo runs what `make dev` runs, on free ports, and checks the
// summary: every demo event ended, and each kind of trouble ended as the
// demo announced.
func TestDevDemo(t *testing.T) {
	clearEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	code := Main(ctx, []string{"dev", "--demo", "200", "--exit-when-done",
		"--kafka-addr", "127.0.0.1:0", "--sim-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit code = %d, want 0; stdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	text := out.String()
	announced := regexp.MustCompile(`(\d+) valid, (\d+) invalid, (\d+) claiming a taken siteUID, (\d+) redelivered`).FindStringSubmatch(text)
	if announced == nil {
		t.Fatalf("no announcement of the mix in:\n%s", text)
	}
	count := func(outcome string) int {
		m := regexp.MustCompile(`(?m)^\s*` + outcome + `\s+(\d+)\s*$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %s row in the summary:\n%s", outcome, text)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	num := func(i int) int { n, _ := strconv.Atoi(announced[i]); return n }
	checks := []struct {
		outcome string
		want    int
	}{
		{"notified", num(1)}, {"dlq_invalid", num(2)}, {"dlq_rejected", num(3)}, {"already_done", num(4)},
		{"dlq_exhausted", 0}, {"total", 200},
	}
	for _, c := range checks {
		if got := count(c.outcome); got != c.want {
			t.Errorf("%s = %d, want %d\n%s", c.outcome, got, c.want, text)
		}
	}
	if num(2) == 0 || num(3) == 0 || num(4) == 0 {
		t.Errorf("the demo mix lacks a kind of trouble: %s", announced[0])
	}
	// Both sites and every format are shown, each with notified events.
	for _, row := range []string{"brand-a", "brand-b", "regnotify", "json", "cloudevents", "avro", "jsonschema"} {
		m := regexp.MustCompile(`(?m)^` + row + `\s+(\d+)\s+\d+\s+\d+(\s|$)`).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("no %s row in the summary:\n%s", row, text)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n == 0 {
			t.Errorf("%s: 0 notified, want some:\n%s", row, text)
		}
	}
	if !regexp.MustCompile(`Admin console\s+http://127\.0\.0\.1:\d+/`).MatchString(text) {
		t.Errorf("the banner does not show the admin console's address:\n%s", text)
	}
	if !strings.Contains(errOut.String(), "operator token") {
		t.Errorf("no dev operator token on stderr:\n%s", errOut.String())
	}
}

// TestDevDemoRecordsDecode decodes every valid demo record with its dev
// topic's decoder (the registry is franz-go's srfake, an in-process server
// speaking Schema Registry's REST API): each format's records are what the
// decoder expects, and every format and both sites' topics get some.
func TestDevDemoRecordsDecode(t *testing.T) {
	registry := srfake.New()
	defer registry.Close()
	ids, err := seedDevSchemas(registry)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := formats.NewRegistry(registry.URL(), "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	decoders := map[string]formats.Decoder{}
	for _, tp := range devTopics {
		d, err := formats.New(tp.spec, reg)
		if err != nil {
			t.Fatalf("topic %s: %v", tp.name, err)
		}
		decoders[tp.name] = d
	}
	msgs, _, _ := demoEvents(400, ids)
	perTopic := map[string]int{}
	for _, m := range msgs {
		rec := formats.Record{Topic: m.Topic, Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			rec.Headers = append(rec.Headers, formats.Header{Key: h.Key, Value: h.Value})
		}
		ev, err := decoders[m.Topic].Decode(t.Context(), rec)
		if err != nil {
			continue // the invalid share of the mix
		}
		if ev.UID != string(m.Key) {
			t.Errorf("%s: uid = %q, want the key %q", m.Topic, ev.UID, m.Key)
		}
		perTopic[m.Topic]++
	}
	for _, tp := range devTopics {
		if perTopic[tp.name] == 0 {
			t.Errorf("topic %s (%s): no valid demo record decoded", tp.name, orDefault(tp.spec.Format, "regnotify"))
		}
	}
}

// TestDevOTelConsole runs a short demo with --otel-console: the event
// spans are printed on stdout, with no collector.
func TestDevOTelConsole(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "") // restored after the test: dev sets it
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	code := Main(ctx, []string{"dev", "--demo", "20", "--exit-when-done", "--otel-console",
		"--kafka-addr", "127.0.0.1:0", "--sim-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--admin-addr", ""}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit code = %d, want 0; stderr:\n%s", code, errOut.String())
	}
	for _, want := range []string{`"Name":"process account.linked"`, `"Name":"socialize.notifyRegistration"`} {
		if !strings.Contains(strings.ReplaceAll(out.String(), `": "`, `":"`), want) {
			t.Errorf("stdout lacks the span %s:\n%.3000s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "Admin console") {
		t.Error("--admin-addr \"\" still starts the console")
	}
}
