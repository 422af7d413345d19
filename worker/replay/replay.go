// Package replay copies dead-lettered events back to the topics they came
// from, so that the worker tries them again (contract: "replay").
//
// It reads the dead-letter topic in its own consumer group, up to the end
// offsets as of its start (or for as long as it runs, with Follow), decides
// per record with a Filter, and re-produces the selected records with acks=all.
// A partition's offset is committed only after every record before it was
// either acknowledged by the original topic's leader or skipped, so stopping
// (or crashing) and starting again neither loses nor skips a record; at worst
// the batch in flight at a crash is copied twice, which the worker tolerates
// (at-least-once, idempotent notifications).
//
// It is not the worker: it never calls Gigya, and it reads no flags.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkaread"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// MessageWriter is what replay needs from a Kafka writer: a synchronous
// write that returns once every message was acknowledged (acks=all), or an
// error (kafka.WriteErrors says which messages failed).
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Config is the typed configuration of a replay. Zero values take the
// defaults named on each field.
type Config struct {
	Kafka    kafkaio.Kafka
	Group    string // consumer group; default "regnotify-replay"
	DLQTopic string // dead-letter topic; default "regnotify.dlq"
	Filter   Filter
	// Follow keeps reading new dead letters until ctx ends, instead of
	// stopping at the end offsets seen at the start.
	Follow bool
	// DryRun reads from the group's committed offsets to the end and writes
	// a table of what it would replay to DryRunOut; it produces nothing,
	// commits nothing and does not join the group.
	DryRun    bool
	DryRunOut io.Writer
	// BatchSize is how many records are copied and acknowledged together
	// before their offsets are committed; default 200.
	BatchSize int
	// Linger is how long a batch waits for more records; default 20ms.
	Linger time.Duration
	// Writer sends the copies; nil means an acks=all writer to Kafka,
	// closed by Run.
	Writer MessageWriter
	// AfterCommit, if set, is called after each committed batch (tests).
	AfterCommit func(Stats)
}

func (c *Config) setDefaults() {
	if c.Group == "" {
		c.Group = "regnotify-replay"
	}
	if c.DLQTopic == "" {
		c.DLQTopic = "regnotify.dlq"
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 200
	}
	if c.Linger <= 0 {
		c.Linger = 20 * time.Millisecond
	}
	if c.DryRunOut == nil {
		c.DryRunOut = io.Discard
	}
}

// Validate reports the first bad setting.
func (c Config) Validate() error {
	c.setDefaults()
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if c.DryRun && c.Follow {
		return errors.New("replay: dry run and follow exclude each other")
	}
	if c.Filter.MaxReplays < 0 {
		return errors.New("replay: max replays must be 0 (no loop guard) or more")
	}
	if !c.Filter.Since.IsZero() && !c.Filter.Until.IsZero() && !c.Filter.Since.Before(c.Filter.Until) {
		return errors.New("replay: since must be before until")
	}
	return nil
}

// Stats counts what a replay did. Every record read ends in exactly one of
// the four counts.
type Stats struct {
	// Total is the number of records between the group's offsets and the
	// end offsets at the start; -1 while unknown or when following.
	Total              int64
	Replayed           int64
	SkippedByFilter    int64
	SkippedByLoopGuard int64
	Unreplayable       int64
}

// Done is how many records were handled.
func (s Stats) Done() int64 {
	return s.Replayed + s.SkippedByFilter + s.SkippedByLoopGuard + s.Unreplayable
}

func (s Stats) String() string {
	return fmt.Sprintf("replayed %d, skipped by filter %d, skipped by loop guard %d, unreplayable %d",
		s.Replayed, s.SkippedByFilter, s.SkippedByLoopGuard, s.Unreplayable)
}

type counters struct {
	total                                          atomic.Int64
	replayed, skippedFilter, skippedLoop, unreplay atomic.Int64
}

// count counts one record decided v.
func (c *counters) count(v Verdict) {
	switch v {
	case Replay:
		c.replayed.Add(1)
	case SkipFilter:
		c.skippedFilter.Add(1)
	case SkipLoopGuard:
		c.skippedLoop.Add(1)
	case Unreplayable:
		c.unreplay.Add(1)
	}
}

