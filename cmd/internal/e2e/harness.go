// Package e2e runs the compiled regnotify binary as a separate process
// against an in-process Kafka-protocol broker and the Gigya simulator, the
// way an operator meets it: flags and environment, signals, exit codes,
// /metrics and /readyz over HTTP, logs on stderr.
//
// It is test support, not production code: the end-to-end scenarios in this
// directory use it, and so does the benchmark command (cmd/regnotify-bench).
// Its API returns errors rather than taking a testing.TB so that both can.
//
// A typical use:
//
//	bin, err := e2e.Build(ctx, dir)                      // once per process
//	env, err := e2e.NewEnv(ctx, e2e.EnvConfig{Dir: dir}) // broker, topics, simulator
//	defer env.Close()
//	err = env.Produce(ctx, env.Registered("ev-1", "_gid_1"))
//	w, err := env.StartWorker(ctx, e2e.WorkerOptions{Bin: bin})
//	err = env.WaitCaughtUp(ctx, time.Minute)
//	st, err := w.Stop(30 * time.Second) // SIGTERM, exit status, CPU time, peak RSS
//
// Linux only for CPU and memory while the child runs (/proc); elsewhere
// Usage works after the child exited.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker/kafkatest"
	"github.com/regnotify/regnotify/worker/wait"
)

// Build compiles ./cmd/regnotify of the module the current directory
// belongs to (found with `go env GOMOD`) into dir and returns the binary's
// path. The Go build cache makes repeated builds cheap, but callers should
// still build once per process.
func Build(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	bin := filepath.Join(dir, "regnotify")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/regnotify")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/regnotify: %w\n%s", err, out)
	}
	return bin, nil
}

// Credentials are the Gigya keys and secrets the simulator and the worker
// share. The secrets are base64, as Gigya hands them out.
type Credentials struct {
	APIKey, UserKey       string
	Secret, PartnerSecret string
}

// DistinctiveCredentials are credentials whose secrets are unlikely to occur
// by chance anywhere, so that a search for them in logs, metrics and dead
// letters finds only leaks. Their base64-decoded forms are distinctive too.
func DistinctiveCredentials() Credentials {
	return Credentials{
		APIKey:        "3_e2e-api-key",
		UserKey:       "e2e-user-key",
		Secret:        base64.StdEncoding.EncodeToString([]byte("e2e-APP-SECRET-7q3zK9vW-must-never-leak")),
		PartnerSecret: base64.StdEncoding.EncodeToString([]byte("e2e-PARTNER-SECRET-x8Lm2Rt5-must-never-leak")),
	}
}

// SecretForms returns the strings whose presence in any output is a leak:
// each secret as configured, base64-decoded, and in URL-escaped form.
func (c Credentials) SecretForms() []string {
	var out []string
	for _, s := range []string{c.Secret, c.PartnerSecret} {
		if s == "" {
			continue
		}
		out = append(out, s, strings.ReplaceAll(strings.ReplaceAll(s, "+", "%2B"), "/", "%2F"))
		if raw, err := base64.StdEncoding.DecodeString(s); err == nil && len(raw) >= 8 {
			out = append(out, string(raw))
		}
	}
	return out
}

// EnvConfig configures NewEnv. Zero values take the defaults named.
type EnvConfig struct {
	// Dir holds secret files and worker logs; required (a test's TempDir).
	Dir string
	// Credentials; default DistinctiveCredentials.
	Credentials Credentials
	// Sim is the simulator's configuration; its keys and secrets are
	// overwritten from Credentials and RecordCalls is set. Default: none else.
	Sim gigyasim.Config
	// KafkaOpts are extra options for the in-process broker.
	KafkaOpts []kfake.Opt
}

// Env is one scenario's world: a broker with the topics, the Gigya simulator
// behind a loopback HTTP server, a consumer group name.
type Env struct {
	Dir         string
	Kafka       *kafkatest.Cluster
	Sim         *gigyasim.Server
	SimURL      string // http://127.0.0.1:port
	Credentials Credentials

	// Topic names (unique to this Env).
	RegisteredTopic, LinkedTopic, UntypedTopic, DLQTopic string
	// Group is the worker's consumer group.
	Group string

	simSrv *http.Server
	simLn  net.Listener

	dlqMu      sync.Mutex
	dlqFailing bool
	dlqFault   bool // the control function is installed
	dlqRejects int
}

