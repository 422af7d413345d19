package replay

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/segmentio/kafka-go"
)

// Filter selects the dead-letter records to replay. Empty fields select
// everything; the fields combine with AND, the values within a field with OR.
type Filter struct {
	Classes []string // regnotify.error.class values
	Codes   []string // regnotify.error.code values (Gigya errorCode); a record without a code never matches
	Topics  []string // regnotify.original.topic values
	Sites   []string // regnotify.site values; a record without a site never matches
	// Since and Until bound regnotify.failed.at: Since <= failed at < Until.
	// A zero value leaves that side open. When either is set, a record
	// without a readable failure time does not match.
	Since, Until time.Time
	// MaxReplays is the loop guard: a record whose regnotify.replay.count is
	// MaxReplays or more is skipped. 0 turns the guard off.
	MaxReplays int
}

// HeaderSite is the dead letter's site header (contract: "Dead-letter
// records"), the value the Sites filter compares.
const HeaderSite = deadletter.HeaderSite

// Verdict is what replay does with one dead-letter record.
type Verdict int

// The verdicts, in the order Decide checks for them.
const (
	// Replay: copy it back to its original topic.
	Replay Verdict = iota
	// SkipFilter: the filter does not select it.
	SkipFilter
	// SkipLoopGuard: it was replayed MaxReplays times already.
	SkipLoopGuard
	// Unreplayable: it names no usable original topic, or its replay count
	// is unreadable; it is reported, not copied.
	Unreplayable
)

func (v Verdict) String() string {
	switch v {
	case Replay:
		return "replay"
	case SkipFilter:
		return "skipped by filter"
	case SkipLoopGuard:
		return "skipped by loop guard"
	case Unreplayable:
		return "unreplayable"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Decide returns what to do with m, a record of dlqTopic, and for
// Unreplayable the reason.
func (f Filter) Decide(m kafka.Message, dlqTopic string) (Verdict, string) {
	h := m.Headers
	if len(f.Classes) > 0 && !matches(h, deadletter.HeaderErrorClass, f.Classes) {
		return SkipFilter, ""
	}
	if len(f.Codes) > 0 && !matches(h, deadletter.HeaderErrorCode, f.Codes) {
		return SkipFilter, ""
	}
	if len(f.Topics) > 0 && !matches(h, deadletter.HeaderOriginalTopic, f.Topics) {
		return SkipFilter, ""
	}
	if len(f.Sites) > 0 && !matches(h, HeaderSite, f.Sites) {
		return SkipFilter, ""
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		at, ok := FailedAt(h)
		if !ok || (!f.Since.IsZero() && at.Before(f.Since)) || (!f.Until.IsZero() && !at.Before(f.Until)) {
			return SkipFilter, ""
		}
	}
	n, err := ReplayCount(h)
	if err != nil {
		return Unreplayable, err.Error()
	}
	if f.MaxReplays > 0 && n >= f.MaxReplays {
		return SkipLoopGuard, ""
	}
	topic, _ := deadletter.Header(h, deadletter.HeaderOriginalTopic)
	switch topic {
	case "":
		return Unreplayable, "no " + deadletter.HeaderOriginalTopic + " header"
	case dlqTopic:
		return Unreplayable, deadletter.HeaderOriginalTopic + " is the dead-letter topic itself"
	}
	return Replay, ""
}

func matches(h []kafka.Header, key string, values []string) bool {
	v, ok := deadletter.Header(h, key)
	return ok && slices.Contains(values, strings.TrimSpace(v))
}

// FailedAt returns the regnotify.failed.at time of a dead-letter record.
func FailedAt(h []kafka.Header) (time.Time, bool) {
	v, ok := deadletter.Header(h, deadletter.HeaderFailedAt)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
	return t, err == nil
}

// ReplayCount returns regnotify.replay.count: 0 when absent.
func ReplayCount(h []kafka.Header) (int, error) { return deadletter.ReplayCount(h) }

// Copy returns the record replay sends back for the dead-letter record m;
// see deadletter.Copy.
func Copy(m kafka.Message) (kafka.Message, error) { return deadletter.Copy(m) }

// originalPartition sends a copy to the partition its original came from,
// so that it queues behind the same key's other events whatever partitioner
// the producer used; if that partition is unknown or no longer exists, it
// hashes the key like the worker's writers do.
type originalPartition struct{ hash kafka.Hash }

func (b *originalPartition) Balance(m kafka.Message, partitions ...int) int {
	if v, ok := deadletter.Header(m.Headers, deadletter.HeaderOriginalPartition); ok {
		if p, err := strconv.Atoi(v); err == nil && slices.Contains(partitions, p) {
			return p
		}
	}
	return b.hash.Balance(m, partitions...)
}
