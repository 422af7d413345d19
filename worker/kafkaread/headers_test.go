package kafkaread_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/regnotify/regnotify/worker/kafkatest"
)

// hdr finds a header's value and whether it is there.
func hdr(hs []kafka.Header, key string) ([]byte, bool) {
	for _, h := range hs {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// TestEmptyHeaderValue (issue item 4): franz-go writes a record with an
// empty header value and a null one. kafka-go's Reader (v0.4.51) hands the
// empty one out as nil (message_reader.go readNewBytes returns nil for
// length 0), and kafka-go's Writer encodes nil as null (length -1): that
// is how a dead letter turned "" into null. kafkaread decodes through
// kafka-go's protocol package, which keeps length 0 as a non-nil empty
// slice; copied through a kafka-go Writer (as the dead-letter writer does)
// and read back by franz-go, the empty value is still empty and the null
// one still null.
func TestEmptyHeaderValue(t *testing.T) {
	c := kafkatest.Start(t)
	src, dst := c.Topic("src"), c.Topic("dst")
	c.CreateTopics(t, src, dst)
	cl := c.Client(t)
	produce(t, cl, &kgo.Record{Topic: src, Partition: 0, Value: []byte("v"), Headers: []kgo.RecordHeader{
		{Key: "empty", Value: []byte{}}, {Key: "null", Value: nil}, {Key: "text", Value: []byte("x")},
	}})

	m, err := newReader(t, c, src, 0, nil).Fetch(ctxT(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	checkHeaders(t, "kafkaread", m.Headers)

	t.Run("kafka-go Reader (why)", func(t *testing.T) {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers, Topic: src, Partition: 0, MaxWait: 100 * time.Millisecond})
		defer r.Close()
		km, err := r.FetchMessage(ctxT(t, 30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := hdr(km.Headers, "empty"); !ok || v != nil {
			t.Fatalf("kafka-go Reader: empty header = %#v (present %t); this test pins v0.4.51's nil (if it keeps it empty now, the workaround may go)", v, ok)
		}
	})

	w := c.Writer()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kafka.Message{Topic: dst, Key: []byte("k"), Value: m.Value, Headers: m.Headers}); err != nil {
		t.Fatal(err)
	}
	cons := c.Client(t, kgo.ConsumeTopics(dst), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 {
		t.Fatalf("franz-go read %d records from %s; want 1", len(recs), dst)
	}
	var hs []kafka.Header
	for _, h := range recs[0].Headers {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	checkHeaders(t, "written by kafka-go, read by franz-go", hs)
}

func checkHeaders(t *testing.T, who string, hs []kafka.Header) {
	t.Helper()
	if v, ok := hdr(hs, "empty"); !ok || v == nil || len(v) != 0 {
		t.Errorf("%s: header empty = %#v (present %t); want []byte{} (empty, not null)", who, v, ok)
	}
	if v, ok := hdr(hs, "null"); !ok || v != nil {
		t.Errorf("%s: header null = %#v (present %t); want nil (null)", who, v, ok)
	}
	if v, ok := hdr(hs, "text"); !ok || string(v) != "x" {
		t.Errorf("%s: header text = %q (present %t); want \"x\"", who, v, ok)
	}
}
