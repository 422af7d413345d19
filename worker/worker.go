package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/regnotify/regnotify/events"
)

// Config is the worker's typed configuration. Zero durations and counts take
// the defaults named on each field (the contract's defaults).
type Config struct {
	Kafka       Kafka
	Group       string   // consumer group; default "regnotify"
	Topics      []string // default user.registered, account.linked
	DLQTopic    string   // default "regnotify.dlq"
	StartOffset string   // where a new group begins: "earliest" (default) or "latest"

	Concurrency int     // events in flight (running and queued); default 64
	RateLimit   float64 // Gigya calls per second; 0 = no limit

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
	Now               func() time.Time
}

func (c *Config) setDefaults() {
	setDefault(&c.Group, "regnotify")
	if len(c.Topics) == 0 {
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

// Validate reports the first bad setting, naming it.
func (c Config) Validate() error {
	c.setDefaults()
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if slices.Contains(c.Topics, c.DLQTopic) {
		return fmt.Errorf("dead-letter topic %q is also a consumed topic", c.DLQTopic)
	}
	for _, t := range c.Topics {
		if t == "" {
			return errors.New("topics: empty topic name")
		}
	}
	if c.StartOffset != "earliest" && c.StartOffset != "latest" {
		return fmt.Errorf("start offset %q: want earliest or latest", c.StartOffset)
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("concurrency %d: want at least 1", c.Concurrency)
	}
	if c.RateLimit < 0 {
		return fmt.Errorf("rate limit %v: want 0 (none) or more", c.RateLimit)
	}
	if c.RetryInitial < 0 || c.RetryMaxInterval < c.RetryInitial || c.RetryMaxElapsed < 0 {
		return errors.New("retry settings: want 0 <= initial <= max interval, max elapsed >= 0")
	}
	if c.ShutdownTimeout < 0 {
		return errors.New("shutdown timeout: want >= 0")
	}
	return nil
}

// Worker is the consumer-group worker. Create it with New, start it with Run.
type Worker struct {
	cfg     Config
	gigya   Gigya
	dlq     MessageWriter
	metrics *Metrics
	log     *zap.Logger
	now     func() time.Time

	dialer  *kafka.Dialer
	limiter *rate.Limiter
	outage  *outage
	slots   chan struct{} // one per event in flight

	joined    atomic.Bool
	dlqFails  atomic.Int64 // events whose dead-letter write is failing now
	lastBeat  atomic.Int64 // unix nanos of the last loop turn, for /healthz
	beatLimit time.Duration
}

// New returns a worker. gigya and dlq are its two outputs (the Gigya client
// and the dead-letter writer, see NewDeadLetterWriter); metrics may be
// shared with the Gigya client's Observe hook.
func New(cfg Config, g Gigya, dlq MessageWriter, metrics *Metrics, log *zap.Logger) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if g == nil || dlq == nil {
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
	limit, burst := rate.Inf, 1
	if cfg.RateLimit > 0 {
		limit = rate.Limit(cfg.RateLimit)
	}
	w := &Worker{
		cfg: cfg, gigya: g, dlq: dlq, metrics: metrics, log: log, now: cfg.Now,
		dialer:    dialer,
		limiter:   rate.NewLimiter(limit, burst),
		slots:     make(chan struct{}, cfg.Concurrency),
		beatLimit: 2*cfg.CommitInterval + 2*time.Minute,
	}
	w.outage = newOutage(cfg.OutageThreshold, cfg.OutageMinUsers, cfg.Now, func(open bool) {
		if open {
			metrics.outage.Set(1)
			log.Warn("Gigya outage: pausing, probing until it answers")
		} else {
			metrics.outage.Set(0)
			log.Info("Gigya answers again: resuming")
		}
	})
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

// Ready reports whether the worker is in the group and can dead-letter.
func (w *Worker) Ready() bool { return w.joined.Load() && w.dlqFails.Load() == 0 }

// Healthy reports whether the worker's loop has turned recently.
func (w *Worker) Healthy() bool {
	return w.now().Sub(time.Unix(0, w.lastBeat.Load())) < w.beatLimit
}

// Handler serves /metrics, /healthz and /readyz.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(w.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		status(rw, w.Healthy(), "loop stuck")
	})
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, _ *http.Request) {
		reason := "not in the consumer group"
		if w.dlqFails.Load() > 0 {
			reason = "dead-letter topic writes failing"
		}
		status(rw, w.Ready(), reason)
	})
	return mux
}

