// Command regnotify-bench measures regnotify against its performance targets
// (issue 6): it starts an in-process Kafka broker and the Gigya simulator,
// runs the compiled `regnotify run` as a separate process (so that its CPU
// time and memory are its own), and prints a markdown table; -json FILE also
// writes the results as JSON.
//
// Scenarios: zero-latency (the worker's own cost, against the same Gigya
// client without Kafka), latency-50ms (keeping the concurrency busy),
// rate-limited (close to Gigya's allowed rate without tripping 403048),
// naive-baseline (the hand-written fetch-notify-commit loop) and latency-p99
// (produce → Gigya latency at a steady rate). Each scenario produces its
// backlog first and measures until the group's committed offsets cover it.
//
// Quota and lanes (issue 13): replicas-quota (three workers in one group
// sharing a budget equal to the simulator's quota), unknown-quota (the
// budget ten times the real quota), scale-out (1 → 3 → 2 replicas at a
// budget) and bulk-vs-live (live latency beside a bulk backlog, with the
// lanes off as the baseline). Tracing (issue 16): tracing-cost, the
// zero-latency CPU per event with tracing on (all and a tenth of the events
// sampled, exported to an in-process OTLP/HTTP sink) as ratios to off.
//
// -smoke runs every scenario with tiny sizes and no targets; the package's
// test does that so the command cannot rot.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/cmd/internal/e2e"
	"github.com/regnotify/regnotify/events"
)

