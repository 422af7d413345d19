package bulklink_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/regnotify/regnotify/worker/bulklink"
	"github.com/regnotify/regnotify/worker/kafkaio"
)

// javaPartitions are the partitions, of 12, that each partitioner gives a
// key. The murmur2 hashes of the first four keys are the test vectors of
// Apache Kafka's own UtilsTest.testMurmur2
// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java); the
// rest were computed once by this independent Python reimplementation of the
// partitioners (which also asserts the Java vectors):
//
//	import zlib
//	def murmur2(data):  # org.apache.kafka.common.utils.Utils.murmur2, signed
//	    M = 0x5bd1e995
//	    h = (0x9747b28c ^ len(data)) & 0xffffffff
//	    n4 = len(data) // 4
//	    for i in range(n4):
//	        k = int.from_bytes(data[4*i:4*i+4], "little")
//	        k = (k * M) & 0xffffffff
//	        k ^= k >> 24
//	        k = (k * M) & 0xffffffff
//	        h = (h * M) & 0xffffffff
//	        h ^= k
//	    rest = data[4*n4:]
//	    if len(rest) >= 3: h ^= rest[2] << 16
//	    if len(rest) >= 2: h ^= rest[1] << 8
//	    if len(rest) >= 1:
//	        h ^= rest[0]
//	        h = (h * M) & 0xffffffff
//	    h ^= h >> 13
//	    h = (h * M) & 0xffffffff
//	    h ^= h >> 15
//	    return h - (1 << 32) if h & 0x80000000 else h
//	def java_partition(key, n):  # BuiltInPartitioner.partitionForKey
//	    return (murmur2(key) & 0x7fffffff) % n
//	def fnv1a(data):
//	    h = 0x811c9dc5
//	    for b in data:
//	        h ^= b
//	        h = (h * 0x01000193) & 0xffffffff
//	    return h
//	def sarama_hash(key, n):  # Sarama's HashPartitioner = kafka-go's Hash
//	    h = fnv1a(key)
//	    s = h - (1 << 32) if h & 0x80000000 else h
//	    return abs(s) % n
//	def crc32_partition(key, n):  # librdkafka consistent(_random)
//	    return zlib.crc32(key) % n
//	keys = [b"21", b"foobar", b"abc", b"a-little-bit-long-string"] + \
//	    [b"_gid_user%07d" % i for i in range(12)] + [b"_gid_Zm9vYmFy", "été".encode()]
//	for k in keys:
//	    print(k.decode(), murmur2(k), java_partition(k, 12), sarama_hash(k, 12), crc32_partition(k, 12))
var javaPartitions = []struct {
	key                string
	murmur2            int32
	java, fnv1a, crc32 int
}{
	{"21", -973932308, 0, 0, 4},
	{"foobar", -790332482, 6, 0, 5},
	{"abc", 479470107, 3, 11, 6},
	{"a-little-bit-long-string", -985981536, 8, 4, 6},
	{"_gid_user0000000", 1529055050, 2, 4, 9},
	{"_gid_user0000001", -2068506657, 11, 5, 7},
	{"_gid_user0000002", -543177152, 0, 6, 1},
	{"_gid_user0000003", 1705782672, 0, 7, 11},
	{"_gid_user0000004", -1064437668, 8, 8, 4},
	{"_gid_user0000005", 1567301486, 2, 9, 2},
	{"_gid_user0000006", -2085205825, 7, 10, 8},
	{"_gid_user0000007", 1038932344, 4, 11, 10},
	{"_gid_user0000008", -1212847071, 5, 8, 11},
	{"_gid_user0000009", -1484631694, 10, 9, 9},
	{"_gid_user0000010", 567240527, 11, 11, 4},
	{"_gid_user0000011", 1984480649, 5, 10, 6},
	{"_gid_Zm9vYmFy", -1379592538, 10, 10, 8},
	{"été", -2101193575, 1, 9, 0},
}

const javaPartitionCount = 12

