package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/replay"
)

// replayCmd copies dead letters back to their original topics. Its group
// is its own (REGNOTIFY_REPLAY_GROUP, never KAFKA_GROUP_ID): joining the
// worker's group with another subscription would rebalance the workers.
type replayCmd struct {
	kafkaFlags `embed:""`
	logFlags   `embed:""`

	Group      string   `name:"group" env:"REGNOTIFY_REPLAY_GROUP" default:"regnotify-replay" help:"Consumer group of replay (its own; never the worker's)."`
	DLQTopic   string   `name:"dlq-topic" env:"KAFKA_DLQ_TOPIC" default:"regnotify.dlq" help:"Dead-letter topic to read."`
	Class      []string `name:"class" env:"REGNOTIFY_REPLAY_CLASS" sep:"," help:"Only these error classes: invalid_event, rejected, retries_exhausted (comma-separated)."`
	Code       []string `name:"code" env:"REGNOTIFY_REPLAY_CODE" sep:"," help:"Only these Gigya error codes (comma-separated)."`
	Topic      []string `name:"topic" env:"REGNOTIFY_REPLAY_TOPIC" sep:"," help:"Only records whose original topic is one of these (comma-separated)."`
	Site       []string `name:"site" env:"REGNOTIFY_REPLAY_SITE" sep:"," help:"Only records routed to one of these sites (regnotify.site, comma-separated)."`
	Since      string   `name:"since" env:"REGNOTIFY_REPLAY_SINCE" help:"Only records that failed at or after this time: RFC 3339 (2026-11-26T10:00:00Z), a date (2026-11-26, UTC) or an age (90m, 24h, 7d, '24h ago')." placeholder:"TIME"`
	Until      string   `name:"until" env:"REGNOTIFY_REPLAY_UNTIL" help:"Only records that failed before this time (same forms as --since)." placeholder:"TIME"`
	MaxReplays int      `name:"max-replays" env:"REGNOTIFY_REPLAY_MAX_REPLAYS" default:"3" help:"Loop guard: skip records already replayed this many times (0 = no guard)."`
	Follow     bool     `name:"follow" env:"REGNOTIFY_REPLAY_FOLLOW" help:"Keep replaying new dead letters until interrupted, instead of stopping at the end seen at the start."`
	DryRun     bool     `name:"dry-run" env:"REGNOTIFY_REPLAY_DRY_RUN" help:"List what would be replayed (offset, class, code, original topic, failed at); produce and commit nothing."`
}

func (c *replayCmd) Run(e *env) error {
	log, k, err := startKafkaCommand(e, c.logFlags, c.kafkaFlags)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // best effort on exit
	cfg, err := c.config(k, time.Now())
	if err != nil {
		return err
	}
	cfg.DryRunOut = e.stdout
	r, err := replay.New(cfg, log)
	if err != nil {
		return usagef("%v", err)
	}
	if err := checkKafka(e.ctx, k); err != nil {
		return err
	}
	stop := showProgress(e, log, progressOptions{unit: "records", every: 10 * time.Second, poll: func() progress {
		s := r.Progress()
		return progress{cur: s.Done(), total: s.Total, desc: "replay: " + s.String(), fields: statsFields(s)}
	}})
	stats, err := r.Run(e.ctx)
	stop()
	if cfg.DryRun {
		fmt.Fprintf(e.stdout, "replay (dry run): would replay %d, skipped by filter %d, skipped by loop guard %d, unreplayable %d\n",
			stats.Replayed, stats.SkippedByFilter, stats.SkippedByLoopGuard, stats.Unreplayable)
	} else {
		fmt.Fprintf(e.stdout, "replay: %s\n", stats)
	}
	log.Info("replay finished", statsFields(stats)...)
	if err != nil {
		return err
	}
	if stats.Unreplayable > 0 {
		return fmt.Errorf("replay: %d dead letters cannot be replayed (no usable %s header, or an unreadable %s); each is logged with its partition and offset and stays in %s",
			stats.Unreplayable, deadletter.HeaderOriginalTopic, deadletter.HeaderReplayCount, cfg.DLQTopic)
	}
	return nil
}