// NewEnv starts the broker (always in-process: fault injection needs it),
// creates the user.registered, account.linked, untyped and dead-letter
// topics, and starts the simulator on 127.0.0.1.
func NewEnv(ctx context.Context, cfg EnvConfig) (*Env, error) {
	if cfg.Dir == "" {
		return nil, errors.New("e2e: EnvConfig.Dir is required")
	}
	if cfg.Credentials == (Credentials{}) {
		cfg.Credentials = DistinctiveCredentials()
	}
	opts := append([]kfake.Opt{kfake.NumBrokers(1)}, cfg.KafkaOpts...) // non-empty: never KAFKA_BROKERS
	kc, err := kafkatest.New(opts...)
	if err != nil {
		return nil, err
	}
	e := &Env{
		Dir: cfg.Dir, Kafka: kc, Credentials: cfg.Credentials,
		RegisteredTopic: kc.Topic(string(events.UserRegistered)),
		LinkedTopic:     kc.Topic(string(events.AccountLinked)),
		UntypedTopic:    kc.Topic("regnotify-test-untyped"),
		DLQTopic:        kc.Topic("regnotify.dlq"),
		Group:           kc.Group("regnotify"),
	}
	if err := kc.CreateTopicsContext(ctx, e.RegisteredTopic, e.LinkedTopic, e.UntypedTopic, e.DLQTopic); err != nil {
		kc.Close()
		return nil, err
	}
	sc := cfg.Sim
	sc.APIKey, sc.UserKey = cfg.Credentials.APIKey, cfg.Credentials.UserKey
	sc.Secret, sc.PartnerSecret = cfg.Credentials.Secret, cfg.Credentials.PartnerSecret
	sc.RecordCalls = true
	sim, err := gigyasim.New(sc)
	if err != nil {
		kc.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		kc.Close()
		return nil, fmt.Errorf("listen for the simulator: %w", err)
	}
	e.Sim, e.simLn = sim, ln
	e.SimURL = "http://" + ln.Addr().String()
	e.simSrv = &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.simSrv.Serve(ln) }()
	return e, nil
}

// Close stops the simulator and the broker. Workers must be stopped first.
func (e *Env) Close() {
	_ = e.simSrv.Close()
	e.Kafka.Close()
}

// Topics are the topics a worker consumes by default: user.registered and
// account.linked (not the untyped one).
func (e *Env) Topics() []string { return []string{e.RegisteredTopic, e.LinkedTopic} }

// Registered returns a user.registered record for uid, keyed by uid.
func (e *Env) Registered(eventID, uid string) kafka.Message {
	v, _ := events.Encode(events.Event{EventID: eventID, Type: events.UserRegistered, UID: uid})
	return kafka.Message{Topic: e.RegisteredTopic, Key: []byte(uid), Value: v}
}

// Linked returns an account.linked record uid → siteUID, keyed by uid.
func (e *Env) Linked(eventID, uid, siteUID string) kafka.Message {
	v, _ := events.Encode(events.Event{EventID: eventID, Type: events.AccountLinked, UID: uid, SiteUID: siteUID})
	return kafka.Message{Topic: e.LinkedTopic, Key: []byte(uid), Value: v}
}

// Produce writes msgs (Topic set on each) synchronously with acks=all.
func (e *Env) Produce(ctx context.Context, msgs ...kafka.Message) error {
	return e.Kafka.ProduceContext(ctx, msgs...)
}

// ReadDLQ returns every dead-letter record up to the topic's current end.
func (e *Env) ReadDLQ(ctx context.Context) ([]kafka.Message, error) {
	return e.Kafka.ReadAllContext(ctx, e.DLQTopic)
}

// Committed returns the group's committed offset per partition of topic
// (-1: none).
func (e *Env) Committed(ctx context.Context, topic string) (map[int]int64, error) {
	return e.Kafka.Committed(ctx, e.Group, topic)
}

// EndOffsets returns each partition's high-water mark.
func (e *Env) EndOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	return e.Kafka.EndOffsets(ctx, topic)
}

// CaughtUp reports whether the group committed to the end of every
// partition of topics (default: Topics()).
func (e *Env) CaughtUp(ctx context.Context, topics ...string) (bool, error) {
	if len(topics) == 0 {
		topics = e.Topics()
	}
	return e.Kafka.CaughtUp(ctx, e.Group, topics...)
}

// WaitCaughtUp polls CaughtUp every 100 ms until it is true, ctx ends or
// timeout passes.
func (e *Env) WaitCaughtUp(ctx context.Context, timeout time.Duration, topics ...string) error {
	return wait.Until(ctx, timeout, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		return e.CaughtUp(ctx, topics...)
	})
}