func (c *counters) snapshot() Stats {
	return Stats{
		Total: c.total.Load(), Replayed: c.replayed.Load(), SkippedByFilter: c.skippedFilter.Load(),
		SkippedByLoopGuard: c.skippedLoop.Load(), Unreplayable: c.unreplay.Load(),
	}
}

// Replayer runs one replay. Create it with New, start it with Run.
type Replayer struct {
	cfg    Config
	log    *zap.Logger
	dialer *kafka.Dialer
	n      counters
}

// New returns a replayer for cfg.
func New(cfg Config, log *zap.Logger) (*Replayer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	d, err := cfg.Kafka.Dialer()
	if err != nil {
		return nil, err
	}
	r := &Replayer{cfg: cfg, log: log, dialer: d}
	r.n.total.Store(-1)
	return r, nil
}

// Progress returns the counts so far; safe to call while Run runs.
func (r *Replayer) Progress() Stats { return r.n.snapshot() }

// Run replays until the end offsets seen at the start are reached (or, with
// Follow, until ctx ends) and returns the counts. Cancelling ctx stops it
// cleanly: the batch in flight is finished and committed first (bounded),
// so a rerun continues exactly where this one stopped. It returns nil on a
// clean stop, or the first error that stopped it.
func (r *Replayer) Run(ctx context.Context) (Stats, error) {
	tr, err := r.cfg.Kafka.Transport()
	if err != nil {
		return r.Progress(), err
	}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(r.cfg.Kafka.Brokers...), Transport: tr, Timeout: 10 * time.Second}
	start, end, err := r.offsets(ctx, client)
	if err != nil {
		return r.Progress(), err
	}
	if !r.cfg.Follow {
		var total int64
		for p, e := range end {
			total += max(0, e-start[p])
		}
		r.n.total.Store(total)
	}
	r.log.Info("replay starting", zap.String("group", r.cfg.Group), zap.String("dlqTopic", r.cfg.DLQTopic),
		zap.Bool("follow", r.cfg.Follow), zap.Bool("dryRun", r.cfg.DryRun), zap.Int64("records", r.n.total.Load()))
	if r.cfg.DryRun {
		err = r.dryRun(ctx, start, end)
		return r.Progress(), err
	}
	w := r.cfg.Writer
	if w == nil {
		kw := NewWriter(r.cfg.Kafka.Brokers, tr, r.cfg.BatchSize)
		defer kafkaio.CloseBounded(r.log, "writer", kw.Close, 10*time.Second)
		w = kw
	}
	err = r.runGroup(ctx, w, end)
	return r.Progress(), err
}

// offsets returns, per partition of the dead-letter topic, where this group
// stands (its committed offset, else the first offset) and the end offset.
func (r *Replayer) offsets(ctx context.Context, client *kafka.Client) (start, end map[int]int64, err error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{r.cfg.DLQTopic}})
	if err != nil {
		return nil, nil, fmt.Errorf("replay: metadata of %s: %w", r.cfg.DLQTopic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		var terr error
		if len(md.Topics) == 1 {
			terr = md.Topics[0].Error
		}
		return nil, nil, fmt.Errorf("replay: dead-letter topic %s: %w", r.cfg.DLQTopic, errors.Join(errors.New("not found"), terr))
	}
	var parts []int
	var firsts, lasts []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		parts = append(parts, p.ID)
		firsts = append(firsts, kafka.FirstOffsetOf(p.ID))
		lasts = append(lasts, kafka.LastOffsetOf(p.ID))
	}
	list := func(reqs []kafka.OffsetRequest) (map[int]int64, error) {
		// read_committed: the end is the last stable offset, where a
		// read_committed reader stops.
		resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{r.cfg.DLQTopic: reqs}, IsolationLevel: kafka.ReadCommitted})
		if err != nil {
			return nil, fmt.Errorf("replay: offsets of %s: %w", r.cfg.DLQTopic, err)
		}
		out := make(map[int]int64)
		for _, po := range resp.Topics[r.cfg.DLQTopic] {
			if po.Error != nil {
				return nil, fmt.Errorf("replay: offsets of %s/%d: %w", r.cfg.DLQTopic, po.Partition, po.Error)
			}
			if po.LastOffset >= 0 {
				out[po.Partition] = po.LastOffset
			} else {
				out[po.Partition] = po.FirstOffset
			}
		}
		return out, nil
	}
	first, err := list(firsts)
	if err != nil {
		return nil, nil, err
	}
	if end, err = list(lasts); err != nil {
		return nil, nil, err
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: r.cfg.Group, Topics: map[string][]int{r.cfg.DLQTopic: parts}})
	if err != nil {
		return nil, nil, fmt.Errorf("replay: committed offsets of group %s: %w", r.cfg.Group, err)
	}
	// A group that never committed is "not found" to some brokers.
	if resp.Error != nil && !errors.Is(resp.Error, kafka.GroupIdNotFound) {
		return nil, nil, fmt.Errorf("replay: committed offsets of group %s: %w", r.cfg.Group, resp.Error)
	}
	start = make(map[int]int64)
	for _, p := range parts {
		start[p] = first[p]
	}
	for _, po := range resp.Topics[r.cfg.DLQTopic] {
		if po.Error == nil && po.CommittedOffset >= first[po.Partition] {
			start[po.Partition] = po.CommittedOffset
		}
	}
	return start, end, nil
}

