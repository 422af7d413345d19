// Package bulklink turns a file of existing accounts (CSV or JSON lines) into
// account.linked events on Kafka, for linking millions of accounts at once
// (contract: "bulk-link").
//
// It streams the file in constant memory: rows are validated by the events
// rules as they are read, rejected rows go to a rejects file with their line
// number and reason (never a silent drop), and valid rows are produced in
// batches with acks=all, key = uid and the deterministic eventId
// events.LinkEventID(uid, siteUid), so that a rerun produces the same events
// and the worker treats them as redeliveries. By default they go to the bulk
// lane's topic, bulk.account.linked, partitioned like Java's default
// producer (murmur2 of the key), so that a uid's events land in the same
// partition whichever client produced them; Headers are added to every
// record (e.g. the header a siteFrom topic routes by).
//
// After each acknowledged batch it writes a checkpoint (the line reached);
// a resumed run skips the lines up to it. A batch produced but not yet
// checkpointed when the process dies is produced again on resume: at least
// once, at most one batch twice.
//
// It is not the worker and reads no flags.
package bulklink

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/regnotify/regnotify/worker/kafkaio"
)

// MessageWriter is what bulk-link needs from a Kafka writer: a synchronous
// write that returns once every message was acknowledged (acks=all).
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Config is the typed configuration of a bulk link. Zero values take the
// defaults named on each field.
type Config struct {
	Kafka kafkaio.Kafka
	// File is the input: JSON lines if its name ends in .jsonl or
	// .ndjson, else CSV with a header row.
	File string
	// Topic receives the events; default DefaultTopic, the bulk lane.
	Topic string
	// Partitioner picks a record's partition from its key: "murmur2"
	// (default, Java's default partitioner), "fnv1a" or "crc32"; see
	// Balancer.
	Partitioner string
	// Headers are added to every record, in this order.
	Headers []kafka.Header
	// Rejects is the rejects file (CSV: line,reason,uid,siteUid,cid);
	// default File + ".rejects.csv".
	Rejects string
	// Checkpoint is the checkpoint file; default File + ".checkpoint".
	Checkpoint string
	// Resume continues after the line in the checkpoint, if there is one.
	// Without it a run starts at the first line and replaces the
	// checkpoint and the rejects file.
	Resume bool
	// RateLimit caps the events produced per second; 0 means no limit.
	RateLimit float64
	// BatchSize is the number of events per acknowledged write (and per
	// checkpoint); default 1000.
	BatchSize int
	// FlushInterval sends a batch that is not full after this long, so that
	// a slow rate limit still checkpoints; default 1s.
	FlushInterval time.Duration
	// Writer sends the events; nil means an acks=all writer to Kafka,
	// closed by Run.
	Writer MessageWriter
	// AfterBatch, if set, is called after each checkpointed batch (tests).
	AfterBatch func(Stats)
}

func (c *Config) setDefaults() {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Partitioner == "" {
		c.Partitioner = Murmur2
	}
	if c.Rejects == "" {
		c.Rejects = c.File + ".rejects.csv"
	}
	if c.Checkpoint == "" {
		c.Checkpoint = c.File + ".checkpoint"
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
}

// Validate reports the first bad setting.
func (c Config) Validate() error {
	c.setDefaults()
	if c.File == "" {
		return errors.New("bulk-link: no input file")
	}
	if c.Writer == nil {
		if err := c.Kafka.Validate(); err != nil {
			return err
		}
	}
	if c.RateLimit < 0 {
		return errors.New("bulk-link: rate limit must be 0 (none) or more")
	}
	if _, err := Balancer(c.Partitioner); err != nil {
		return err
	}
	for _, h := range c.Headers {
		if h.Key == "" {
			return errors.New("bulk-link: a header without a name")
		}
	}
	if c.Rejects == c.File || c.Checkpoint == c.File || c.Rejects == c.Checkpoint {
		return errors.New("bulk-link: the input, rejects and checkpoint files must differ")
	}
	return nil
}

// IsJSONLines reports whether file is read as JSON lines (by its name).
func IsJSONLines(file string) bool {
	ext := strings.ToLower(filepath.Ext(file))
	return ext == ".jsonl" || ext == ".ndjson"
}

// Stats counts what a bulk link did in this run.
type Stats struct {
	Rows     int64 // data rows read after the checkpoint
	Produced int64 // events acknowledged
	Rejected int64 // rows written to the rejects file
	Skipped  int64 // rows at or before the checkpoint line (resume)
	// Bytes of the file read so far, and its size: for progress and ETA.
	Bytes, Size int64
	// ResumedAfter is the checkpoint line this run started after; 0 for a
	// fresh run.
	ResumedAfter int
	Elapsed      time.Duration
}

// RowsPerSecond is the rate of rows read this run.
func (s Stats) RowsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Rows) / s.Elapsed.Seconds()
}

