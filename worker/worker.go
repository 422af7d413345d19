package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/field"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkaread"
	"github.com/regnotify/regnotify/worker/tracing"
)

// Config is the worker's typed configuration. Zero durations and counts take
// the defaults named on each field (the contract's defaults).
type Config struct {
	Kafka       kafkaio.Kafka
	Group       string   // consumer group; default "regnotify"
	Topics      []string // live topics; default user.registered, account.linked (unless BulkTopics are set)
	DLQTopic    string   // default "regnotify.dlq"
	StartOffset string   // where a new group begins: "earliest" (default) or "latest"

	Concurrency int     // events in flight (running and queued); default 64
	RateLimit   float64 // the default site's Gigya calls/s for the whole consumer group; 0 = no limit

	RetryInitial     time.Duration // first retry delay; default 500ms
	RetryMaxInterval time.Duration // cap of a retry delay; default 30s
	RetryMaxElapsed  time.Duration // an event's retry budget, outage time excluded; default 2m

	ShutdownTimeout time.Duration // how long in-flight events may finish on shutdown; default 30s
	HTTPAddr        string        // /metrics, /healthz, /readyz; "" = no server

	// Tuning; the defaults suit most deployments.
	CommitInterval    time.Duration // how often finished offsets are committed; default 1s
	OutageThreshold   int           // consecutive outage-kind failures that pause the worker; default 10
	OutageMinUsers    int           // ... coming from at least this many users; default 3
	SessionTimeout    time.Duration // consumer group session; default 10s
	RebalanceTimeout  time.Duration // default 30s
	HeartbeatInterval time.Duration // default 3s

	// Sites are the Gigya sites notified; empty = one site named "default"
	// made of New's Gigya client and RateLimit, fed by every topic.
	Sites []Site
	// Quotas are named group-wide budgets (calls/s) that sites share.
	Quotas map[string]float64
	// BulkTopics are consumed bulk-lane topics (the worker's zero value is
	// none; the command passes the contract's default bulk.account.linked).
	BulkTopics []string
	// TopicConfig is the optional per-topic routing, format and lane. A
	// topic without an entry goes to the only site (an error if there are
	// several), is in the regnotify format, and is in the bulk lane when it
	// is one of BulkTopics.
	TopicConfig map[string]Topic
	// BulkConcurrency is the most slots bulk events may hold; default
	// Concurrency/2.
	BulkConcurrency int
	// SiteProbeInterval is how often a misconfigured site is probed;
	// default 30s.
	SiteProbeInterval time.Duration
	// Tracing traces events and Gigya calls; nil = off.
	Tracing *tracing.Tracing
	// TopicCheckInterval is how often the worker checks which consumed
	// topics exist (a missing one is consumed once it appears, a deleted
	// or repartitioned one leaves or changes the group's assignment);
	// default 10s.
	TopicCheckInterval time.Duration
	Now                func() time.Time
}

