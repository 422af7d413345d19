package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/cmd/internal/e2e"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker/wait"
)

// bench holds what the scenarios share: the worker binaries and the sizes.
type bench struct {
	bin     string // regnotify, as built by e2e.Build or given by -bin
	profBin string // with pprof (-pprof), else ""
	cfg     config
	logf    func(format string, args ...any)
}

// workerRun is what one run of the `regnotify run` child measured.
type workerRun struct {
	events      int
	elapsed     time.Duration // first Gigya call → committed offsets cover the backlog
	startup     time.Duration // child start → first Gigya call
	cpu         time.Duration // child user+sys, start to caught up
	peakRSS     int64         // bytes
	calls       int           // Gigya API calls the simulator answered
	rateLimited int           // of which 403048
}

func (r workerRun) perSec() float64 { return float64(r.events) / r.elapsed.Seconds() }

// runWorker produces a backlog of n events into a fresh world, starts
// `regnotify run` on it and measures until the group's committed offsets
// cover the backlog.
func (b *bench) runWorker(ctx context.Context, name string, n int, faults gigyasim.Faults, concurrency int, rateLimit float64) (workerRun, error) {
	return b.runWorkerWith(ctx, name, n, faults, b.workerOptions(concurrency, rateLimit))
}

// runWorkerWith is runWorker with the worker's options o.
func (b *bench) runWorkerWith(ctx context.Context, name string, n int, faults gigyasim.Faults, o e2e.WorkerOptions) (workerRun, error) {
	env, closeEnv, err := newEnv(ctx, faults)
	if err != nil {
		return workerRun{}, err
	}
	defer closeEnv()
	if err := produce(ctx, env, backlog(env, name, n)); err != nil {
		return workerRun{}, err
	}
	b.logf("%s: %d events produced; starting regnotify run (concurrency %d, rate limit %g)", name, n, o.Concurrency, o.RateLimit)
	prof := b.profBin != "" && (name == "zero-latency" || name == "latency-50ms")
	var pprofAddr string
	if prof {
		if pprofAddr, err = wait.FreeAddr(); err != nil {
			return workerRun{}, err
		}
		o.Bin = b.profBin
		o.ExtraEnv = append(o.ExtraEnv, "REGNOTIFY_BENCH_PPROF="+pprofAddr)
	}
	w, err := env.StartWorker(ctx, o)
	if err != nil {
		return workerRun{}, err
	}
	defer w.Close()
	profDone := make(chan error, 1)
	if prof {
		go func() {
			if err := sleep(ctx, 200*time.Millisecond); err != nil { // the pprof listener
				profDone <- err
				return
			}
			profDone <- profile(ctx, pprofAddr, b.cfg.pprofDir, name, b.cfg.pprofDuration)
		}()
	} else {
		profDone <- nil
	}
	done, err := waitCaughtUp(ctx, env, b.cfg.timeout, exited(w))
	if perr := <-profDone; perr != nil {
		b.logf("%s: profile: %v", name, perr)
	}
	if err != nil {
		return workerRun{}, fmt.Errorf("%s: %w", name, logTail(w, err))
	}
	u, uerr := w.Usage()
	st, serr := w.Stop(30 * time.Second)
	if serr == nil && st.Code != 0 {
		serr = fmt.Errorf("exit code %d", st.Code)
	}
	if serr != nil {
		return workerRun{}, fmt.Errorf("%s: stop regnotify run: %w", name, logTail(w, serr))
	}
	if uerr != nil { // no /proc: the whole life of the process
		u.CPU, u.PeakRSS = st.CPU, st.MaxRSS
	}
	first := firstReceipt(env, name, n)
	r := workerRun{events: n, elapsed: done.Sub(first), startup: first.Sub(w.Started), cpu: u.CPU, peakRSS: u.PeakRSS}
	r.calls, r.rateLimited = simCounts(env)
	b.logf("%s: %d events in %v (startup %v), %.0f/s, child CPU %v, peak RSS %.1f MiB, %d calls",
		name, n, r.elapsed.Round(time.Millisecond), r.startup.Round(time.Millisecond), r.perSec(), u.CPU, mib(u.PeakRSS), r.calls)
	return r, nil
}

