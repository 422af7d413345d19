package kafkaread_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/regnotify/regnotify/worker/kafkaread"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

// TestReadCommitted: franz-go's transactional producer commits A, aborts B,
// commits A2, with plain records interleaved (one inside an open
// transaction that is then aborted) and a plain record shaped like a
// transaction marker; under every compression codec the reader delivers
// exactly the committed and plain records, in offset order.
func TestReadCommitted(t *testing.T) {
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	c := kafkatest.Start(t)
	for _, tc := range codecs {
		t.Run(tc.name, func(t *testing.T) {
			topic := c.Topic("txn-" + tc.name)
			c.CreateTopics(t, topic)
			comp := kgo.ProducerBatchCompression(tc.codec)
			tx := c.Client(t, comp, kgo.TransactionalID(topic+"-tx"))
			plain := c.Client(t, comp)

			txn(t, tx, true, rec(topic, "A1"), rec(topic, "A2"))
			txn(t, tx, false, rec(topic, "B1"), rec(topic, "B2"))
			produce(t, plain, rec(topic, "P1"))
			// C is open while P2 is written, then aborted.
			if err := tx.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			produce(t, tx, rec(topic, "C1"))
			produce(t, plain, rec(topic, "P2"))
			produce(t, tx, rec(topic, "C2"))
			if err := tx.EndTransaction(ctxT(t, 30*time.Second), kgo.TryAbort); err != nil {
				t.Fatal(err)
			}
			txn(t, tx, true, rec(topic, "A3"))
			zero := &kgo.Record{Topic: topic, Partition: 0, Key: make([]byte, 4), Value: make([]byte, 6)}
			produce(t, plain, zero)
			produce(t, plain, &kgo.Record{Topic: topic, Partition: 0, Value: sentinel})

			got := readUntilSentinel(t, newReader(t, c, topic, 0, nil))
			want := []string{"A1", "A2", "P1", "P2", "A3", string(make([]byte, 6))}
			if !slices.Equal(values(got), want) {
				t.Fatalf("delivered %s\nwant values %q", describe(got), want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Offset <= got[i-1].Offset {
					t.Fatalf("offsets not increasing: %s", describe(got))
				}
			}
			z := got[len(got)-1]
			if !bytes.Equal(z.Key, make([]byte, 4)) || z.Topic != topic || z.Partition != 0 || z.HighWaterMark <= z.Offset || z.Time.IsZero() {
				t.Fatalf("zero-shaped record = key %x topic %q partition %d hwm %d offset %d time %v; want key 00000000, topic, partition 0, hwm > offset, a time",
					z.Key, z.Topic, z.Partition, z.HighWaterMark, z.Offset, z.Time)
			}
		})
	}
}

// TestOpenTransactionTimesOut: a transaction left open is not delivered;
// the broker aborts it at its timeout, after which the plain record written
// behind it (held back by the last stable offset until then) is delivered
// and the timed-out transaction's record is not. The producer stays open
// throughout, so the abort is the broker's.
func TestOpenTransactionTimesOut(t *testing.T) {
	c := kafkatest.Start(t)
	topic := c.Topic("timeout")
	c.CreateTopics(t, topic)
	tx := c.Client(t, kgo.TransactionalID(topic+"-tx"), kgo.TransactionTimeout(time.Second))
	plain := c.Client(t)
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(t, tx, rec(topic, "open"))
	r := newReader(t, c, topic, 0, nil)
	// Open or aborted by then, its record is not delivered.
	fetchNone(t, r, 300*time.Millisecond)
	produce(t, plain, rec(topic, "behind"))

	ctx := ctxT(t, 30*time.Second)
	m, err := r.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Value) != "behind" || m.Offset != 1 {
		t.Fatalf("first record = offset %d %q; want offset 1 \"behind\" (the open transaction's record is never delivered)", m.Offset, m.Value)
	}
	// The timeout is what aborted it, not the producer.
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("committing the timed-out transaction succeeded; want an error (the broker aborted it)")
	}
}