func (c *Config) setDefaults() {
	setDefault(&c.Group, "regnotify")
	if len(c.Topics) == 0 && len(c.BulkTopics) == 0 {
		// Only bulk topics (a configuration file whose every topic is in
		// the bulk lane) is a valid setup, not a reason for the defaults.
		c.Topics = []string{string(events.UserRegistered), string(events.AccountLinked)}
	}
	setDefault(&c.DLQTopic, "regnotify.dlq")
	setDefault(&c.StartOffset, "earliest")
	setDefault(&c.Concurrency, 64)
	setDefault(&c.RetryInitial, 500*time.Millisecond)
	setDefault(&c.RetryMaxInterval, 30*time.Second)
	setDefault(&c.RetryMaxElapsed, 2*time.Minute)
	setDefault(&c.ShutdownTimeout, 30*time.Second)
	setDefault(&c.CommitInterval, time.Second)
	setDefault(&c.OutageThreshold, 10)
	setDefault(&c.OutageMinUsers, 3)
	setDefault(&c.SessionTimeout, 10*time.Second)
	setDefault(&c.RebalanceTimeout, 30*time.Second)
	setDefault(&c.HeartbeatInterval, 3*time.Second)
	setDefault(&c.SiteProbeInterval, defaultSiteProbeInterval)
	setDefault(&c.BulkConcurrency, max(1, c.Concurrency/2))
	setDefault(&c.TopicCheckInterval, 10*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// rebalanceDrain is how long in-flight events may finish once a rebalance
// began. kafka-go stops heartbeating when a rebalance starts, and the
// coordinator expires a member that neither heartbeats nor rejoins within
// the session timeout: draining longer would let the next owner start on
// the same partitions (and keys) while this worker still works on them.
func (c Config) rebalanceDrain() time.Duration {
	return max(0, min(c.RebalanceTimeout/2, c.SessionTimeout-c.HeartbeatInterval-2*time.Second))
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports the first bad setting as a *field.Error naming it.
func (c Config) Validate() error {
	c.setDefaults()
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if slices.Contains(c.consumedTopics(), c.DLQTopic) {
		return field.Errorf("Config", "DLQTopic", "%q is also a consumed topic", c.DLQTopic)
	}
	for _, t := range c.Topics {
		if t == "" {
			return field.Errorf("Config", "Topics", "has an empty topic name")
		}
	}
	if c.StartOffset != "earliest" && c.StartOffset != "latest" {
		return field.Errorf("Config", "StartOffset", "%q: want earliest or latest", c.StartOffset)
	}
	if c.Concurrency < 1 {
		return field.Errorf("Config", "Concurrency", "%d: want at least 1", c.Concurrency)
	}
	if c.RateLimit < 0 {
		return field.Errorf("Config", "RateLimit", "%v: want 0 (none) or more", c.RateLimit)
	}
	if c.RetryInitial < 0 || c.RetryMaxInterval < c.RetryInitial || c.RetryMaxElapsed < 0 {
		return field.Errorf("Config", "RetryInitial", "want 0 <= initial <= max interval, max elapsed >= 0")
	}
	if c.TopicCheckInterval < 0 {
		return field.Errorf("Config", "TopicCheckInterval", "want >= 0")
	}
	if c.ShutdownTimeout < 0 {
		return field.Errorf("Config", "ShutdownTimeout", "want >= 0")
	}
	if c.SiteProbeInterval < 0 {
		return field.Errorf("Config", "SiteProbeInterval", "want >= 0")
	}
	return c.validateSites()
}

// Worker is the consumer-group worker. Create it with New, start it with Run.
type Worker struct {
	cfg     Config
	dlq     MessageWriter
	metrics *Metrics
	log     *zap.Logger
	now     func() time.Time

	dialer    *kafka.Dialer
	sites     []*site
	siteByKey map[string]*site  // by name and by API key
	routes    map[string]*route // by consumed topic
	budgets   *budgets          // rate governors per site and quota, slots per lane (budget.go)
	parkLimit int               // events a site that is not ok may take (see take)
	// sharesSet: a generation has set the budgets' shares.
	sharesSet atomic.Bool

	misconfigured atomic.Int64 // sites misconfigured now
	outages       atomic.Int64 // sites in outage now
	gen           atomic.Pointer[generation]

	joined      atomic.Bool
	readerFails atomic.Int64 // partitions whose reader cannot be set up now
	// openReader opens a partition reader (kafkaread.New); a test
	// replaces it to make opening fail.
	openReader func(kafkaread.Config, int64) (*kafkaread.Reader, error)
	dlqFails   atomic.Int64 // events whose dead-letter write is failing now
	lastBeat   atomic.Int64 // unix nanos of the last loop turn, for /healthz
	beatLimit  time.Duration

	topicsMu   sync.Mutex
	topicState kafkaread.TopicState // last seen, for TopicState
}

// New returns a worker. g and dlq are its two outputs (the Gigya client
// and the dead-letter writer, see NewDeadLetterWriter); metrics may be
// shared with the Gigya clients' Observe hook. With Config.Sites set, g is
// ignored (may be nil): each site brings its own client; without, g is
// the client of the one site "default".
func New(cfg Config, g Gigya, dlq MessageWriter, metrics *Metrics, log *zap.Logger) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if (g == nil && len(cfg.Sites) == 0) || dlq == nil {
		return nil, errors.New("worker: nil Gigya client or dead-letter writer")
	}
	if metrics == nil {
		metrics = NewMetrics()
	}
	if log == nil {
		log = zap.NewNop()
	}
	dialer, err := cfg.Kafka.Dialer()
	if err != nil {
		return nil, err
	}
	b, err := newBudgets(cfg)
	if err != nil {
		return nil, err
	}
	metrics.rateLimit.src.Store(b)
	w := &Worker{
		cfg: cfg, dlq: dlq, metrics: metrics, log: log, now: cfg.Now,
		dialer:     dialer,
		budgets:    b,
		parkLimit:  parkLimitFor(cfg.Concurrency),
		beatLimit:  2*cfg.CommitInterval + 2*time.Minute,
		openReader: kafkaread.New,
	}
	w.newSites(g)
	w.beat()
	return w, nil
}

func (w *Worker) beat() { w.lastBeat.Store(w.now().UnixNano()) }

// dlqFailing counts events whose dead-letter write is failing. An event
// that stops failing because it was abandoned (shutdown, rebalance) does
// not announce that writes work again: only a write that succeeded does.
func (w *Worker) dlqFailing(delta int64, written bool) {
	n := w.dlqFails.Add(delta)
	switch {
	case delta > 0 && n == 1:
		w.metrics.dlqWriteFailing.Set(1)
		w.log.Error("dead-letter topic write failing: not ready, taking no new events", zap.String("topic", w.cfg.DLQTopic))
	case delta < 0 && n == 0 && written:
		w.metrics.dlqWriteFailing.Set(0)
		w.log.Info("dead-letter topic writes succeed again", zap.String("topic", w.cfg.DLQTopic))
	}
}

// Ready reports whether the worker is in the group, reads every assigned
// partition, can dead-letter, and no site is misconfigured (a rollout with
// a bad secret stops).
func (w *Worker) Ready() bool {
	return w.joined.Load() && w.dlqFails.Load() == 0 && w.readerFails.Load() == 0 && w.misconfigured.Load() == 0
}

// Healthy reports whether the worker's loop has turned recently.
func (w *Worker) Healthy() bool {
	return w.now().Sub(time.Unix(0, w.lastBeat.Load())) < w.beatLimit
}

// Handler serves /metrics, /healthz and /readyz.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(w.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		writeStatus(rw, w.Healthy(), "loop stuck")
	})
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, _ *http.Request) {
		reason := "not in the consumer group"
		switch {
		case w.dlqFails.Load() > 0:
			reason = "dead-letter topic writes failing"
		case w.readerFails.Load() > 0:
			reason = "partition reader cannot start"
		case w.misconfigured.Load() > 0:
			reason = "site misconfigured: " + strings.Join(w.misconfiguredSites(), ", ")
		}
		writeStatus(rw, w.Ready(), reason)
	})
	return mux
}

