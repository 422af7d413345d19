package kafkaread_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/worker/kafkaread"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

// BenchmarkRead compares reading a partition of 5,000 ~200-byte records
// with kafkaread and with kafka-go's Reader (read_committed both): compare
// the ns/op of the two sub-benchmarks as a ratio.
//
//	go test -run XXX -bench BenchmarkRead -benchtime 5x ./worker/kafkaread/
func BenchmarkRead(b *testing.B) {
	const n = 5000
	c := kafkatest.Start(b)
	topic := c.Topic("bench")
	c.CreateTopics(b, topic)
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: topic, Key: []byte("k"), Value: []byte(strconv.Itoa(i) + string(pad[:200]))}
	}
	c.Produce(b, msgs...)
	// Hash of "k" puts everything in one partition.
	parts, err := c.EndOffsets(context.Background(), topic)
	if err != nil {
		b.Fatal(err)
	}
	part := -1
	for p, end := range parts {
		if end == n {
			part = p
		}
	}
	if part < 0 {
		b.Fatalf("end offsets %v: no partition holds all %d records", parts, n)
	}
	b.Run("kafkaread", func(b *testing.B) {
		for b.Loop() {
			r, err := kafkaread.New(kafkaread.Config{Brokers: c.Brokers, Topic: topic, Partition: part, MaxWait: 50 * time.Millisecond}, 0)
			if err != nil {
				b.Fatal(err)
			}
			for range n {
				if _, err := r.Fetch(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			_ = r.Close()
		}
	})
	b.Run("kafka-go", func(b *testing.B) {
		for b.Loop() {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.Brokers, Topic: topic, Partition: part, MaxWait: 50 * time.Millisecond,
				MaxBytes: 16 << 20, IsolationLevel: kafka.ReadCommitted})
			if err := r.SetOffset(0); err != nil {
				b.Fatal(err)
			}
			for range n {
				if _, err := r.FetchMessage(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			_ = r.Close()
		}
	})
}
