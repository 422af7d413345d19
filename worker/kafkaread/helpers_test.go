package kafkaread_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/regnotify/regnotify/worker/kafkaread"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

// sentinel ends every sequence a test produces: reading stops at it.
var sentinel = []byte("--end--")

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// pad makes every batch compressible, so that a codec is really used (a
// producer may send a batch uncompressed when compression does not pay).
var pad = bytes.Repeat([]byte("x"), 512)

// rec is a record for partition 0 of topic.
func rec(topic, value string) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: 0, Value: []byte(value), Headers: []kgo.RecordHeader{{Key: "pad", Value: pad}}}
}

// txn produces recs in one transaction and commits or aborts it.
func txn(t *testing.T, cl *kgo.Client, commit bool, recs ...*kgo.Record) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(ctxT(t, 30*time.Second), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func newReader(t *testing.T, c *kafkatest.Cluster, topic string, offset int64, mod func(*kafkaread.Config)) *kafkaread.Reader {
	t.Helper()
	cfg := kafkaread.Config{Brokers: c.Brokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond, Logger: zaptest.NewLogger(t)}
	if mod != nil {
		mod(&cfg)
	}
	r, err := kafkaread.New(cfg, offset)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// readUntilSentinel fetches until the sentinel record and returns the
// messages before it.
func readUntilSentinel(t *testing.T, r *kafkaread.Reader) []kafka.Message {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	var out []kafka.Message
	for {
		m, err := r.Fetch(ctx)
		if err != nil {
			t.Fatalf("fetch after %d messages: %v", len(out), err)
		}
		if bytes.Equal(m.Value, sentinel) {
			return out
		}
		out = append(out, m)
	}
}

func values(ms []kafka.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Value)
	}
	return out
}

// fetchNone asserts that nothing is delivered within d (a bound on a
// negative, not a speed assertion).
func fetchNone(t *testing.T, r *kafkaread.Reader, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m, err := r.Fetch(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch = offset %d value %q, err %v; want nothing (deadline exceeded)", m.Offset, m.Value, err)
	}
}

func describe(ms []kafka.Message) string {
	s := ""
	for _, m := range ms {
		s += fmt.Sprintf("%d:%q ", m.Offset, m.Value)
	}
	return s
}