// workerOptions is how the bench runs `regnotify run`: the production
// defaults but for concurrency, rate limit and the auth mode.
func (b *bench) workerOptions(concurrency int, rateLimit float64) e2e.WorkerOptions {
	return e2e.WorkerOptions{
		Bin: b.bin, Concurrency: concurrency, RateLimit: rateLimit,
		RetryInitial: 500 * time.Millisecond, RetryMaxInterval: 30 * time.Second, RetryMaxElapsed: 2 * time.Minute,
		Args: []string{"--gigya-auth", b.cfg.auth},
	}
}

// exited returns an error once w has exited.
func exited(w *e2e.Worker) func() error {
	return func() error {
		if w.Exited() {
			return errors.New("regnotify run exited early")
		}
		return nil
	}
}

// logTail adds the end of the worker's log to err.
func logTail(w *e2e.Worker, err error) error {
	logs, _ := w.Logs()
	if len(logs) > 4096 {
		logs = logs[len(logs)-4096:]
	}
	return fmt.Errorf("%w\nworker log (end):\n%s", err, logs)
}

// zeroLatency: the worker's own cost, against a simulator that answers at
// once, compared with the same Gigya client driven without Kafka.
func (b *bench) zeroLatency(ctx context.Context) (*result, error) {
	const name = "zero-latency"
	conc := b.cfg.zeroConcurrency
	ceiling, err := b.httpCeiling(ctx, conc, b.cfg.ceilingDuration)
	if err != nil {
		return nil, err
	}
	// The machine is shared and CPU time per event moves with its load:
	// report the median of several runs, and their spread.
	var runs []workerRun
	for range max(1, b.cfg.zeroRuns) {
		r, err := b.runWorker(ctx, name, b.cfg.zeroEvents, gigyasim.Faults{}, conc, 0)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	perEvent := func(r workerRun) float64 { return float64(r.cpu.Microseconds()) / float64(r.events) }
	slices.SortFunc(runs, func(a, b workerRun) int { return cmp.Compare(perEvent(a), perEvent(b)) })
	r := runs[len(runs)/2]
	cpuPerEvent := perEvent(r)
	spread := make([]float64, len(runs))
	for i, x := range runs {
		spread[i] = round(perEvent(x), 1)
	}
	ratio := r.perSec() / ceiling
	res := newResult(name, r.events, r.perSec())
	res.add("concurrency", conc)
	res.add("cpu_us_per_event", round(cpuPerEvent, 1))
	res.add("cpu_us_per_event_runs", spread)
	res.add("peak_rss_mib", round(mib(r.peakRSS), 1))
	res.add("http_ceiling_per_sec", round(ceiling, 0))
	res.add("ratio_to_ceiling", round(ratio, 2))
	res.add("startup_sec", round(r.startup.Seconds(), 2))
	res.summary = fmt.Sprintf("CPU %.1f µs/event (median of %d runs: %v), peak RSS %.1f MiB; HTTP ceiling %.0f/s, ratio %.2f", cpuPerEvent, len(runs), spread, mib(r.peakRSS), ceiling, ratio)
	res.target = "CPU ≤ 60 µs/event, ratio ≥ 0.5, RSS ≤ 100 MiB"
	res.met = cpuPerEvent <= 60 && ratio >= 0.5 && mib(r.peakRSS) <= 100
	return res, nil
}

// httpCeiling is how many NotifyRegistration calls per second the Gigya
// client makes against the zero-latency simulator with conc goroutines and
// no Kafka, in this process: what the worker could reach if Kafka, ordering
// and commits were free.
func (b *bench) httpCeiling(ctx context.Context, conc int, d time.Duration) (float64, error) {
	env, closeEnv, err := newEnv(ctx, gigyasim.Faults{})
	if err != nil {
		return 0, err
	}
	defer closeEnv()
	client, err := client(env, b.cfg.auth, conc)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	var seq, ok atomic.Int64
	var firstErr error
	var once sync.Once
	run := func(until time.Time, count bool) {
		var wg sync.WaitGroup
		for range conc {
			wg.Go(func() {
				for time.Now().Before(until) && ctx.Err() == nil {
					i := int(seq.Add(1))
					req := gigya.NotifyRequest{UID: uidOf("ceiling", i), Context: "ceiling-" + strconv.Itoa(i)}
					if i%2 == 1 { // the same mix as the backlogs
						req.SiteUID, req.CID = "customer-ceiling-"+strconv.Itoa(i), "bench"
					}
					if _, err := client.NotifyRegistration(ctx, req); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					if count {
						ok.Add(1)
					}
				}
			})
		}
		wg.Wait()
	}
	run(time.Now().Add(d/5), false) // warm up: connections, pools
	start := time.Now()
	run(start.Add(d), true)
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, fmt.Errorf("http ceiling: %w", firstErr)
	}
	rate := float64(ok.Load()) / elapsed.Seconds()
	b.logf("http ceiling: %d calls in %v with %d goroutines: %.0f/s", ok.Load(), elapsed.Round(time.Millisecond), conc, rate)
	return rate, nil
}