func status(rw http.ResponseWriter, ok bool, reason string) {
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
	start := kafka.FirstOffset
	if w.cfg.StartOffset == "latest" {
		start = kafka.LastOffset
	}
	gcfg := kafka.ConsumerGroupConfig{
		ID:                w.cfg.Group,
		Brokers:           w.cfg.Kafka.Brokers,
		Dialer:            w.dialer,
		Topics:            w.cfg.Topics,
		StartOffset:       start,
		SessionTimeout:    w.cfg.SessionTimeout,
		RebalanceTimeout:  w.cfg.RebalanceTimeout,
		HeartbeatInterval: w.cfg.HeartbeatInterval,
		JoinGroupBackoff:  time.Second,
		// New partitions are read from their start without waiting for an
		// unrelated rebalance.
		WatchPartitionChanges: true,
		Timeout:               5 * time.Second,
		ErrorLogger:           KafkaLogger(w.log),
	}
	if err := gcfg.Validate(); err != nil {
		return fmt.Errorf("consumer group config: %w", err)
	}
	var srv *http.Server
	var ln net.Listener
	if w.cfg.HTTPAddr != "" {
		var err error
		ln, err = net.Listen("tcp", w.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", w.cfg.HTTPAddr, err)
		}
		srv = &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second}
	}
	group, err := kafka.NewConsumerGroup(gcfg)
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return fmt.Errorf("consumer group: %w", err)
	}
	w.log.Info("worker starting", zap.String("group", w.cfg.Group), zap.Strings("topics", w.cfg.Topics),
		zap.String("dlqTopic", w.cfg.DLQTopic), zap.Int("concurrency", w.cfg.Concurrency), zap.Stringer("kafka", w.cfg.Kafka))

	eg, egCtx := errgroup.WithContext(ctx)
	probeCtx, stopProbe := context.WithCancel(context.Background())
	eg.Go(func() error {
		w.outage.probeLoop(probeCtx, w.probe, w.cfg.RetryInitial, min(w.cfg.RetryMaxInterval, 5*time.Second))
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
		w.consume(egCtx, group, sync.OnceFunc(func() { go group.Close() }))
		CloseBounded(w.log, "consumer group", group.Close, 10*time.Second)
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

// probe asks Gigya anything: an answer that is not an outage-kind failure
// means Gigya is back. The UID is one no account has.
func (w *Worker) probe(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := w.gigya.GetUserInfo(pctx, "regnotify-outage-probe")
	if err == nil {
		return true
	}
	ge, ok := errorsAsGigya(err)
	return ok && !(ge.Transport() || (ge.Temporary() && !ge.PerUser() && !ge.RateLimited()))
}

// consume joins generation after generation until ctx ends. leave starts
// leaving the group; a generation ended by shutdown calls it so that
// kafka-go leaves instead of joining the next generation.
func (w *Worker) consume(ctx context.Context, group *kafka.ConsumerGroup, leave func()) {
	var lastErr string
	for {
		nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		gen, err := group.Next(nctx)
		cancel()
		w.beat()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			if errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			if msg := err.Error(); msg != lastErr {
				w.log.Warn("consumer group: cannot join yet, retrying", zap.Error(err))
				lastErr = msg
			}
			continue
		}
		lastErr = ""
		done := make(chan struct{})
		gen.Start(func(genCtx context.Context) {
			defer close(done)
			w.runGeneration(ctx, genCtx, gen, leave)
		})
		<-done
	}
}

type topicPartition struct {
	topic     string
	partition int
}

// runGeneration consumes the partitions assigned in gen until the generation
// ends (a rebalance) or ctx ends (shutdown), then drains: in-flight events
// may finish within a bound, finished offsets are committed, and what did
// not finish stays uncommitted for the next owner.
func (w *Worker) runGeneration(ctx, genCtx context.Context, gen *kafka.Generation, leave func()) {
	fetchCtx, stopFetch := context.WithCancel(genCtx)
	defer stopFetch()
	stopOnShutdown := context.AfterFunc(ctx, stopFetch)
	defer stopOnShutdown()
	// Processing outlives the shutdown signal: in-flight events get the
	// drain time to finish before they are abandoned.
	procCtx, cancelProc := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelProc()

	parts := make(map[topicPartition]*partitionOffsets)
	idle := make(chan struct{}, 1) // a partition's fetched events all finished
	var assigned []string
	for topic, as := range gen.Assignments {
		for _, a := range as {
			p := newPartitionOffsets()
			p.drained = idle
			parts[topicPartition{topic, a.ID}] = p
			assigned = append(assigned, topic+"/"+strconv.Itoa(a.ID))
		}
	}
	slices.Sort(assigned)
	w.joined.Store(true)
	defer w.joined.Store(false)
	w.log.Info("joined consumer group", zap.Int32("generation", gen.ID), zap.Strings("partitions", assigned))

	sched := newKeyed(w.cfg.Concurrency, func(j *job) { w.runJob(procCtx, j) })
	defer sched.stop() // after the drain below: every submitted job has run
	var fetchers sync.WaitGroup
	for topic, as := range gen.Assignments {
		for _, a := range as {
			fetchers.Add(1)
			go func() {
				defer fetchers.Done()
				w.fetch(fetchCtx, topic, a, parts[topicPartition{topic, a.ID}], sched)
			}()
		}
	}

	committed := make(map[topicPartition]int64)
	var lastCommit time.Time
	commit := func() {
		lastCommit = time.Now()
		offsets := make(map[string]map[int]int64)
		for tp, p := range parts {
			if off := p.commitPoint(); off >= 0 && !sameCommit(committed, tp, off) {
				if offsets[tp.topic] == nil {
					offsets[tp.topic] = make(map[int]int64)
				}
				offsets[tp.topic][tp.partition] = off
			}
		}
		if len(offsets) == 0 {
			return
		}
		if err := gen.CommitOffsets(offsets); err != nil {
			w.metrics.commits.WithLabelValues("error").Inc()
			w.log.Warn("offset commit failed; will retry", zap.Error(err))
			return
		}
		w.metrics.commits.WithLabelValues("ok").Inc()
		for t, ps := range offsets {
			for p, off := range ps {
				committed[topicPartition{t, p}] = off
			}
		}
	}

	tick := time.NewTicker(w.cfg.CommitInterval)
	defer tick.Stop()
	// A partition whose fetched events have all finished (the end of a
	// backlog, a quiet stream) is committed within a tenth of the interval
	// rather than at the next tick, so that the group's offsets show the
	// work done; a busy partition is committed once per interval.
	var soon <-chan time.Time
	for fetchCtx.Err() == nil {
		select {
		case <-fetchCtx.Done():
		case <-tick.C:
			w.beat()
			commit()
		case <-idle:
			if soon == nil {
				soon = time.After(max(0, w.cfg.CommitInterval/10-time.Since(lastCommit)))
			}
		case <-soon:
			soon = nil
			commit()
		}
	}
	fetchers.Wait()

	drain := w.cfg.ShutdownTimeout
	reason := "shutdown"
	genDone := genCtx.Done()
	if genCtx.Err() != nil {
		reason = "rebalance"
		drain = min(drain, w.cfg.rebalanceDrain())
		genDone = nil
	}
	drained := make(chan struct{})
	go func() { sched.wait(); close(drained) }()
	began := time.Now()
	deadline := time.NewTimer(drain)
	defer deadline.Stop()
	abandon := func(why string) {
		w.log.Warn("abandoning unfinished events, they will be redelivered",
			zap.String("reason", reason), zap.String("why", why), zap.Int("unfinished", unfinished(parts)))
		cancelProc()
		<-drained
	}
	outageCheck := time.NewTicker(100 * time.Millisecond)
	defer outageCheck.Stop()
wait:
	for {
		select {
		case <-drained:
			break wait
		case <-tick.C:
			w.beat()
			commit()
		case <-genDone:
			// A rebalance began during a shutdown drain: the session
			// bound applies from now on.
			genDone = nil
			if left := drain - time.Since(began); left > w.cfg.rebalanceDrain() {
				deadline.Reset(w.cfg.rebalanceDrain())
			}
		case <-outageCheck.C:
			if w.outage.isOpen() {
				// Nothing can finish while Gigya is down: waiting only
				// delays the rebalance or the shutdown.
				abandon("Gigya outage")
				break wait
			}
		case <-deadline.C:
			abandon("drain time over")
			break wait
		}
	}
	if reason == "shutdown" {
		leave()
	}
	commit()
	for tp := range parts {
		w.metrics.lag.DeleteLabelValues(tp.topic, strconv.Itoa(tp.partition))
	}
	w.log.Info("left consumer group generation", zap.Int32("generation", gen.ID), zap.String("reason", reason))
}

func unfinished(parts map[topicPartition]*partitionOffsets) int {
	n := 0
	for _, p := range parts {
		n += p.unfinished()
	}
	return n
}

// fetch reads one partition from offset and hands each message to sched,
// holding a concurrency slot per message. It stops when ctx ends.
func (w *Worker) fetch(ctx context.Context, topic string, a kafka.PartitionAssignment, p *partitionOffsets, sched *keyed) {
	rcfg := kafka.ReaderConfig{
		Brokers:        w.cfg.Kafka.Brokers,
		Topic:          topic,
		Partition:      a.ID,
		Dialer:         w.dialer,
		MinBytes:       1,
		MaxBytes:       16 << 20, // above any record we accept to dead-letter (1 MiB and more)
		MaxWait:        250 * time.Millisecond,
		QueueCapacity:  256,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		IsolationLevel: kafka.ReadCommitted,
		ErrorLogger:    KafkaLogger(w.log),
	}
	if err := rcfg.Validate(); err != nil {
		w.log.Error("reader config", zap.Error(err))
		return
	}
	start := a.Offset
	if start < 0 {
		// No committed offset: resolve "earliest" or "latest" once and
		// commit it (partitionOffsets.startAt) even before any event
		// finishes. Left relative, the next owner after a rebalance or a
		// crash would resolve "latest" anew and skip what came between.
		resolved, err := w.resolveOffset(ctx, topic, a.ID, start)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("cannot resolve the start offset; starting relative", zap.String("topic", topic), zap.Int("partition", a.ID), zap.Error(err))
		} else {
			start = resolved
			p.startAt(start)
		}
	}
	r := kafka.NewReader(rcfg)
	defer CloseBounded(w.log, "partition reader", r.Close, 5*time.Second)
	if err := r.SetOffset(start); err != nil {
		w.log.Error("set offset", zap.String("topic", topic), zap.Int("partition", a.ID), zap.Error(err))
		return
	}
	lag := w.metrics.lag.WithLabelValues(topic, strconv.Itoa(a.ID))
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("fetch failed; retrying", zap.String("topic", topic), zap.Int("partition", a.ID), zap.Error(err))
			if sleep(ctx, time.Second) != nil {
				return
			}
			continue
		}
		lag.Set(float64(max(0, m.HighWaterMark-m.Offset-1)))
		if err := w.take(ctx); err != nil {
			return // not taken: uncommitted, refetched by whoever owns the partition next
		}
		if isTxnMarker(m) {
			// kafka-go hands out transaction markers as records; they are
			// not events. Finished at once, nothing to notify.
			w.log.Debug("skipping a transaction marker", zap.String("topic", topic), zap.Int("partition", a.ID), zap.Int64("offset", m.Offset))
			p.add(m.Offset)
			p.finish(m.Offset)
			<-w.slots
			continue
		}
		j := &job{msg: m, part: p}
		j.ev, j.evErr = decode(m)
		j.key = string(m.Key)
		if j.key == "" && j.evErr == nil {
			j.key = j.ev.UID
		}
		p.add(m.Offset)
		w.metrics.inflight.Inc()
		sched.submit(j)
	}
}