// misconfiguredSites names the misconfigured sites and their codes.
func (w *Worker) misconfiguredSites() []string {
	var out []string
	for _, s := range w.sites {
		if state, code := s.health.current(); state == StateMisconfigured {
			out = append(out, fmt.Sprintf("%s (errorCode %d)", s.name, code))
		}
	}
	return out
}

func writeStatus(rw http.ResponseWriter, ok bool, reason string) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		rw.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(rw, reason)
		return
	}
	fmt.Fprintln(rw, "ok")
}

// Run consumes until ctx ends, then shuts down gracefully: no new events,
// in-flight events finish within ShutdownTimeout, finished offsets are
// committed, the group is left. It returns nil on a clean shutdown.
func (w *Worker) Run(ctx context.Context) error {
	gcfg := w.groupConfig(w.consumedTopics())
	if err := gcfg.Validate(); err != nil {
		return fmt.Errorf("consumer group config: %w", err)
	}
	topics, err := kafkaread.NewTopics(kafkaread.TopicsConfig{
		Brokers: w.cfg.Kafka.Brokers, Dialer: w.dialer, Topics: w.consumedTopics(), Interval: w.cfg.TopicCheckInterval,
	})
	if err != nil {
		return fmt.Errorf("consumed topics: %w", err)
	}
	defer topics.Close()
	var srv *http.Server
	var ln net.Listener
	if w.cfg.HTTPAddr != "" {
		ln, err = net.Listen("tcp", w.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", w.cfg.HTTPAddr, err)
		}
		srv = &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second}
	}
	w.log.Info("worker starting", zap.String("group", w.cfg.Group), zap.Strings("topics", w.consumedTopics()), zap.Int("sites", len(w.sites)),
		zap.String("dlqTopic", w.cfg.DLQTopic), zap.Int("concurrency", w.cfg.Concurrency), zap.Stringer("kafka", w.cfg.Kafka))

	eg, egCtx := errgroup.WithContext(ctx)
	probeCtx, stopProbe := context.WithCancel(context.Background())
	eg.Go(func() error {
		w.runProbes(probeCtx)
		return nil
	})
	if srv != nil {
		eg.Go(func() error {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http server: %w", err)
			}
			return nil
		})
	}
	eg.Go(func() error {
		defer stopProbe()
		m := &groupMember{w: w, topics: topics, bo: newBackOff(), warned: make(map[string]time.Time)}
		m.run(egCtx)
		if srv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}
		return nil
	})
	err = eg.Wait()
	w.log.Info("worker stopped")
	return err
}