// latency50: with a 50 ms Gigya the worker should keep its concurrency busy.
func (b *bench) latency50(ctx context.Context) (*result, error) {
	const name = "latency-50ms"
	conc := b.cfg.latencyConcurrency
	r, err := b.runWorker(ctx, name, b.cfg.latencyEvents,
		gigyasim.Faults{Latency: 50 * time.Millisecond, Jitter: 5 * time.Millisecond}, conc, 0)
	if err != nil {
		return nil, err
	}
	bound := float64(conc) / 0.05
	ratio := r.perSec() / bound
	res := newResult(name, r.events, r.perSec())
	res.add("concurrency", conc)
	res.add("bound_per_sec", round(bound, 0))
	res.add("ratio_to_bound", round(ratio, 2))
	res.add("cpu_us_per_event", round(float64(r.cpu.Microseconds())/float64(r.events), 1))
	res.add("peak_rss_mib", round(mib(r.peakRSS), 1))
	res.summary = fmt.Sprintf("bound %d/0.05 s = %.0f/s, ratio %.2f", conc, bound, ratio)
	res.target = "ratio ≥ 0.9"
	res.met = ratio >= 0.9
	return res, nil
}

// rateLimited: the simulator allows 500 calls/s, the worker is told the same.
func (b *bench) rateLimited(ctx context.Context) (*result, error) {
	const name = "rate-limited"
	limit := b.cfg.rateLimit
	r, err := b.runWorker(ctx, name, b.cfg.rateEvents,
		gigyasim.Faults{Latency: 50 * time.Millisecond, Jitter: 5 * time.Millisecond, RateLimit: limit}, 64, limit)
	if err != nil {
		return nil, err
	}
	ratio := r.perSec() / limit
	share := float64(r.rateLimited) / float64(max(1, r.calls))
	res := newResult(name, r.events, r.perSec())
	res.add("limit_per_sec", limit)
	res.add("ratio_to_limit", round(ratio, 3))
	res.add("rate_limited_answers", r.rateLimited)
	res.add("calls", r.calls)
	res.summary = fmt.Sprintf("limit %g/s, ratio %.3f; 403048: %d of %d calls (%.2f %%)", limit, ratio, r.rateLimited, r.calls, 100*share)
	res.target = "ratio ≥ 0.95, 403048 ≤ 1 %"
	res.met = ratio >= 0.95 && share <= 0.01
	return res, nil
}

