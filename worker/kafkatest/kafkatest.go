// Package kafkatest runs the Kafka side of regnotify's tests: an in-process
// Kafka-protocol broker (franz-go's kfake) reached through real kafka-go
// readers and writers, or a real broker when KAFKA_BROKERS is set.
//
// It is test support, not part of the worker.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"

	"github.com/regnotify/regnotify/worker/kafkaread"
)

// Cluster is a broker for one test, with topic names unique to it.
type Cluster struct {
	Brokers []string
	// Fake is the in-process broker, nil when KAFKA_BROKERS points the
	// tests at a real one. Tests that inject broker faults need it.
	Fake      *kfake.Cluster
	prefix    string
	client    *kafka.Client
	transport *kafka.Transport
}

// MaxMessageBytes is the largest record batch the in-process broker takes.
const MaxMessageBytes = 8 << 20

// Partitions is the partition count of the topics a Cluster creates.
const Partitions = 4

// Start returns a broker for t, closed at the end of the test. Topic names
// passed to Topic are made unique per test, so that tests can share a real
// broker.
func Start(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	c, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// New is Start for callers without a testing.TB (the end-to-end harness and
// the benchmark command): it returns an error instead of failing a test, and
// the caller must call Close. With KAFKA_BROKERS set and no opts it uses
// that broker instead of an in-process one.
func New(opts ...kfake.Opt) (*Cluster, error) {
	var buf [4]byte
	_, _ = rand.Read(buf[:])
	c := &Cluster{prefix: "t" + hex.EncodeToString(buf[:]) + "."}
	if env := os.Getenv("KAFKA_BROKERS"); env != "" && len(opts) == 0 {
		c.Brokers = strings.Split(env, ",")
	} else {
		opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(Partitions), kfake.AllowAutoTopicCreation(),
			// Room for the 1 MiB bad record the tests must dead-letter.
			kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(MaxMessageBytes)})}, opts...)
		fc, err := kfake.NewCluster(opts...)
		if err != nil {
			return nil, fmt.Errorf("start in-process Kafka broker: %w", err)
		}
		c.Fake = fc
		c.Brokers = fc.ListenAddrs()
	}
	// An own transport, closed by Close, so that no connection outlives
	// the test (goleak).
	c.transport = &kafka.Transport{}
	c.client = &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: 10 * time.Second, Transport: c.transport}
	return c, nil
}

// Close closes the client connections and the in-process broker, if any.
// Start calls it at the end of the test.
func (c *Cluster) Close() {
	c.transport.CloseIdleConnections()
	if c.Fake != nil {
		c.Fake.Close()
	}
}

// Topic returns the test-unique name of topic.
func (c *Cluster) Topic(topic string) string { return c.prefix + topic }

// Group returns a test-unique consumer group name.
func (c *Cluster) Group(name string) string { return c.prefix + name }

// CreateTopics creates the topics (test-unique names) with Partitions
// partitions each.
func (c *Cluster) CreateTopics(t testing.TB, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.CreateTopicsContext(ctx, topics...); err != nil {
		t.Fatal(err)
	}
}

// CreateTopicsContext is CreateTopics returning an error.
func (c *Cluster) CreateTopicsContext(ctx context.Context, topics ...string) error {
	req := &kafka.CreateTopicsRequest{}
	for _, tp := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: tp, NumPartitions: Partitions, ReplicationFactor: 1})
	}
	resp, err := c.client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	for tp, err := range resp.Errors {
		if err != nil {
			return fmt.Errorf("create topic %s: %w", tp, err)
		}
	}
	return nil
}

// Writer returns a synchronous acks=all writer that partitions by key.
func (c *Cluster) Writer() *kafka.Writer {
	return &kafka.Writer{
		Addr: kafka.TCP(c.Brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond, BatchSize: 1000, BatchBytes: MaxMessageBytes, Transport: c.transport,
	}
}

// Produce writes msgs (each with its Topic set) and fails t on error.
func (c *Cluster) Produce(t testing.TB, msgs ...kafka.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.ProduceContext(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// ProduceContext is Produce returning an error.
func (c *Cluster) ProduceContext(ctx context.Context, msgs ...kafka.Message) error {
	w := c.Writer()
	defer w.Close()
	for len(msgs) > 0 {
		n := min(len(msgs), 5000)
		if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		msgs = msgs[n:]
	}
	return nil
}

// EndOffsets returns the high-water mark of each partition of topic.
func (c *Cluster) EndOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, Partitions)
	for p := range Partitions {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	resp, err := c.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, err
	}
	out := make(map[int]int64)
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, po.Error
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// Committed returns group's committed offset of each partition of topic
// (-1 where nothing is committed).
func (c *Cluster) Committed(ctx context.Context, group, topic string) (map[int]int64, error) {
	parts := make([]int, Partitions)
	for p := range Partitions {
		parts[p] = p
	}
	resp, err := c.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	out := make(map[int]int64)
	for _, p := range resp.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

// CaughtUp reports whether group's committed offsets reach the end of every
// partition of topics.
func (c *Cluster) CaughtUp(ctx context.Context, group string, topics ...string) (bool, error) {
	return kafkaio.CaughtUp(ctx, c.client, group, topics)
}

// WaitCaughtUp polls CaughtUp until it is true or timeout passes.
func (c *Cluster) WaitCaughtUp(t testing.TB, timeout time.Duration, group string, topics ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ok, err := c.CaughtUp(ctx, group, topics...)
		cancel()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not commit to the end of %v within %v (last error: %v)", group, topics, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ReadAll returns every record of topic up to its current end, partition by
// partition.
func (c *Cluster) ReadAll(t testing.TB, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.ReadAllContext(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ReadAllContext is ReadAll returning an error.
func (c *Cluster) ReadAllContext(ctx context.Context, topic string) ([]kafka.Message, error) {
	end, err := c.EndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	var out []kafka.Message
	for p := range Partitions {
		if end[p] == 0 {
			continue
		}
		msgs, err := c.readPartition(ctx, topic, p, end[p])
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	return out, nil
}

// readPartition reads partition p of topic up to end as the worker does
// (kafkaread: read_committed, header values byte-exact; kafka-go's Reader
// turns an empty header value into nil).
func (c *Cluster) readPartition(ctx context.Context, topic string, p int, end int64) ([]kafka.Message, error) {
	pos := int64(0)
	r, err := kafkaread.New(kafkaread.Config{Brokers: c.Brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond,
		OnSkip: func(next int64) { pos = next }}, kafka.FirstOffset)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []kafka.Message
	for pos < end {
		m, err := r.Fetch(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
		}
		out = append(out, m)
		pos = m.Offset + 1
	}
	return out, nil
}

// String names the cluster for test logs.
func (c *Cluster) String() string { return fmt.Sprintf("kafka %v", c.Brokers) }

// VerifyTestMain runs the package's tests and fails them if goroutines
// leak, ignoring kafka-go's package-level connection pool janitor: the
// TestMain of every package that talks to the broker.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	goleak.VerifyTestMain(m, append(opts,
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"))...)
}