// consumedTopics are the topics the group consumes, as configured (each
// joins the group once it exists).
func (w *Worker) consumedTopics() []string { return w.cfg.consumedTopics() }

// groupConfig is the consumer group over topics. kafka-go's partition
// watcher is off: it ends every generation while a topic is missing, and
// the worker's own topic poller (groupMember) sees partition changes too.
func (w *Worker) groupConfig(topics []string) kafka.ConsumerGroupConfig {
	start := kafka.FirstOffset
	if w.cfg.StartOffset == "latest" {
		start = kafka.LastOffset
	}
	return kafka.ConsumerGroupConfig{
		ID:                w.cfg.Group,
		Brokers:           w.cfg.Kafka.Brokers,
		Dialer:            w.dialer,
		Topics:            topics,
		StartOffset:       start,
		SessionTimeout:    w.cfg.SessionTimeout,
		RebalanceTimeout:  w.cfg.RebalanceTimeout,
		HeartbeatInterval: w.cfg.HeartbeatInterval,
		JoinGroupBackoff:  time.Second,
		Timeout:           5 * time.Second,
		ErrorLogger:       kafkaio.KafkaLogger(w.log),
	}
}

// consume joins generation after generation of group until ctx ends or the
// group is closed. leave starts leaving the group; a generation ended by
// shutdown calls it so that kafka-go leaves instead of joining the next
// generation. topics is what the group was built from, passed to each
// generation.
func (w *Worker) consume(ctx context.Context, group *kafka.ConsumerGroup, topics kafkaread.TopicState, bo backoff.BackOff, leave func()) {
	for {
		gen, err := w.join(ctx, group, bo)
		if err != nil {
			return // ctx ended or the group closed
		}
		began := time.Now()
		done := make(chan struct{})
		gen.Start(func(genCtx context.Context) {
			defer close(done)
			w.runGeneration(ctx, genCtx, gen, topics, leave)
		})
		<-done
		if time.Since(began) > time.Minute {
			bo.Reset()
		}
	}
}

func (w *Worker) runJob(ctx context.Context, j *job) {
	if w.handleSafely(ctx, j) {
		j.part.finish(j.msg.Offset)
		j.span.End(j.end.outcome, j.end.attempts) // after the dead-letter write
	} else {
		j.span.End("abandoned", j.end.attempts) // redelivered to the next owner
	}
	w.metrics.inflight.Dec()
	if j.site != nil {
		j.site.inflight.Add(-1)
	}
	w.releaseSlot(j)
}

// handleSafely is handle, with a panic turned into a dead letter: a bug
// triggered by one record must not crash-loop the worker on that record.
func (w *Worker) handleSafely(ctx context.Context, j *job) (finished bool) {
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("internal error handling an event", zap.String("topic", j.msg.Topic),
				zap.Int("partition", j.msg.Partition), zap.Int64("offset", j.msg.Offset), zap.Any("panic", r))
			if !j.slot && w.reacquireSlot(ctx, j) != nil {
				finished = false
				return
			}
			j.end = ending{outcome: OutcomeDLQRejected, message: fmt.Sprintf("internal error: %v", r)}
			finished = w.deadLetter(j.span.Into(ctx), j, j.end)
		}
	}()
	return w.handle(ctx, j)
}
