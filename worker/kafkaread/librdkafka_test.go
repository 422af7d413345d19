package kafkaread_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/regnotify/regnotify/worker/kafkatest"
)

// These tests use librdkafka, a client nobody here wrote, through Debian's
// kcat and python3-confluent-kafka. They skip when the tools are absent
// (CI installs them: apt-get install kcat python3-confluent-kafka).

var librdkafkaCodecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

func needKcat(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (apt-get install kcat)")
	}
	return p
}

// pythonCandidates are the interpreters tried for confluent_kafka, Debian's
// first: python3 on PATH may be another installation (a pyenv shim, a
// virtualenv) without Debian's python3-confluent-kafka.
var pythonCandidates = []string{"/usr/bin/python3", "python3"}

// needConfluentKafka returns an interpreter that can import confluent_kafka,
// or skips t.
func needConfluentKafka(t *testing.T) string {
	t.Helper()
	for _, name := range pythonCandidates {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = exec.CommandContext(ctx, p, "-c", "import confluent_kafka").Run()
		cancel()
		if err == nil {
			return p
		}
	}
	t.Skipf("no python3 that can import confluent_kafka among %v (apt-get install python3-confluent-kafka)", pythonCandidates)
	return ""
}

func run(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// TestKcatCodecs: records produced by librdkafka (kcat -P -z codec) with
// every codec are read back whole and in order.
func TestKcatCodecs(t *testing.T) {
	kcat := needKcat(t)
	c := kafkatest.Start(t)
	for _, codec := range librdkafkaCodecs {
		t.Run(codec, func(t *testing.T) {
			topic := c.Topic("kcat-" + codec)
			c.CreateTopics(t, topic)
			var in bytes.Buffer
			var want []string
			for i := range 20 {
				v := fmt.Sprintf("%s-%02d-%s", codec, i, strings.Repeat("x", 200))
				want = append(want, v)
				in.WriteString(v + "\n")
			}
			in.WriteString(string(sentinel) + "\n")
			run(t, in.Bytes(), kcat, "-P", "-b", c.Brokers[0], "-t", topic, "-p", "0", "-z", codec, "-X", "broker.address.family=v4")
			got := values(readUntilSentinel(t, newReader(t, c, topic, 0, nil)))
			if !slices.Equal(got, want) {
				t.Fatalf("read %d values %q\nwant %d %q", len(got), got, len(want), want)
			}
		})
	}
}

// TestKcatReadCommittedAgrees: librdkafka's read_committed consumer (kcat
// -X isolation.level=read_committed) is the oracle: over franz-go's
// committed, aborted and plain records it sees the same offsets and values
// as the Reader.
func TestKcatReadCommittedAgrees(t *testing.T) {
	kcat := needKcat(t)
	c := kafkatest.Start(t)
	topic := c.Topic("kcat-rc")
	c.CreateTopics(t, topic)
	tx := c.Client(t, kgo.TransactionalID(topic+"-tx"), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	plain := c.Client(t)
	txn(t, tx, true, rec(topic, "A1"), rec(topic, "A2"))
	txn(t, tx, false, rec(topic, "B1"))
	produce(t, plain, rec(topic, "P1"))
	txn(t, tx, true, rec(topic, "A3"))
	produce(t, plain, &kgo.Record{Topic: topic, Partition: 0, Value: sentinel})

	var ours []string
	for _, m := range readUntilSentinel(t, newReader(t, c, topic, 0, nil)) {
		ours = append(ours, fmt.Sprintf("%d %s", m.Offset, m.Value))
	}
	out := run(t, nil, kcat, "-C", "-b", c.Brokers[0], "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
		"-f", "%o %s\n", "-X", "isolation.level=read_committed", "-X", "broker.address.family=v4")
	var theirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasSuffix(l, " "+string(sentinel)) {
			theirs = append(theirs, l)
		}
	}
	if !slices.Equal(ours, theirs) {
		t.Fatalf("kafkaread delivered %q\nkcat read_committed %q", ours, theirs)
	}
	if want := []string{"A1", "A2", "P1", "A3"}; len(ours) != len(want) {
		t.Fatalf("delivered %q; want the values %q", ours, want)
	}
}

// TestLibrdkafkaTransactions: librdkafka's transactional producer
// (python3-confluent-kafka) commits A1 A2, aborts B1 B2, commits A3, with
// every codec: the Reader delivers A1 A2 A3.
func TestLibrdkafkaTransactions(t *testing.T) {
	py := needConfluentKafka(t)
	c := kafkatest.Start(t)
	for _, codec := range librdkafkaCodecs {
		t.Run(codec, func(t *testing.T) {
			topic := c.Topic("rdtxn-" + codec)
			c.CreateTopics(t, topic)
			run(t, nil, py, "testdata/txn_produce.py", c.Brokers[0], topic, codec)
			got := values(readUntilSentinel(t, newReader(t, c, topic, 0, nil)))
			if want := []string{"A1", "A2", "A3"}; !slices.Equal(got, want) {
				t.Fatalf("delivered %q; want %q", got, want)
			}
		})
	}
}
