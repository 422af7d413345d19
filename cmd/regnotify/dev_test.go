package main

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"
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
		"--kafka-addr", "127.0.0.1:0", "--sim-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, &out, &errOut)
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
}