// FailDLQWrites makes the broker reject (failing = true) or accept again
// (false) every produce request to the dead-letter topic, answering
// NOT_ENOUGH_REPLICAS as a broker that cannot meet acks=all would.
func (e *Env) FailDLQWrites(failing bool) {
	e.dlqMu.Lock()
	defer e.dlqMu.Unlock()
	e.dlqFailing = failing
	if e.dlqFault || !failing {
		return
	}
	e.dlqFault = true
	fc := e.Kafka.Fake
	fc.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		pr := req.(*kmsg.ProduceRequest)
		e.dlqMu.Lock()
		failing := e.dlqFailing
		e.dlqMu.Unlock()
		if !failing || !producesTo(pr, e.DLQTopic) {
			return nil, nil, false // the broker handles it; the control stays
		}
		fc.KeepControl()
		e.dlqMu.Lock()
		e.dlqRejects++
		e.dlqMu.Unlock()
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = 19 // NOT_ENOUGH_REPLICAS
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}

// DLQRejects is how many produce requests FailDLQWrites has rejected.
func (e *Env) DLQRejects() int {
	e.dlqMu.Lock()
	defer e.dlqMu.Unlock()
	return e.dlqRejects
}

func producesTo(pr *kmsg.ProduceRequest, topic string) bool {
	for _, t := range pr.Topics {
		if t.Topic == topic {
			return true
		}
	}
	return false
}

// WorkerOptions configure one worker process. Zero values take the
// defaults named.
type WorkerOptions struct {
	// Bin is the regnotify binary (Build); required.
	Bin string
	// Topics to consume; default Env.Topics().
	Topics []string
	// Concurrency; default 64.
	Concurrency int
	// RateLimit in calls/s; default 0 (none: the scenarios inject limits
	// in the simulator). Negative means the binary's own default.
	RateLimit float64
	// Retry settings; defaults 50ms, 1s, 60s.
	RetryInitial, RetryMaxInterval, RetryMaxElapsed time.Duration
	// ShutdownTimeout; default 10s.
	ShutdownTimeout time.Duration
	// LogLevel; default info.
	LogLevel string
	// Credentials override Env.Credentials for this worker (e.g. a wrong
	// partner secret); default the Env's.
	Credentials *Credentials
	// Args are appended after the generated flags (later flags win);
	// ExtraEnv entries ("K=V") are added to the child's environment.
	Args     []string
	ExtraEnv []string
}

// Worker is one running regnotify process.
type Worker struct {
	cmd      *exec.Cmd
	HTTPAddr string // 127.0.0.1:port of /metrics, /readyz, /healthz
	LogPath  string // the child's stderr (JSON log lines)
	Started  time.Time

	done    chan struct{} // closed when the process has been waited for
	waitErr error
	logFile *os.File
	http    *http.Client
}

var workerSeq struct {
	sync.Mutex
	n int
}

// StartWorker starts `regnotify run` against the Env: brokers, group, topics,
// dead-letter topic and Gigya keys as flags; the application secret in
// GIGYA_SECRET and the partner secret through GIGYA_PARTNER_SECRET_FILE;
// signed request authentication; /metrics on a free loopback port; JSON
// logs to a file in Env.Dir. It returns once the process started (not once
// it joined the group: see WaitReady). The child inherits no KAFKA_*,
// GIGYA_* or REGNOTIFY_* variable of this process and is killed if this
// process dies (Linux).
func (e *Env) StartWorker(ctx context.Context, o WorkerOptions) (*Worker, error) {
	if o.Bin == "" {
		return nil, errors.New("e2e: WorkerOptions.Bin is required")
	}
	creds := e.Credentials
	if o.Credentials != nil {
		creds = *o.Credentials
	}
	setDefault(&o.Concurrency, 64)
	setDefault(&o.RetryInitial, 50*time.Millisecond)
	setDefault(&o.RetryMaxInterval, time.Second)
	setDefault(&o.RetryMaxElapsed, 60*time.Second)
	setDefault(&o.ShutdownTimeout, 10*time.Second)
	setDefault(&o.LogLevel, "info")
	if len(o.Topics) == 0 {
		o.Topics = e.Topics()
	}
	workerSeq.Lock()
	workerSeq.n++
	n := workerSeq.n
	workerSeq.Unlock()

	partnerFile := filepath.Join(e.Dir, fmt.Sprintf("partner-secret-%d", n))
	if err := os.WriteFile(partnerFile, []byte(creds.PartnerSecret+"\n"), 0o600); err != nil {
		return nil, err
	}
	addr, err := wait.FreeAddr()
	if err != nil {
		return nil, err
	}
	args := e.runArgs(o, creds, addr)
	args = append(args, o.Args...)
	env := append(cleanEnviron(), "GIGYA_SECRET="+creds.Secret, "GIGYA_PARTNER_SECRET_FILE="+partnerFile)
	env = append(env, o.ExtraEnv...)

	logPath := filepath.Join(e.Dir, fmt.Sprintf("worker-%d.log", n))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Bin, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", o.Bin, err)
	}
	w := &Worker{
		cmd: cmd, HTTPAddr: addr, LogPath: logPath, Started: time.Now(),
		done: make(chan struct{}), logFile: logFile,
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	go func() {
		w.waitErr = cmd.Wait()
		logFile.Close()
		close(w.done)
	}()
	return w, nil
}