// naive is the loop a user writes by hand: FetchMessage → notify →
// CommitMessages, one event at a time, with kafka-go's group reader and the
// same Gigya client, in this process.
func (b *bench) naive(ctx context.Context) (*result, error) {
	const name = "naive-baseline"
	n := b.cfg.naiveEvents
	env, closeEnv, err := newEnv(ctx, gigyasim.Faults{Latency: 50 * time.Millisecond, Jitter: 5 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	defer closeEnv()
	client, err := client(env, b.cfg.auth, 1)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	if err := produce(ctx, env, backlog(env, name, n)); err != nil {
		return nil, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: env.Kafka.Brokers, GroupID: env.Group, GroupTopics: env.Topics(),
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 1 << 20,
	})
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	var start time.Time
	for i := range n {
		m, err := r.FetchMessage(rctx)
		if err != nil {
			return nil, fmt.Errorf("%s: fetch: %w", name, err)
		}
		if i == 0 {
			start = time.Now()
		}
		ev, err := decode(m)
		if err != nil {
			return nil, err
		}
		if _, err := client.NotifyRegistration(rctx, gigya.NotifyRequest{UID: ev.UID, SiteUID: ev.SiteUID, CID: ev.CID, Context: ev.EventID}); err != nil {
			return nil, fmt.Errorf("%s: notify: %w", name, err)
		}
		if err := r.CommitMessages(rctx, m); err != nil {
			return nil, fmt.Errorf("%s: commit: %w", name, err)
		}
	}
	elapsed := time.Since(start)
	perSec := float64(n) / elapsed.Seconds()
	b.logf("%s: %d events in %v, %.1f/s", name, n, elapsed.Round(time.Millisecond), perSec)
	res := newResult(name, n, perSec)
	res.summary = "FetchMessage → notify → CommitMessages, one at a time"
	return res, nil
}

// latencyP99: events offered at a steady rate to a running worker; the
// latency of each is produce call → the simulator receiving its call.
func (b *bench) latencyP99(ctx context.Context) (*result, error) {
	const name = "latency-p99"
	env, closeEnv, err := newEnv(ctx, gigyasim.Faults{Latency: 20 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	defer closeEnv()
	w, err := env.StartWorker(ctx, b.workerOptions(64, 0))
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if err := w.WaitReady(ctx, b.cfg.timeout); err != nil {
		return nil, logTail(w, err)
	}
	// Warm up: a few events per partition, so that every partition reader
	// has fetched before the measured events.
	if err := produce(ctx, env, backlog(env, name+"-warm", 64)); err != nil {
		return nil, err
	}
	if _, err := waitCaughtUp(ctx, env, b.cfg.timeout, exited(w)); err != nil {
		return nil, logTail(w, err)
	}

	// One message per write, sent at once: the produce time is the
	// event's, not a batch's.
	rate := b.cfg.p99Rate
	produced, start, err := producePaced(ctx, env, rate, b.cfg.p99Duration, func(i int) kafka.Message {
		return event(env, name, i)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	n := len(produced)
	done, err := waitCaughtUp(ctx, env, b.cfg.timeout, exited(w))
	if err != nil {
		return nil, logTail(w, err)
	}
	if st, err := w.Stop(30 * time.Second); err != nil || st.Code != 0 {
		return nil, logTail(w, fmt.Errorf("stop regnotify run: exit %d, %v", st.Code, err))
	}
	lat := make([]time.Duration, 0, n)
	for i := range n {
		at, ok := receipt(env, name, i)
		if !ok {
			return nil, fmt.Errorf("%s: event %d committed but never reached the simulator", name, i)
		}
		lat = append(lat, at.Sub(produced[i]))
	}
	slices.Sort(lat)
	p50, p99 := quantile(lat, 0.50), quantile(lat, 0.99)
	perSec := float64(n) / done.Sub(start).Seconds()
	b.logf("%s: %d events at %g/s: p50 %v, p99 %v, max %v", name, n, rate, p50, p99, lat[len(lat)-1])
	res := newResult(name, n, perSec)
	res.add("offered_per_sec", rate)
	res.add("p50_ms", round(ms(p50), 1))
	res.add("p99_ms", round(ms(p99), 1))
	res.add("max_ms", round(ms(lat[len(lat)-1]), 1))
	res.summary = fmt.Sprintf("%g/s offered; produce → Gigya receipt p50 %.1f ms, p99 %.1f ms", rate, ms(p50), ms(p99))
	res.target = "p99 ≤ 60 ms"
	res.met = ms(p99) <= 60
	return res, nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if p == 1 {
		return float64(int64(v + 0.5))
	}
	return float64(int64(v*p+0.5)) / p
}

var errNoScenario = errors.New("no such scenario")
