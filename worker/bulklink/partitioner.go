package bulklink

import (
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go"
)

// DefaultTopic is where bulk-link produces by default: the bulk lane (the
// worker's --bulk-topics default), so that a big file never queues ahead of
// live registrations.
const DefaultTopic = "bulk.account.linked"

// The partitioners of Config.Partitioner.
const (
	// Murmur2 is Java's default partitioner for keyed records:
	// toPositive(murmur2(key)) % partitions (kafka-go's Murmur2Balancer,
	// which follows Utils.murmur2). The default.
	Murmur2 = "murmur2"
	// FNV1a is kafka-go's Hash (Sarama's hash partitioner): what bulk-link
	// used before murmur2 became the default.
	FNV1a = "fnv1a"
	// CRC32 is librdkafka's default, consistent_random: crc32(key) %
	// partitions.
	CRC32 = "crc32"
)

// Partitioners lists the names Balancer accepts, the default first.
func Partitioners() []string { return []string{Murmur2, FNV1a, CRC32} }

// Balancer returns the kafka-go balancer for a partitioner name (see
// Partitioners). For keys it agrees with the named client exactly. A record
// without a key (bulk-link always sets one, the uid) goes to a random
// partition for murmur2 and crc32, as Java's and librdkafka's defaults
// spread keyless records (the Consistent flag, which would put them all in
// one partition, stays off), and round robin for fnv1a.
func Balancer(name string) (kafka.Balancer, error) {
	switch strings.ToLower(name) {
	case Murmur2, "":
		return kafka.Murmur2Balancer{}, nil
	case FNV1a:
		return &kafka.Hash{}, nil
	case CRC32:
		return kafka.CRC32Balancer{}, nil
	}
	return nil, fmt.Errorf("bulk-link: partitioner %q: want one of %s", name, strings.Join(Partitioners(), ", "))
}

// ParseHeader parses a --header value, k=v (split at the first '='; the
// value may be empty, the name may not).
func ParseHeader(s string) (kafka.Header, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return kafka.Header{}, fmt.Errorf("bulk-link: header %q: want name=value", s)
	}
	return kafka.Header{Key: k, Value: []byte(v)}, nil
}
