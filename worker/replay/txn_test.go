package replay_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/regnotify/regnotify/worker/deadletter"
)

// TestReplaySkipsAbortedDeadLetters: dead letters written in transactions
// (franz-go's transactional producer) are replayed only when committed: an
// aborted transaction's records are never copied, the dry run does not
// list them, and both end (the run finishes, the offsets are committed to
// the end) although the partition ends with an abort marker.
func TestReplaySkipsAbortedDeadLetters(t *testing.T) {
	w := newWorld(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.kc.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionalID(w.dlq+"-tx"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	txn := func(commit bool, ds ...dead) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			m := d.message(w.dlq)
			r := &kgo.Record{Topic: w.dlq, Partition: 0, Key: []byte(d.key), Value: m.Value}
			for _, h := range m.Headers {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	d := func(key string) dead {
		return dead{topic: w.link, class: deadletter.ClassRejected, code: "403005", failedAt: failedAt, key: key, val: `{"k":"` + key + `"}`}
	}
	txn(true, d("A1"), d("A2"))
	txn(false, d("B1"), d("B2"))
	txn(true, d("A3"))
	txn(false, d("C1")) // the partition ends with an abort marker

	var out bytes.Buffer
	cfg := w.config()
	cfg.DryRun, cfg.DryRunOut = true, &out
	got, err := w.run(cfg)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if got.Replayed != 3 {
		t.Errorf("dry run replayed = %d; want 3 (A1 A2 A3):\n%s", got.Replayed, out.String())
	}

	if got, err = w.run(w.config()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got.Replayed != 3 || got.Unreplayable != 0 {
		t.Errorf("stats = %+v; want 3 replayed", got)
	}
	var keys []string
	for _, m := range w.kc.ReadAll(t, w.link) {
		keys = append(keys, string(m.Key))
	}
	if want := []string{"A1", "A2", "A3"}; len(keys) != 3 || keys[0] != want[0] || keys[1] != want[1] || keys[2] != want[2] {
		t.Errorf("copies = %v; want %v", keys, want)
	}
	w.checkCommittedToEnd()
	if got, err = w.run(w.config()); err != nil || got.Replayed != 0 {
		t.Errorf("second run = %+v, %v; want nothing replayed", got, err)
	}
}