func statsFields(s replay.Stats) []zap.Field {
	return []zap.Field{zap.Int64("total", s.Total), zap.Int64("replayed", s.Replayed), zap.Int64("skippedByFilter", s.SkippedByFilter),
		zap.Int64("skippedByLoopGuard", s.SkippedByLoopGuard), zap.Int64("unreplayable", s.Unreplayable)}
}

func (c *replayCmd) config(k kafkaio.Kafka, now time.Time) (replay.Config, error) {
	f := replay.Filter{Classes: splitComma(c.Class), Codes: splitComma(c.Code), Topics: splitComma(c.Topic), Sites: splitComma(c.Site), MaxReplays: c.MaxReplays}
	for _, cl := range f.Classes {
		if !slices.Contains([]string{deadletter.ClassInvalidEvent, deadletter.ClassRejected, deadletter.ClassRetriesExhausted}, cl) {
			return replay.Config{}, usagef("--class (REGNOTIFY_REPLAY_CLASS): %q, want invalid_event, rejected or retries_exhausted", cl)
		}
	}
	for _, code := range f.Codes {
		if _, err := strconv.Atoi(code); err != nil {
			return replay.Config{}, usagef("--code (REGNOTIFY_REPLAY_CODE): %q is not a Gigya error code (a number)", code)
		}
	}
	var err error
	if f.Since, err = parseWhen(c.Since, now); err != nil {
		return replay.Config{}, usagef("--since (REGNOTIFY_REPLAY_SINCE): %v", err)
	}
	if f.Until, err = parseWhen(c.Until, now); err != nil {
		return replay.Config{}, usagef("--until (REGNOTIFY_REPLAY_UNTIL): %v", err)
	}
	switch {
	case c.MaxReplays < 0:
		return replay.Config{}, usagef("--max-replays (REGNOTIFY_REPLAY_MAX_REPLAYS) must be 0 (no guard) or more")
	case c.DryRun && c.Follow:
		return replay.Config{}, usagef("--dry-run and --follow (REGNOTIFY_REPLAY_DRY_RUN, REGNOTIFY_REPLAY_FOLLOW) exclude each other")
	case !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until):
		return replay.Config{}, usagef("--since (REGNOTIFY_REPLAY_SINCE) must be before --until (REGNOTIFY_REPLAY_UNTIL)")
	case c.Group == "":
		return replay.Config{}, usagef("--group (REGNOTIFY_REPLAY_GROUP) must not be empty")
	case c.DLQTopic == "":
		return replay.Config{}, usagef("--dlq-topic (KAFKA_DLQ_TOPIC) must not be empty")
	}
	return replay.Config{Kafka: k, Group: c.Group, DLQTopic: c.DLQTopic, Filter: f, Follow: c.Follow, DryRun: c.DryRun}, nil
}

// parseWhen reads a point in time: RFC 3339, a date (midnight UTC), or an
// age before now: a Go duration ("90m", "24h") or whole days ("7d"),
// optionally followed by " ago". "" is the zero time (no bound).
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	age := strings.TrimSpace(strings.TrimSuffix(s, "ago"))
	var d time.Duration
	if days, ok := strings.CutSuffix(age, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: want RFC 3339, a date or an age like 24h or 7d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(age); err != nil {
			return time.Time{}, fmt.Errorf("%q: want RFC 3339, a date or an age like 24h or 7d", s)
		}
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("%q: an age must not be negative", s)
	}
	return now.Add(-d), nil
}

// checkKafka connects once before the real work, so that a wrong password,
// CA or address fails at once with a clear message (exit 1).
func checkKafka(ctx context.Context, k kafkaio.Kafka) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return k.Check(cctx)
}