// runArgs are the flags of a worker started by StartWorker, o's defaults
// set; o.Args are appended by the caller.
func (e *Env) runArgs(o WorkerOptions, creds Credentials, addr string) []string {
	args := []string{"run",
		"--brokers", strings.Join(e.Kafka.Brokers, ","),
		"--group", e.Group,
		"--topics", strings.Join(o.Topics, ","),
		"--dlq-topic", e.DLQTopic,
		"--gigya-api-key", creds.APIKey,
		"--gigya-user-key", creds.UserKey,
		"--gigya-base-url", e.SimURL,
		"--gigya-auth", "signed",
		"--concurrency", strconv.Itoa(o.Concurrency),
		"--retry-initial", o.RetryInitial.String(),
		"--retry-max-interval", o.RetryMaxInterval.String(),
		"--retry-max-elapsed", o.RetryMaxElapsed.String(),
		"--shutdown-timeout", o.ShutdownTimeout.String(),
		"--request-timeout", "5s",
		"--http-addr", addr,
		"--log-format", "json",
		"--log-level", o.LogLevel,
	}
	if o.RateLimit >= 0 {
		args = append(args, "--rate-limit", strconv.FormatFloat(o.RateLimit, 'f', -1, 64))
	}
	return args
}

// RunCommand runs the binary with args and env (added to a clean
// environment) to completion and returns its exit code and combined
// output; for configuration errors that must stop the process at start.
func RunCommand(ctx context.Context, bin string, env []string, args ...string) (int, string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnviron(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String(), nil
	}
	if err != nil {
		return -1, out.String(), err
	}
	return 0, out.String(), nil
}

// Pid is the process id.
func (w *Worker) Pid() int { return w.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (w *Worker) Exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has ended.
func (w *Worker) Done() <-chan struct{} { return w.done }

// ExitStatus is how a worker process ended and what it used.
type ExitStatus struct {
	Code     int           // exit code; -1 if killed by a signal
	Signal   string        // the signal that killed it, if any
	Elapsed  time.Duration // from the signal (Stop, Kill) or start (Wait) to exit
	CPU      time.Duration // user + system CPU time
	MaxRSS   int64         // peak resident set size, bytes
	Duration time.Duration // wall time since start
}

// Wait waits for the process to end on its own, at most timeout.
func (w *Worker) Wait(timeout time.Duration) (ExitStatus, error) {
	return w.waitFor(time.Now(), timeout)
}

// Stop sends SIGTERM and waits at most timeout for the exit; past timeout it
// kills the process and returns an error.
func (w *Worker) Stop(timeout time.Duration) (ExitStatus, error) {
	return w.signalAndWait(syscall.SIGTERM, timeout)
}

// Kill sends SIGKILL and waits for the process to be gone.
func (w *Worker) Kill() (ExitStatus, error) {
	return w.signalAndWait(syscall.SIGKILL, 10*time.Second)
}

func (w *Worker) signalAndWait(sig syscall.Signal, timeout time.Duration) (ExitStatus, error) {
	from := time.Now()
	if !w.Exited() {
		if err := w.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return ExitStatus{}, fmt.Errorf("signal %v: %w", sig, err)
		}
	}
	return w.waitFor(from, timeout)
}

