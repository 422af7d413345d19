package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/worker/bulklink"
)

// bulkLinkCmd turns a file of existing accounts into account.linked events.
// Rejected rows do not fail the command (exit 0): they are counted in the
// summary and listed in the rejects file.
type bulkLinkCmd struct {
	kafkaFlags `embed:""`
	logFlags   `embed:""`

	File        string   `name:"file" env:"REGNOTIFY_BULK_FILE" help:"Accounts file (required): CSV with a header row naming uid, siteUid and optionally cid (any order), or JSON lines (.jsonl, .ndjson) with the event fields." placeholder:"FILE"`
	Topic       string   `name:"topic" env:"KAFKA_LINK_TOPIC" default:"bulk.account.linked" help:"Topic to produce the account.linked events to (default: the bulk lane, which never delays live registrations)."`
	Partitioner string   `name:"partitioner" env:"REGNOTIFY_BULK_PARTITIONER" default:"murmur2" enum:"murmur2,fnv1a,crc32" help:"How a record's partition follows from its key (the uid): murmur2 (Java's default producer), fnv1a (kafka-go/Sarama hash) or crc32 (librdkafka's default)."`
	Headers     []string `name:"header" env:"REGNOTIFY_BULK_HEADERS" sep:"," help:"Header name=value added to every record (e.g. the header a siteFrom topic routes by); repeatable, or comma-separated." placeholder:"NAME=VALUE"`
	Rejects     string   `name:"rejects" env:"REGNOTIFY_BULK_REJECTS" help:"Rejects file: line,reason,uid,siteUid,cid (default: <file>.rejects.csv)." placeholder:"FILE"`
	Checkpoint  string   `name:"checkpoint" env:"REGNOTIFY_BULK_CHECKPOINT" help:"Checkpoint file, written after each acknowledged batch (default: <file>.checkpoint)." placeholder:"FILE"`
	Resume      bool     `name:"resume" env:"REGNOTIFY_BULK_RESUME" help:"Continue after the line in the checkpoint (from the start if there is none)."`
	RateLimit   float64  `name:"rate-limit" env:"REGNOTIFY_BULK_RATE_LIMIT" default:"0" help:"Events per second (0 = no limit)."`
	BatchSize   int      `name:"batch-size" env:"REGNOTIFY_BULK_BATCH_SIZE" default:"1000" help:"Events per acknowledged write and checkpoint."`
}

func (c *bulkLinkCmd) Run(e *env) error {
	log, err := c.logger(e)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // best effort on exit
	if c.File == "" {
		return usagef("--file (REGNOTIFY_BULK_FILE) is required")
	}
	if _, err := os.Stat(c.File); err != nil {
		return usagef("--file (REGNOTIFY_BULK_FILE): %v", errors.Unwrap(err))
	}
	switch {
	case c.RateLimit < 0:
		return usagef("--rate-limit (REGNOTIFY_BULK_RATE_LIMIT) must be 0 (none) or more")
	case c.BatchSize < 1:
		return usagef("--batch-size (REGNOTIFY_BULK_BATCH_SIZE) must be at least 1")
	case c.Topic == "":
		return usagef("--topic (KAFKA_LINK_TOPIC) must not be empty")
	}
	var headers []kafka.Header
	for _, h := range c.Headers {
		kh, err := bulklink.ParseHeader(h)
		if err != nil {
			return usagef("--header (REGNOTIFY_BULK_HEADERS): %v", err)
		}
		headers = append(headers, kh)
	}
	k, err := c.kafka()
	if err != nil {
		return err
	}
	cfg := bulklink.Config{
		Kafka: k, File: c.File, Topic: c.Topic, Rejects: c.Rejects, Checkpoint: c.Checkpoint,
		Resume: c.Resume, RateLimit: c.RateLimit, BatchSize: c.BatchSize,
		Partitioner: c.Partitioner, Headers: headers,
	}
	l, err := bulklink.New(cfg, log)
	if err != nil {
		return usagef("%v (flags --file, --rejects, --checkpoint)", err)
	}
	if err := checkKafka(e.ctx, k); err != nil {
		return err
	}
	stop := showProgress(e, log, progressOptions{unit: "bytes", every: 10 * time.Second, poll: func() progress {
		s := l.Progress()
		return progress{
			cur: s.Bytes, total: s.Size,
			desc:   fmt.Sprintf("bulk-link: %d rows, %d produced, %d rejected, %.0f rows/s", s.Rows, s.Produced, s.Rejected, s.RowsPerSecond()),
			fields: bulkFields(s),
		}
	}})
	stats, err := l.Run(e.ctx)
	stop()
	rejects := c.Rejects
	if rejects == "" {
		rejects = c.File + ".rejects.csv"
	}
	fmt.Fprintf(e.stdout, "bulk-link: %s\n", stats)
	if stats.Rejected > 0 {
		fmt.Fprintf(e.stdout, "bulk-link: %d rejected rows are listed in %s (line, reason)\n", stats.Rejected, rejects)
	}
	log.Info("bulk-link finished", bulkFields(stats)...)
	var he *bulklink.HeaderError
	if errors.As(err, &he) {
		return usagef("--file (REGNOTIFY_BULK_FILE): %v", err)
	}
	if err != nil {
		return fmt.Errorf("%w (rerun with --resume to continue after the last checkpoint)", err)
	}
	if e.ctx.Err() != nil {
		fmt.Fprintln(e.stdout, "bulk-link: interrupted; rerun with --resume to continue after the last checkpoint")
	}
	return nil
}

func bulkFields(s bulklink.Stats) []zap.Field {
	return []zap.Field{zap.Int64("rows", s.Rows), zap.Int64("produced", s.Produced), zap.Int64("rejected", s.Rejected),
		zap.Int64("skipped", s.Skipped), zap.Int64("bytesRead", s.Bytes), zap.Int64("bytes", s.Size),
		zap.Duration("elapsed", s.Elapsed), zap.Float64("rowsPerSecond", s.RowsPerSecond())}
}