// config is the command's flags.
type config struct {
	jsonFile      string
	pprofDir      string
	pprofDuration time.Duration
	bin           string
	auth          string
	smoke         bool
	only          string
	quiet         bool
	timeout       time.Duration

	zeroEvents, zeroConcurrency       int
	ceilingDuration                   time.Duration
	latencyEvents, latencyConcurrency int
	rateEvents                        int
	rateLimit                         float64
	naiveEvents                       int
	zeroRuns                          int
	p99Rate                           float64
	p99Duration                       time.Duration

	quotaRate, liveRate      float64
	quotaEvents, bulkEvents  int
	scalePhase, liveDuration time.Duration
	bulkHead                 time.Duration
	tracingEvents            int
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("regnotify-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.jsonFile, "json", "", "also write the results as JSON to `FILE`")
	fs.StringVar(&c.pprofDir, "pprof", "", "write CPU and allocation profiles of the worker's zero-latency and latency-50ms runs to `DIR` (those runs use a build with pprof added through -overlay)")
	fs.DurationVar(&c.pprofDuration, "pprof-duration", 5*time.Second, "with -pprof: length of each CPU profile, from the child's start")
	fs.StringVar(&c.bin, "bin", "", "regnotify binary to run (default: build ./cmd/regnotify with cmd/internal/e2e.Build into a temporary directory)")
	fs.StringVar(&c.auth, "auth", "signed", "Gigya auth mode of worker and client: signed or secret (bearer costs ~1 ms CPU per call for RSA and measures RSA, not regnotify)")
	fs.BoolVar(&c.smoke, "smoke", false, "tiny sizes, no targets: checks that every scenario runs")
	fs.StringVar(&c.only, "only", "", "run only these scenarios, comma-separated")
	fs.BoolVar(&c.quiet, "q", false, "no progress lines on stderr")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "bound of each wait (worker ready, backlog committed)")
	fs.IntVar(&c.zeroEvents, "zero-events", 100_000, "zero-latency: backlog size")
	fs.IntVar(&c.zeroConcurrency, "zero-concurrency", 64, "zero-latency: worker concurrency and ceiling goroutines")
	fs.IntVar(&c.zeroRuns, "zero-runs", 3, "zero-latency: worker runs; the median by CPU per event is reported")
	fs.DurationVar(&c.ceilingDuration, "ceiling-duration", 3*time.Second, "zero-latency: how long the HTTP ceiling is measured")
	fs.IntVar(&c.latencyEvents, "latency-events", 40_000, "latency-50ms: backlog size")
	fs.IntVar(&c.latencyConcurrency, "latency-concurrency", 256, "latency-50ms: worker concurrency")
	fs.IntVar(&c.rateEvents, "rate-events", 10_000, "rate-limited: backlog size")
	fs.Float64Var(&c.rateLimit, "rate-limit", 500, "rate-limited: simulator limit and worker --rate-limit, calls/s")
	fs.IntVar(&c.naiveEvents, "naive-events", 200, "naive-baseline: backlog size")
	fs.Float64Var(&c.p99Rate, "p99-rate", 200, "latency-p99: events/s offered")
	fs.DurationVar(&c.p99Duration, "p99-duration", 15*time.Second, "latency-p99: how long events are offered")
	fs.Float64Var(&c.quotaRate, "quota", 200, "replicas-quota, unknown-quota, scale-out, bulk-vs-live: the simulator's quota and the group's budget, calls/s")
	fs.IntVar(&c.quotaEvents, "quota-events", 4000, "replicas-quota, unknown-quota: backlog size")
	fs.DurationVar(&c.scalePhase, "scale-phase", 12*time.Second, "scale-out: length of each phase (1, 3, 2 replicas); its second half is measured")
	fs.IntVar(&c.bulkEvents, "bulk-events", 100_000, "bulk-vs-live: bulk backlog size")
	fs.Float64Var(&c.liveRate, "live-rate", 10, "bulk-vs-live: live events/s offered")
	fs.DurationVar(&c.liveDuration, "live-duration", 20*time.Second, "bulk-vs-live: how long live events are offered")
	fs.IntVar(&c.tracingEvents, "tracing-events", 20_000, "tracing-cost: backlog size of each run (-zero-runs runs per variant)")
	fs.DurationVar(&c.bulkHead, "bulk-head", 3*time.Second, "bulk-vs-live: how long the bulk backlog runs alone first")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.auth != "signed" && c.auth != "secret" {
		return c, fmt.Errorf("-auth %q: want signed or secret", c.auth)
	}
	if _, err := selected(c.only); err != nil {
		return c, err
	}
	if c.smoke {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		small := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		small("zero-events", &c.zeroEvents, 300)
		small("latency-events", &c.latencyEvents, 300)
		small("rate-events", &c.rateEvents, 100)
		small("naive-events", &c.naiveEvents, 5)
		small("zero-runs", &c.zeroRuns, 1)
		small("quota-events", &c.quotaEvents, 200)
		small("bulk-events", &c.bulkEvents, 500)
		small("tracing-events", &c.tracingEvents, 300)
		durations := map[string]*time.Duration{"scale-phase": &c.scalePhase, "live-duration": &c.liveDuration, "bulk-head": &c.bulkHead}
		for name, v := range map[string]time.Duration{"scale-phase": 4 * time.Second, "live-duration": 2 * time.Second, "bulk-head": time.Second} {
			if !set[name] {
				*durations[name] = v
			}
		}
		if !set["ceiling-duration"] {
			c.ceilingDuration = 300 * time.Millisecond
		}
		if !set["p99-duration"] {
			c.p99Duration = time.Second
		}
		if !set["p99-rate"] {
			c.p99Rate = 50
		}
	}
	return c, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command; tests drive it. It returns the exit code: 0 when every
// scenario ran (targets missed or not), 1 on failure, 2 on bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "regnotify-bench: %v\n", err)
		return 2
	}
	logf := func(format string, args ...any) {
		if !cfg.quiet {
			fmt.Fprintf(stderr, "# "+format+"\n", args...)
		}
	}
	rep, err := runBench(ctx, cfg, logf)
	if err != nil {
		fmt.Fprintf(stderr, "regnotify-bench: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, rep.markdown(cfg.smoke))
	if cfg.jsonFile != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			err = os.WriteFile(cfg.jsonFile, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "regnotify-bench: write %s: %v\n", cfg.jsonFile, err)
			return 1
		}
	}
	return 0
}

type scenario struct {
	name string
	run  func(*bench, context.Context) (*result, error)
}

var scenarios = []scenario{
	{"zero-latency", (*bench).zeroLatency},
	{"latency-50ms", (*bench).latency50},
	{"rate-limited", (*bench).rateLimited},
	{"naive-baseline", (*bench).naive},
	{"latency-p99", (*bench).latencyP99},
	{"replicas-quota", (*bench).replicasQuota},
	{"unknown-quota", (*bench).unknownQuota},
	{"scale-out", (*bench).scaleOut},
	{"bulk-vs-live", (*bench).bulkVsLive},
	{"tracing-cost", (*bench).tracingCost},
}

