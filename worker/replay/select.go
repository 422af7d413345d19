package replay

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// NewWriter returns the writer replay sends copies with: acks=all, each copy
// to the partition its original came from (see Copy), batches of up to
// batchSize (0 means 200). The admin API's replays use it too, so that both
// send alike.
func NewWriter(brokers []string, tr kafka.RoundTripper, batchSize int) *kafka.Writer {
	if batchSize <= 0 {
		batchSize = 200
	}
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &originalPartition{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    batchSize,
		BatchTimeout: 5 * time.Millisecond,
		BatchBytes:   16 << 20, // the broker's message.max.bytes is the real limit
		MaxAttempts:  5,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
		Transport:    tr,
	}
}

// Planned is one dead letter chosen for replay and the copy replay sends
// for it.
type Planned struct {
	Source kafka.Message // the dead letter
	Copy   kafka.Message // what goes back to the original topic
}

// PlanStats counts what Plan decided; every record ends in one count.
type PlanStats struct {
	Stats
	// AlreadyReplayed counts records the skip function refused (the admin
	// API's never-twice rule).
	AlreadyReplayed int64
}

// Plan decides each of msgs, records of dlqTopic, with f exactly as Run
// does, and returns the copies to send. skip, if not nil, is asked about
// every record f selects; true leaves it out (counted as AlreadyReplayed).
// It is the one-shot form of Run used by the admin API: the caller chose
// the records (by filter or by offset) and sends them with Send.
func Plan(msgs []kafka.Message, f Filter, dlqTopic string, skip func(kafka.Message) bool) ([]Planned, PlanStats) {
	var out []Planned
	var st PlanStats
	for _, m := range msgs {
		v, _ := f.Decide(m, dlqTopic)
		switch v {
		case SkipFilter:
			st.SkippedByFilter++
			continue
		case SkipLoopGuard:
			st.SkippedByLoopGuard++
			continue
		case Unreplayable:
			st.Unreplayable++
			continue
		}
		if skip != nil && skip(m) {
			st.AlreadyReplayed++
			continue
		}
		c, err := Copy(m)
		if err != nil { // Decide checked the count; unreachable
			st.Unreplayable++
			continue
		}
		st.Replayed++
		out = append(out, Planned{Source: m, Copy: c})
	}
	return out, st
}

// Send writes the copies of planned in one acknowledged write.
func Send(ctx context.Context, w MessageWriter, planned []Planned) error {
	if len(planned) == 0 {
		return nil
	}
	copies := make([]kafka.Message, len(planned))
	for i, p := range planned {
		copies[i] = p.Copy
	}
	if err := w.WriteMessages(ctx, copies...); err != nil {
		return fmt.Errorf("replay: send %d copies: %w", len(copies), err)
	}
	return nil
}