// runGroup joins the group and replays the partitions it is given, until
// each reached its end offset (or, with Follow, until ctx ends).
func (r *Replayer) runGroup(ctx context.Context, w MessageWriter, end map[int]int64) error {
	gcfg := kafka.ConsumerGroupConfig{
		ID:                r.cfg.Group,
		Brokers:           r.cfg.Kafka.Brokers,
		Dialer:            r.dialer,
		Topics:            []string{r.cfg.DLQTopic},
		StartOffset:       kafka.FirstOffset,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  30 * time.Second,
		HeartbeatInterval: 3 * time.Second,
		JoinGroupBackoff:  time.Second,
		Timeout:           5 * time.Second,
		ErrorLogger:       kafkaio.KafkaLogger(r.log),
	}
	if err := gcfg.Validate(); err != nil {
		return fmt.Errorf("replay: consumer group config: %w", err)
	}
	group, err := kafka.NewConsumerGroup(gcfg)
	if err != nil {
		return fmt.Errorf("replay: consumer group: %w", err)
	}
	defer kafkaio.CloseBounded(r.log, "consumer group", group.Close, 10*time.Second)
	for {
		gen, err := kafkaio.Join(ctx, group, r.log, nil)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("replay: consumer group: %w", err)
		}
		finished, err := r.runGeneration(ctx, gen, w, end)
		if err != nil || finished {
			return err
		}
	}
}

// runGeneration replays the partitions assigned in gen, one goroutine each.
// It reports finished when every assigned partition reached its end offset
// (never with Follow): the run is over.
func (r *Replayer) runGeneration(ctx context.Context, gen *kafka.Generation, w MessageWriter, end map[int]int64) (bool, error) {
	var (
		finished bool
		runErr   error
		done     = make(chan struct{})
	)
	gen.Start(func(genCtx context.Context) {
		defer close(done)
		// Stop fetching on shutdown or at the end of the generation; a
		// batch being written is finished and committed either way.
		stop, cancel := context.WithCancel(genCtx)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		var commitMu sync.Mutex
		commit := func(p int, next int64) error {
			commitMu.Lock()
			defer commitMu.Unlock()
			return gen.CommitOffsets(map[string]map[int]int64{r.cfg.DLQTopic: {p: next}})
		}
		eg := &errgroup.Group{}
		var reached atomic.Int64
		assigned := gen.Assignments[r.cfg.DLQTopic]
		for _, a := range assigned {
			eg.Go(func() error {
				ok, err := r.partition(stop, a, end[a.ID], w, func(next int64) error { return commit(a.ID, next) })
				if err != nil {
					cancel() // one failing partition stops the run
				}
				if ok {
					reached.Add(1)
				}
				return err
			})
		}
		r.log.Info("joined replay group", zap.Int32("generation", gen.ID), zap.Int("partitions", len(assigned)))
		runErr = eg.Wait()
		finished = !r.cfg.Follow && int(reached.Load()) == len(assigned)
	})
	<-done
	return finished, runErr
}