// take waits until the worker may take one more event: a free concurrency
// slot, no Gigya outage, dead-letter writes working.
func (w *Worker) take(ctx context.Context) error {
	for {
		if err := w.outage.wait(ctx); err != nil {
			return err
		}
		if w.dlqFails.Load() == 0 {
			break
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Worker) runJob(ctx context.Context, j *job) {
	if w.handleSafely(ctx, j) {
		j.part.finish(j.msg.Offset)
	}
	w.metrics.inflight.Dec()
	<-w.slots
}

// handleSafely is handle, with a panic turned into a dead letter: a bug
// triggered by one record must not crash-loop the worker on that record.
func (w *Worker) handleSafely(ctx context.Context, j *job) (finished bool) {
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("internal error handling an event", zap.String("topic", j.msg.Topic),
				zap.Int("partition", j.msg.Partition), zap.Int64("offset", j.msg.Offset), zap.Any("panic", r))
			finished = w.deadLetter(ctx, j.msg, failure{class: ClassRejected, message: fmt.Sprintf("internal error: %v", r)}, OutcomeDLQRejected)
		}
	}()
	return w.handle(ctx, j)
}

// decode is events.Decode with a panic turned into an invalid event.
func decode(m kafka.Message) (ev events.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid event: the decoder failed on this record (internal error: %v)", r)
		}
	}()
	return events.Decode(m.Topic, m.Value)
}