func (s Stats) String() string {
	return fmt.Sprintf("rows read %d, produced %d, rejected %d, skipped (before checkpoint) %d, elapsed %s, %.0f rows/s",
		s.Rows, s.Produced, s.Rejected, s.Skipped, s.Elapsed.Round(time.Millisecond), s.RowsPerSecond())
}

// checkpoint is the resume state, written after each acknowledged batch.
type checkpoint struct {
	File string `json:"file"`
	// Size and ModTime identify the version of the file the lines refer to.
	Size    int64 `json:"size"`
	ModTime int64 `json:"modTimeUnixNano"`
	// Line: every row that starts on this line or before is produced and
	// acknowledged, or in the rejects file.
	Line int `json:"line"`
	// RejectsBytes is the length of the rejects file at Line: a resumed
	// run cuts off what a dead run wrote after it.
	RejectsBytes int64 `json:"rejectsBytes"`
	// Totals over all runs up to Line.
	Produced int64 `json:"produced"`
	Rejected int64 `json:"rejected"`
}

// Linker runs one bulk link. Create it with New, start it with Run.
type Linker struct {
	cfg   Config
	log   *zap.Logger
	start time.Time

	rows, produced, rejected, skipped, bytes, size atomic.Int64
	resumedAfter                                   atomic.Int64
}

// New returns a linker for cfg.
func New(cfg Config, log *zap.Logger) (*Linker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	return &Linker{cfg: cfg, log: log, start: time.Now()}, nil
}

// Progress returns the counts so far; safe to call while Run runs.
func (l *Linker) Progress() Stats {
	return Stats{
		Rows: l.rows.Load(), Produced: l.produced.Load(), Rejected: l.rejected.Load(), Skipped: l.skipped.Load(),
		Bytes: l.bytes.Load(), Size: l.size.Load(), ResumedAfter: int(l.resumedAfter.Load()), Elapsed: time.Since(l.start),
	}
}

// batch is a stretch of the file: the events to produce and the rejects
// found, up to and including line.
type batch struct {
	msgs    []kafka.Message
	rejects [][]string
	line    int
}

// Run reads the whole file and produces its events. Cancelling ctx stops
// it: the batch being written is finished and checkpointed (bounded), so a
// resumed run continues after it. It returns nil when the file was read to
// the end or ctx was cancelled (Progress and the checkpoint say how far it
// got); an error says why it stopped.
func (l *Linker) Run(ctx context.Context) (Stats, error) {
	f, err := os.Open(l.cfg.File)
	if err != nil {
		return l.Progress(), fmt.Errorf("bulk-link: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return l.Progress(), fmt.Errorf("bulk-link: %w", err)
	}
	l.size.Store(fi.Size())
	cp := checkpoint{File: l.cfg.File, Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	if l.cfg.Resume {
		if cp, err = l.loadCheckpoint(cp); err != nil {
			return l.Progress(), err
		}
	} else if _, err := os.Stat(l.cfg.Checkpoint); err == nil {
		l.log.Warn("starting from the first line; the old checkpoint is replaced (use --resume to continue from it)",
			zap.String("checkpoint", l.cfg.Checkpoint))
	}
	l.resumedAfter.Store(int64(cp.Line))
	rej, err := openRejects(l.cfg.Rejects, cp.RejectsBytes, l.cfg.Resume && cp.Line > 0)
	if err != nil {
		return l.Progress(), err
	}
	defer rej.close()

	var rows rowReader
	in := &countingReader{r: f, n: &l.bytes}
	if IsJSONLines(l.cfg.File) {
		rows = newJSONRows(in)
	} else if rows, err = newCSVRows(in); err != nil {
		return l.Progress(), err
	}

	w := l.cfg.Writer
	if w == nil {
		tr, err := l.cfg.Kafka.Transport()
		if err != nil {
			return l.Progress(), err
		}
		defer tr.CloseIdleConnections()
		kw := l.writer(tr)
		defer kafkaio.CloseBounded(l.log, "writer", kw.Close, 10*time.Second)
		w = kw
	}
	l.log.Info("bulk-link starting", zap.String("file", l.cfg.File), zap.String("topic", l.cfg.Topic),
		zap.Int("resumeAfterLine", cp.Line), zap.Int64("bytes", fi.Size()))

	batches := make(chan batch, 2)
	eg, egCtx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		defer close(batches)
		return l.read(egCtx, rows, cp.Line, batches)
	})
	eg.Go(func() error { return l.write(egCtx, w, rej, cp, batches) })
	err = eg.Wait()
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = nil // a requested stop
	}
	return l.Progress(), err
}