func TestBalancerMatchesOtherClients(t *testing.T) {
	parts := make([]int, javaPartitionCount)
	for i := range parts {
		parts[i] = i
	}
	for _, name := range bulklink.Partitioners() {
		bal, err := bulklink.Balancer(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range javaPartitions {
			want := map[string]int{bulklink.Murmur2: k.java, bulklink.FNV1a: k.fnv1a, bulklink.CRC32: k.crc32}[name]
			if got := bal.Balance(kafka.Message{Key: []byte(k.key)}, parts...); got != want {
				t.Errorf("%s: key %q → partition %d of %d, want %d", name, k.key, got, javaPartitionCount, want)
			}
		}
	}
	if _, err := bulklink.Balancer("random"); err == nil || !strings.Contains(err.Error(), "murmur2") {
		t.Errorf("Balancer(random): %v, want an error listing the partitioners", err)
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		in, key, value string
		ok             bool
	}{
		{"brand=brand-a", "brand", "brand-a", true},
		{"x=a=b", "x", "a=b", true},
		{"empty=", "empty", "", true},
		{"=v", "", "", false},
		{"novalue", "", "", false},
	}
	for _, tt := range tests {
		h, err := bulklink.ParseHeader(tt.in)
		if (err == nil) != tt.ok || (tt.ok && (h.Key != tt.key || string(h.Value) != tt.value)) {
			t.Errorf("ParseHeader(%q) = %q=%q, %v; want %q=%q, ok %v", tt.in, h.Key, h.Value, err, tt.key, tt.value, tt.ok)
		}
	}
}

func TestDefaults(t *testing.T) {
	if bulklink.DefaultTopic != "bulk.account.linked" {
		t.Errorf("DefaultTopic %q, want bulk.account.linked (the bulk lane)", bulklink.DefaultTopic)
	}
	if bulklink.Partitioners()[0] != bulklink.Murmur2 {
		t.Errorf("first (default) partitioner %q, want murmur2", bulklink.Partitioners()[0])
	}
}

// TestBulkLinkPartitionsLikeJava produces the known keys through a real
// writer to a 12-partition topic and reads each record's partition back.
// With no Topic set, the default topic bulk.account.linked receives them
// (the broker is a fresh in-process one, so the name is free); the headers
// are on every record.
func TestBulkLinkPartitionsLikeJava(t *testing.T) {
	for _, name := range []string{"", bulklink.FNV1a, bulklink.CRC32} {
		t.Run("partitioner "+name, func(t *testing.T) {
			w := newWorld(t)
			if w.kc.Fake == nil {
				t.Skip("needs the in-process broker: the default topic name is not test-unique")
			}
			createTopic(t, w.kc.Brokers, bulklink.DefaultTopic, javaPartitionCount)
			var csv strings.Builder
			csv.WriteString("uid,siteUid\n")
			for i, k := range javaPartitions {
				fmt.Fprintf(&csv, "%s,cust-%d\n", k.key, i)
			}
			file := filepath.Join(w.dir, "accounts.csv")
			if err := os.WriteFile(file, []byte(csv.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := bulklink.Config{Kafka: kafkaio.Kafka{Brokers: w.kc.Brokers}, File: file, Partitioner: name,
				Headers: []kafka.Header{{Key: "brand", Value: []byte("brand-a")}, {Key: "x-run", Value: []byte("r=1")}}}
			if _, err := run(t, cfg, zaptest.NewLogger(t)); err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := map[string]kafka.Message{}
			for _, m := range readPartitions(t, w.kc.Brokers, bulklink.DefaultTopic, javaPartitionCount) {
				got[string(m.Key)] = m
			}
			for _, k := range javaPartitions {
				want := map[string]int{"": k.java, bulklink.FNV1a: k.fnv1a, bulklink.CRC32: k.crc32}[name]
				m, ok := got[k.key]
				if !ok {
					t.Errorf("key %q: no record on %s", k.key, bulklink.DefaultTopic)
					continue
				}
				if m.Partition != want {
					t.Errorf("key %q: partition %d, want %d", k.key, m.Partition, want)
				}
				if h := fmt.Sprint(headerMap(m.Headers)); h != "map[brand:brand-a x-run:r=1]" {
					t.Errorf("key %q: headers %s, want brand=brand-a and x-run=r=1", k.key, h)
				}
			}
			if len(got) != len(javaPartitions) {
				t.Errorf("%d records, want %d", len(got), len(javaPartitions))
			}
		})
	}
}

func headerMap(hs []kafka.Header) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[h.Key] = string(h.Value)
	}
	return m
}

// readPartitions reads every record of the n partitions of topic (the
// kafkatest helpers know only its default partition count).
func readPartitions(t *testing.T, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: tr}
	reqs := make([]kafka.OffsetRequest, n)
	for p := range n {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			t.Fatal(po.Error)
		}
		if po.LastOffset == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: po.Partition, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx) // a partition reader without a group: nothing is committed
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, po.Partition, err)
			}
			out = append(out, m)
			if m.Offset+1 >= po.LastOffset {
				break
			}
		}
		r.Close()
	}
	return out
}

func createTopic(t *testing.T, brokers []string, topic string, partitions int) {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: tr}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range resp.Errors {
		if err != nil {
			t.Fatal(err)
		}
	}
}