// partition replays one partition from a.Offset up to end (or forever with
// Follow) until stop ends. It reports whether end was reached.
func (r *Replayer) partition(stop context.Context, a kafka.PartitionAssignment, end int64, w MessageWriter, commit func(next int64) error) (bool, error) {
	if !r.cfg.Follow && (end == 0 || a.Offset >= end) {
		return true, nil
	}
	// Records the reader skips (an aborted transaction's, transaction
	// markers) are never replayed; the commit point moves over them, and
	// the end may be reached through them.
	reach, reached := context.WithCancel(stop)
	defer reached()
	skipTo, done := int64(-1), a.Offset
	rd, err := r.reader(a.ID, a.Offset, func(next int64) {
		skipTo = next
		if !r.cfg.Follow && next >= end {
			reached()
		}
	})
	if err != nil {
		return false, err
	}
	defer rd.Close()
	for {
		batch, err := r.fetchBatch(reach, rd, end)
		if len(batch) > 0 {
			if err := r.copyBatch(stop, a.ID, batch, w, commit); err != nil {
				return false, err
			}
			done = batch[len(batch)-1].Offset + 1
			if !r.cfg.Follow && done >= end {
				return true, nil
			}
		}
		if skipTo > done {
			if err := commit(skipTo); err != nil {
				return false, fmt.Errorf("replay: commit %s/%d: %w", r.cfg.DLQTopic, a.ID, err)
			}
			done = skipTo
			if !r.cfg.Follow && done >= end {
				return true, nil
			}
		}
		if err != nil {
			if stop.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("replay: read %s/%d: %w", r.cfg.DLQTopic, a.ID, err)
		}
	}
}

// reader is a read_committed reader of the dead-letter topic's partition
// from offset (kafkaread: records of aborted transactions and transaction
// markers are never returned; onSkip is told the offset after them, see
// kafkaread.Config.OnSkip).
func (r *Replayer) reader(partition int, offset int64, onSkip func(next int64)) (*kafkaread.Reader, error) {
	rd, err := kafkaread.New(kafkaread.Config{
		Brokers: r.cfg.Kafka.Brokers, Dialer: r.dialer, Topic: r.cfg.DLQTopic, Partition: partition,
		MaxWait: 250 * time.Millisecond, Logger: r.log, OnSkip: onSkip,
	}, offset)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return rd, nil
}