// isTxnMarker reports whether m has the shape of a transaction control
// record (key: version 0 and type abort or commit; value: version 0 and the
// coordinator epoch). kafka-go does not filter them out.
func isTxnMarker(m kafka.Message) bool {
	return len(m.Key) == 4 && len(m.Value) == 6 && m.Key[0] == 0 && m.Key[1] == 0 && m.Key[2] == 0 &&
		m.Key[3] <= 1 && m.Value[0] == 0 && m.Value[1] == 0
}

// resolveOffset turns FirstOffset or LastOffset into the partition's
// current first or end offset, asking its leader.
func (w *Worker) resolveOffset(ctx context.Context, topic string, partition int, rel int64) (int64, error) {
	var last error
	for _, b := range w.cfg.Kafka.Brokers {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := w.dialer.DialLeader(dctx, "tcp", b, topic, partition)
		cancel()
		if err != nil {
			last = err
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		var off int64
		if rel == kafka.FirstOffset {
			off, err = conn.ReadFirstOffset()
		} else {
			off, err = conn.ReadLastOffset()
		}
		conn.Close()
		if err == nil {
			return off, nil
		}
		last = err
	}
	return 0, fmt.Errorf("resolve start offset of %s/%d: %w", topic, partition, last)
}

func sameCommit(committed map[topicPartition]int64, tp topicPartition, off int64) bool {
	c, ok := committed[tp]
	return ok && c == off
}

// CloseBounded calls close but waits at most d: kafka-go's Close can hang
// when brokers are unreachable, and shutdown must stay bounded. An error or
// a timeout is logged, not returned: there is nothing left to do about it.
func CloseBounded(log *zap.Logger, what string, close func() error, d time.Duration) {
	done := make(chan error, 1)
	go func() { done <- close() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			log.Debug("close", zap.String("what", what), zap.Error(err))
		}
	case <-t.C:
		log.Warn("close timed out", zap.String("what", what), zap.Duration("after", d))
	}
}

// KafkaLogger routes kafka-go's error log to zap at debug level: the
// commands log the state changes that matter themselves.
func KafkaLogger(log *zap.Logger) kafka.Logger {
	s := log.Named("kafka").Sugar()
	return kafka.LoggerFunc(func(msg string, args ...any) { s.Debugf(msg, args...) })
}