func runBench(ctx context.Context, cfg config, logf func(string, ...any)) (*report, error) {
	want, err := selected(cfg.only)
	if err != nil {
		return nil, err
	}
	rep := &report{Machine: machineInfo(cfg)}
	dir, err := os.MkdirTemp("", "regnotify-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b := &bench{bin: cfg.bin, cfg: cfg, logf: logf}
	if b.bin == "" {
		logf("building regnotify")
		if b.bin, err = e2e.Build(ctx, dir); err != nil {
			return nil, err
		}
	}
	if cfg.pprofDir != "" {
		logf("building regnotify with pprof")
		if b.profBin, err = buildProfiling(ctx, dir); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	for _, s := range scenarios {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		res, err := s.run(b, ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		rep.Scenarios = append(rep.Scenarios, res)
	}
	// The speedup needs both runs.
	var fast, naive *result
	for _, r := range rep.Scenarios {
		switch r.Name {
		case "latency-50ms":
			fast = r
		case "naive-baseline":
			naive = r
		}
	}
	if naive != nil {
		naive.target = "speedup ≥ 100"
		if fast != nil {
			speedup := fast.PerSec / naive.PerSec
			naive.add("speedup", round(speedup, 1))
			naive.summary += fmt.Sprintf("; latency-50ms is %.0f× faster", speedup)
			naive.met = speedup >= 100
		} else {
			naive.summary += "; speedup needs latency-50ms"
		}
	}
	rep.Machine.LoadAvgEnd = loadAvg()
	rep.Machine.DurationSec = round(time.Since(start).Seconds(), 1)
	return rep, nil
}

// selected parses -only: the set of scenario names, empty for all.
func selected(only string) (map[string]bool, error) {
	want := map[string]bool{}
	if only == "" {
		return want, nil
	}
	for _, n := range strings.Split(only, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, s := range scenarios {
			found = found || s.name == n
		}
		if !found {
			return nil, fmt.Errorf("-only %q: %w", n, errNoScenario)
		}
		want[n] = true
	}
	return want, nil
}

func decode(m kafka.Message) (events.Event, error) {
	ev, err := events.Decode(m.Topic, m.Value)
	if err != nil {
		return ev, fmt.Errorf("decode %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
	}
	return ev, nil
}

// report is the JSON document of -json.
type report struct {
	Machine   machine   `json:"machine"`
	Scenarios []*result `json:"scenarios"`
}

type machine struct {
	CPUModel     string  `json:"cpu_model"`
	Cores        int     `json:"cores"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	GoVersion    string  `json:"go_version"`
	OS           string  `json:"os"`
	Arch         string  `json:"arch"`
	Kernel       string  `json:"kernel,omitempty"`
	LoadAvgStart string  `json:"load_avg_start,omitempty"`
	LoadAvgEnd   string  `json:"load_avg_end,omitempty"`
	Auth         string  `json:"gigya_auth"`
	DurationSec  float64 `json:"duration_sec"`
	Smoke        bool    `json:"smoke,omitempty"`
}

func machineInfo(cfg config) machine {
	m := machine{
		Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, LoadAvgStart: loadAvg(), Auth: cfg.auth, Smoke: cfg.smoke,
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// result is one scenario's outcome: the common keys, the scenario's own keys
// in order, and the table's text.
type result struct {
	Name    string
	Events  int
	PerSec  float64
	keys    []keyValue
	summary string
	target  string // "" = no target
	met     bool
}

type keyValue struct {
	key   string
	value any
}

func newResult(name string, events int, perSec float64) *result {
	return &result{Name: name, Events: events, PerSec: round(perSec, 1)}
}

func (r *result) add(key string, value any) { r.keys = append(r.keys, keyValue{key, value}) }

// MarshalJSON writes name, events, events_per_sec, then the scenario's keys
// in the order they were added (and target/target_met where there is a target).
func (r *result) MarshalJSON() ([]byte, error) {
	kvs := append([]keyValue{{"name", r.Name}, {"events", r.Events}, {"events_per_sec", r.PerSec}}, r.keys...)
	if r.target != "" {
		kvs = append(kvs, keyValue{"target", r.target}, keyValue{"target_met", r.met})
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv.key)
		v, err := json.Marshal(kv.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// markdown is the table the command prints, then the machine it ran on.
func (r *report) markdown(smoke bool) string {
	var b strings.Builder
	b.WriteString("| scenario | events | events/s | result | target | met |\n")
	b.WriteString("| --- | ---: | ---: | --- | --- | --- |\n")
	for _, s := range r.Scenarios {
		met := "—"
		switch {
		case smoke:
			met = "(smoke)"
		case s.target != "" && s.met:
			met = "yes"
		case s.target != "":
			met = "**no**"
		}
		target := s.target
		if target == "" {
			target = "—"
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %s |\n", s.Name, s.Events, s.PerSec, s.summary, target, met)
	}
	m := r.Machine
	fmt.Fprintf(&b, "\n%s, %d cores (GOMAXPROCS %d), %s %s/%s, kernel %s; Gigya auth %q; load average %s at start, %s at end; %.0f s.\n",
		m.CPUModel, m.Cores, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch, m.Kernel, m.Auth, m.LoadAvgStart, m.LoadAvgEnd, m.DurationSec)
	return b.String()
}