// fetchBatch waits for one record, then takes more for up to Linger, up to
// BatchSize or the end offset. It never commits (FetchMessage, not
// ReadMessage). With records in hand it returns them and no error: an error
// after them is returned by the next call.
func (r *Replayer) fetchBatch(stop context.Context, rd *kafkaread.Reader, end int64) ([]kafka.Message, error) {
	m, err := rd.Fetch(stop)
	if err != nil {
		return nil, err
	}
	batch := []kafka.Message{m}
	linger, cancel := context.WithTimeout(stop, r.cfg.Linger)
	defer cancel()
	for len(batch) < r.cfg.BatchSize && (r.cfg.Follow || m.Offset+1 < end) {
		if m, err = rd.Fetch(linger); err != nil {
			break
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// copyBatch decides each record of batch, writes the copies in one
// acknowledged write and commits the offset after the batch. On a failed
// write it commits the acknowledged prefix and returns the error. The write
// and the commit are not cut short by stop: a batch in flight finishes
// (within bounds) so that a stop never leaves copies uncommitted.
func (r *Replayer) copyBatch(stop context.Context, partition int, batch []kafka.Message, w MessageWriter, commit func(next int64) error) error {
	var (
		copies   []kafka.Message
		verdicts = make([]Verdict, len(batch))
		index    = make([]int, 0, len(batch)) // batch index of each copy
	)
	for i, m := range batch {
		v, reason := r.cfg.Filter.Decide(m, r.cfg.DLQTopic)
		if v == Replay {
			c, err := Copy(m)
			if err != nil { // Decide checked the count; unreachable
				v, reason = Unreplayable, err.Error()
			} else {
				copies = append(copies, c)
				index = append(index, i)
			}
		}
		verdicts[i] = v
		if v == Unreplayable {
			class, _ := deadletter.Header(m.Headers, deadletter.HeaderErrorClass)
			r.log.Warn("unreplayable dead letter: skipped, left in the dead-letter topic",
				zap.String("topic", m.Topic), zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset),
				zap.String("class", class), zap.String("reason", reason))
		}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(stop), 60*time.Second)
	defer cancel()
	acked := len(batch) // records of batch, from the start, that are done
	var werr error
	if len(copies) > 0 {
		if werr = w.WriteMessages(wctx, copies...); werr != nil {
			// Everything before the first failed copy is done; without
			// per-message errors, everything before the first copy.
			failed := 0
			var we kafka.WriteErrors
			if errors.As(werr, &we) && len(we) == len(copies) {
				for j, e := range we {
					if e != nil {
						failed = j
						break
					}
				}
			}
			acked = index[failed]
			werr = fmt.Errorf("replay: copy %s/%d offset %d to %s: %w",
				r.cfg.DLQTopic, partition, batch[acked].Offset, copies[failed].Topic, werr)
		}
	}
	for _, v := range verdicts[:acked] {
		r.n.count(v)
	}
	if acked > 0 {
		if err := commit(batch[acked-1].Offset + 1); err != nil {
			return errors.Join(werr, fmt.Errorf("replay: commit %s/%d: %w", r.cfg.DLQTopic, partition, err))
		}
		if r.cfg.AfterCommit != nil {
			r.cfg.AfterCommit(r.Progress())
		}
	}
	return werr
}

// dryRun reads each partition from start to end and lists what it would
// replay.
func (r *Replayer) dryRun(ctx context.Context, start, end map[int]int64) error {
	fmt.Fprintf(r.cfg.DryRunOut, "%-9s  %-10s  %-17s  %-7s  %-30s  %s\n", "PARTITION", "OFFSET", "CLASS", "CODE", "ORIGINAL TOPIC", "FAILED AT")
	for p := 0; p < len(end); p++ {
		if start[p] >= end[p] {
			continue
		}
		// The end may be reached through skipped records (an aborted
		// transaction, markers): the reader then stops.
		reach, reached := context.WithCancel(ctx)
		rd, err := r.reader(p, start[p], func(next int64) {
			if next >= end[p] {
				reached()
			}
		})
		if err != nil {
			reached()
			return err
		}
		err = r.listPartition(reach, rd, end[p])
		rd.Close()
		skippedToEnd := reach.Err() != nil && ctx.Err() == nil
		reached()
		if err != nil && !skippedToEnd {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("replay: read %s/%d: %w", r.cfg.DLQTopic, p, err)
		}
	}
	return nil
}

func (r *Replayer) listPartition(ctx context.Context, rd *kafkaread.Reader, end int64) error {
	for {
		m, err := rd.Fetch(ctx)
		if err != nil {
			return err
		}
		v, reason := r.cfg.Filter.Decide(m, r.cfg.DLQTopic)
		r.n.count(v)
		switch v {
		case Replay:
			h := func(k string) string {
				s, ok := deadletter.Header(m.Headers, k)
				if !ok || s == "" {
					return "-"
				}
				return strings.ReplaceAll(s, " ", "_")
			}
			fmt.Fprintf(r.cfg.DryRunOut, "%-9d  %-10d  %-17s  %-7s  %-30s  %s\n",
				m.Partition, m.Offset, h(deadletter.HeaderErrorClass), h(deadletter.HeaderErrorCode), h(deadletter.HeaderOriginalTopic), h(deadletter.HeaderFailedAt))
		case Unreplayable:
			r.log.Warn("unreplayable dead letter", zap.Int("partition", m.Partition), zap.Int64("offset", m.Offset), zap.String("reason", reason))
		}
		if m.Offset+1 >= end {
			return nil
		}
	}
}