// read turns the rows after line `after` into batches. The rate limit is
// applied here, so that the writer never waits with a batch in hand.
func (l *Linker) read(ctx context.Context, rows rowReader, after int, out chan<- batch) error {
	limit := rate.Inf
	if l.cfg.RateLimit > 0 {
		limit = rate.Limit(l.cfg.RateLimit)
	}
	limiter := rate.NewLimiter(limit, 1)
	var (
		b       batch
		started time.Time
	)
	send := func() error {
		if b.line == 0 {
			return nil
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		b = batch{msgs: make([]kafka.Message, 0, l.cfg.BatchSize)}
		return nil
	}
	b.msgs = make([]kafka.Message, 0, l.cfg.BatchSize)
	for {
		r, err := rows.next()
		if err == io.EOF {
			return send()
		}
		if err != nil {
			return fmt.Errorf("bulk-link: read %s: %w", l.cfg.File, err)
		}
		if r.line <= after {
			l.skipped.Add(1)
			continue
		}
		l.rows.Add(1)
		if b.line == 0 {
			started = time.Now()
		}
		b.line = r.line
		value, err := r.event()
		if err != nil {
			b.rejects = append(b.rejects, []string{strconv.Itoa(r.line), err.Error(), r.uid, r.siteUID, r.cid})
		} else {
			if err := limiter.Wait(ctx); err != nil {
				return err
			}
			b.msgs = append(b.msgs, kafka.Message{Key: []byte(r.uid), Value: value, Headers: l.headers()})
		}
		if len(b.msgs) >= l.cfg.BatchSize || len(b.rejects) >= l.cfg.BatchSize || time.Since(started) >= l.cfg.FlushInterval {
			if err := send(); err != nil {
				return err
			}
		}
	}
}

// write produces each batch, appends its rejects and then records the
// checkpoint, in file order. A batch it has taken is finished even when ctx
// ends (bounded), so that a stop leaves nothing produced but unrecorded.
func (l *Linker) write(ctx context.Context, w MessageWriter, rej *rejects, cp checkpoint, in <-chan batch) error {
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var b batch
		var ok bool
		select {
		case b, ok = <-in:
			if !ok {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		var err error
		if len(b.msgs) > 0 {
			err = w.WriteMessages(wctx, b.msgs...)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("bulk-link: produce lines %d-%d to %s: %w", cp.Line+1, b.line, l.cfg.Topic, err)
		}
		l.produced.Add(int64(len(b.msgs)))
		for _, r := range b.rejects {
			if err := rej.write(r); err != nil {
				return err
			}
		}
		n, err := rej.sync()
		if err != nil {
			return err
		}
		l.rejected.Add(int64(len(b.rejects)))
		cp.Line, cp.RejectsBytes = b.line, n
		cp.Produced += int64(len(b.msgs))
		cp.Rejected += int64(len(b.rejects))
		if err := writeFileAtomic(l.cfg.Checkpoint, cp); err != nil {
			return err
		}
		if l.cfg.AfterBatch != nil {
			l.cfg.AfterBatch(l.Progress())
		}
	}
}

// headers returns a copy of the configured headers for one record, so that
// no two records share a slice.
func (l *Linker) headers() []kafka.Header {
	if len(l.cfg.Headers) == 0 {
		return nil
	}
	return slices.Clone(l.cfg.Headers)
}

func (l *Linker) writer(tr *kafka.Transport) *kafka.Writer {
	bal, _ := Balancer(l.cfg.Partitioner) // checked by Validate
	return kafkaio.NewWriterOn(tr, l.cfg.Kafka.Brokers, kafkaio.WriterOptions{
		Topic:       l.cfg.Topic,
		Balancer:    bal, // key = uid: one uid's events stay in order
		BatchSize:   l.cfg.BatchSize,
		MaxAttempts: 5,
		Compression: kafka.Snappy,
	})
}

// loadCheckpoint returns the checkpoint to resume from, or fresh if there is
// none. A checkpoint of another file, or of another version of it, is an
// error: its line numbers would be wrong.
func (l *Linker) loadCheckpoint(fresh checkpoint) (checkpoint, error) {
	b, err := os.ReadFile(l.cfg.Checkpoint)
	if errors.Is(err, fs.ErrNotExist) {
		l.log.Info("no checkpoint: starting from the first line", zap.String("checkpoint", l.cfg.Checkpoint))
		return fresh, nil
	}
	if err != nil {
		return fresh, fmt.Errorf("bulk-link: read checkpoint: %w", err)
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return fresh, fmt.Errorf("bulk-link: checkpoint %s is corrupt: %w", l.cfg.Checkpoint, err)
	}
	if cp.Size != fresh.Size || cp.ModTime != fresh.ModTime {
		return fresh, fmt.Errorf("bulk-link: %s changed since checkpoint %s was written (size or modification time); delete the checkpoint to start over", l.cfg.File, l.cfg.Checkpoint)
	}
	l.log.Info("resuming after the checkpoint", zap.Int("line", cp.Line),
		zap.Int64("producedBefore", cp.Produced), zap.Int64("rejectedBefore", cp.Rejected))
	return cp, nil
}

// writeFileAtomic writes v as JSON to a temporary file next to path, syncs
// it and renames it over path: a reader sees the old or the new checkpoint,
// never half of one.
func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("bulk-link: write checkpoint: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("bulk-link: write checkpoint: %w", err)
	}
	return nil
}

// rejects is the rejects file, opened at the first reject.
type rejects struct {
	path   string
	keep   int64 // bytes of an existing file to keep (resume); -1 none
	f      *os.File
	buf    *bufio.Writer
	csv    *csv.Writer
	size   int64
	synced int64
}

var rejectsHeader = []string{"line", "reason", "uid", "siteUid", "cid"}

// openRejects prepares the rejects file. On resume it keeps the first keep
// bytes of it; a fresh run removes an old one, so that a run without
// rejects leaves no stale file.
func openRejects(path string, keep int64, resume bool) (*rejects, error) {
	r := &rejects{path: path, keep: -1}
	if resume && keep > 0 {
		r.keep = keep
		return r, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("bulk-link: rejects file: %w", err)
	}
	return r, nil
}

func (r *rejects) open() error {
	var err error
	if r.keep > 0 {
		if r.f, err = os.OpenFile(r.path, os.O_WRONLY, 0o600); err == nil {
			if err = r.f.Truncate(r.keep); err == nil {
				_, err = r.f.Seek(r.keep, io.SeekStart)
			}
		}
		r.size = r.keep
	} else {
		r.f, err = os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	if err != nil {
		return fmt.Errorf("bulk-link: rejects file: %w", err)
	}
	r.buf = bufio.NewWriter(&countingWriter{w: r.f, n: &r.size})
	r.csv = csv.NewWriter(r.buf)
	if r.keep <= 0 {
		return r.csv.Write(rejectsHeader)
	}
	return nil
}

func (r *rejects) write(rec []string) error {
	if r.f == nil {
		if err := r.open(); err != nil {
			return err
		}
	}
	if err := r.csv.Write(rec); err != nil {
		return fmt.Errorf("bulk-link: rejects file: %w", err)
	}
	return nil
}

// sync makes what was written durable and returns the file's length.
func (r *rejects) sync() (int64, error) {
	if r.f == nil {
		return max(r.keep, 0), nil
	}
	r.csv.Flush()
	if err := r.csv.Error(); err != nil {
		return 0, fmt.Errorf("bulk-link: rejects file: %w", err)
	}
	if r.synced != r.size {
		if err := r.f.Sync(); err != nil {
			return 0, fmt.Errorf("bulk-link: rejects file: %w", err)
		}
		r.synced = r.size
	}
	return r.size, nil
}

func (r *rejects) close() {
	if r.f != nil {
		r.f.Close()
	}
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	w io.Writer
	n *int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}