func (w *Worker) waitFor(from time.Time, timeout time.Duration) (ExitStatus, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
		_ = w.cmd.Process.Kill()
		<-w.done
		st := w.status(from)
		return st, fmt.Errorf("worker pid %d did not exit within %v (killed)", w.Pid(), timeout)
	}
	return w.status(from), nil
}

func (w *Worker) status(from time.Time) ExitStatus {
	ps := w.cmd.ProcessState
	st := ExitStatus{Code: ps.ExitCode(), Elapsed: time.Since(from), Duration: time.Since(w.Started),
		CPU: ps.UserTime() + ps.SystemTime()}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		st.Signal = ws.Signal().String()
	}
	st.MaxRSS = maxRSS(ps)
	return st
}

// Close kills the process if it still runs. Safe to call more than once.
func (w *Worker) Close() {
	if !w.Exited() {
		_ = w.cmd.Process.Kill()
	}
	<-w.done
}

// Logs returns everything the process wrote so far.
func (w *Worker) Logs() ([]byte, error) { return os.ReadFile(w.LogPath) }

// Usage is a running process's resource use so far.
type Usage struct {
	CPU     time.Duration // user + system CPU time
	PeakRSS int64         // VmHWM, bytes
	RSS     int64         // VmRSS, bytes
}

// Usage reads the process's CPU time and memory from /proc while it runs,
// or from its rusage once it exited.
func (w *Worker) Usage() (Usage, error) {
	if w.Exited() {
		ps := w.cmd.ProcessState
		return Usage{CPU: ps.UserTime() + ps.SystemTime(), PeakRSS: maxRSS(ps)}, nil
	}
	return procUsage(w.Pid())
}

// get fetches path from the worker's HTTP server.
func (w *Worker) get(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.HTTPAddr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Ready fetches /readyz: the HTTP status and the body's text.
func (w *Worker) Ready(ctx context.Context) (int, string, error) {
	code, body, err := w.get(ctx, "/readyz")
	return code, strings.TrimSpace(string(body)), err
}

// WaitReady polls /readyz until it answers 200, the process exits, ctx ends
// or timeout passes.
func (w *Worker) WaitReady(ctx context.Context, timeout time.Duration) error {
	return wait.Until(ctx, timeout, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		if w.Exited() {
			return false, fmt.Errorf("worker exited with code %d before it was ready", w.cmd.ProcessState.ExitCode())
		}
		code, _, err := w.Ready(ctx)
		if err != nil {
			return false, nil // not listening yet
		}
		return code == http.StatusOK, nil
	})
}

// Metrics is one scrape of /metrics: the raw body and the parsed families.
type Metrics struct {
	Raw      []byte
	Families map[string]*dto.MetricFamily
}

// Scrape fetches and parses /metrics.
func (w *Worker) Scrape(ctx context.Context) (Metrics, error) {
	code, body, err := w.get(ctx, "/metrics")
	if err != nil {
		return Metrics{}, err
	}
	if code != http.StatusOK {
		return Metrics{}, fmt.Errorf("/metrics: HTTP %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return Metrics{}, fmt.Errorf("parse /metrics: %w", err)
	}
	return Metrics{Raw: body, Families: fams}, nil
}

// Value returns the sum of the samples of metric name (counter, gauge or
// untyped) whose labels include all of labels ("k", "v", ...), and whether
// any matched.
func (m Metrics) Value(name string, labels ...string) (float64, bool) {
	mf := m.Families[name]
	if mf == nil {
		return 0, false
	}
	sum, found := 0.0, false
sample:
	for _, mt := range mf.GetMetric() {
		have := make(map[string]string, len(mt.GetLabel()))
		for _, l := range mt.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue sample
			}
		}
		found = true
		switch {
		case mt.GetCounter() != nil:
			sum += mt.GetCounter().GetValue()
		case mt.GetGauge() != nil:
			sum += mt.GetGauge().GetValue()
		case mt.GetUntyped() != nil:
			sum += mt.GetUntyped().GetValue()
		}
	}
	return sum, found
}

// Header returns the value of the last header named key of m.
func Header(m kafka.Message, key string) (string, bool) {
	for i := len(m.Headers) - 1; i >= 0; i-- {
		if m.Headers[i].Key == key {
			return string(m.Headers[i].Value), true
		}
	}
	return "", false
}

// cleanEnviron is this process's environment without the variables the
// binary reads, so that a developer's shell cannot change a scenario.
func cleanEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "KAFKA_") || strings.HasPrefix(k, "GIGYA_") || strings.HasPrefix(k, "REGNOTIFY_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