// TestOnSkip: records skipped after the last message returned (a commit
// marker, an aborted transaction with its marker) are reported with the
// offset after them, once the messages before them were returned, so the
// consumer can commit past them.
func TestOnSkip(t *testing.T) {
	c := kafkatest.Start(t)
	topic := c.Topic("skip")
	c.CreateTopics(t, topic)
	tx := c.Client(t, kgo.TransactionalID(topic+"-tx"))
	txn(t, tx, true, rec(topic, "A")) // A at 0, commit marker at 1
	var skips []int64
	r := newReader(t, c, topic, 0, func(cfg *kafkaread.Config) {
		cfg.OnSkip = func(next int64) { skips = append(skips, next) }
	})
	m, err := r.Fetch(ctxT(t, 30*time.Second))
	if err != nil || m.Offset != 0 {
		t.Fatalf("Fetch = offset %d, %v; want offset 0", m.Offset, err)
	}
	if len(skips) != 0 {
		t.Fatalf("OnSkip %v before the message before the marker was processed; want none yet", skips)
	}
	fetchNone(t, r, 300*time.Millisecond)
	if !slices.Equal(skips, []int64{2}) {
		t.Fatalf("OnSkip calls %v; want [2] (past the commit marker at 1)", skips)
	}
	txn(t, tx, false, rec(topic, "B1"), rec(topic, "B2")) // 2, 3, abort marker at 4
	fetchNone(t, r, 300*time.Millisecond)
	if !slices.Equal(skips, []int64{2, 5}) {
		t.Fatalf("OnSkip calls %v; want [2 5] (past the aborted transaction and its marker)", skips)
	}
}

// TestOffsetOutOfRange: records deleted below the reader's offset (as
// retention does) make the reader reset by its policy, report partition,
// from, to and the count skipped, and continue from there.
func TestOffsetOutOfRange(t *testing.T) {
	tests := []struct {
		name      string
		policy    kafkaread.ResetPolicy
		start     int64
		wantReset kafkaread.Reset
		wantFirst int64 // offset of the first record delivered after the reset
	}{
		{"earliest behind the log", kafkaread.ResetEarliest, 2, kafkaread.Reset{From: 2, To: 6, Skipped: 4}, 6},
		{"latest behind the log", kafkaread.ResetLatest, 2, kafkaread.Reset{From: 2, To: 10, Skipped: 8, Policy: kafkaread.ResetLatest}, 10},
		{"earliest ahead of the log", kafkaread.ResetEarliest, 50, kafkaread.Reset{From: 50, To: 6, Skipped: 0}, 6},
	}
	c := kafkatest.Start(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := c.Topic("oor" + string(rune('a'+i)))
			c.CreateTopics(t, topic)
			cl := c.Client(t)
			for v := range 10 {
				produce(t, cl, rec(topic, string(rune('0'+v))))
			}
			kafkatest.DeleteRecordsBefore(t, cl, topic, 6)
			var resets []kafkaread.Reset
			r := newReader(t, c, topic, tc.start, func(cfg *kafkaread.Config) {
				cfg.Reset = tc.policy
				cfg.OnReset = func(rs kafkaread.Reset) {
					resets = append(resets, rs)
					produce(t, cl, rec(topic, "new")) // offset 10, after "latest" was resolved
				}
			})
			m, err := r.Fetch(ctxT(t, 30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.wantReset
			want.Topic, want.Partition = topic, 0
			if len(resets) != 1 || resets[0] != want {
				t.Fatalf("resets = %+v; want [%+v]", resets, want)
			}
			if m.Offset != tc.wantFirst {
				t.Fatalf("first delivered offset = %d; want %d", m.Offset, tc.wantFirst)
			}
		})
	}
}

// TestNewValidates: bad configurations are errors, never panics.
func TestNewValidates(t *testing.T) {
	ok := kafkaread.Config{Brokers: []string{"127.0.0.1:9092"}, Topic: "t"}
	tests := []struct {
		name    string
		mod     func(*kafkaread.Config)
		offset  int64
		wantErr bool
	}{
		{"valid", func(*kafkaread.Config) {}, 0, false},
		{"first offset", func(*kafkaread.Config) {}, kafka.FirstOffset, false},
		{"last offset", func(*kafkaread.Config) {}, kafka.LastOffset, false},
		{"no brokers", func(c *kafkaread.Config) { c.Brokers = nil }, 0, true},
		{"broker without port", func(c *kafkaread.Config) { c.Brokers = []string{"localhost"} }, 0, true},
		{"no topic", func(c *kafkaread.Config) { c.Topic = "" }, 0, true},
		{"negative partition", func(c *kafkaread.Config) { c.Partition = -1 }, 0, true},
		{"negative MinBytes", func(c *kafkaread.Config) { c.MinBytes = -1 }, 0, true},
		{"negative MaxWait", func(c *kafkaread.Config) { c.MaxWait = -time.Second }, 0, true},
		{"unknown policy", func(c *kafkaread.Config) { c.Reset = 7 }, 0, true},
		{"offset -3", func(*kafkaread.Config) {}, -3, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			r, err := kafkaread.New(cfg, tc.offset)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New err = %v; want error %t", err, tc.wantErr)
			}
			if r != nil {
				_ = r.Close()
			}
		})
	}
}
