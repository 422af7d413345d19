package kafkaread

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicsConfig configures Topics.
type TopicsConfig struct {
	Brokers []string      // host:port of at least one broker; required
	Dialer  *kafka.Dialer // TLS, SASL, ClientID, dial timeout; nil: plain TCP
	Topics  []string      // the topics wanted; at least one
	// Interval is how often Watch polls, and the longest a change takes to
	// be seen (metadata is cached for as long); default 10s.
	Interval time.Duration
}

// TopicState is which of the wanted topics exist.
type TopicState struct {
	// Partitions is the partition count of each wanted topic that exists.
	Partitions map[string]int
	// Missing lists the wanted topics that do not exist (never created,
	// deleted, a typo, or not ready yet), in the order they were wanted.
	Missing []string
}

// Existing lists the wanted topics that exist, sorted.
func (s TopicState) Existing() []string { return slices.Sorted(maps.Keys(s.Partitions)) }

// Equal reports whether s and o have the same topics with the same
// partition counts: if not, the group's subscription must change.
func (s TopicState) Equal(o TopicState) bool { return maps.Equal(s.Partitions, o.Partitions) }

// Topics reports which of the wanted topics exist. It never creates one: its
// metadata requests do not allow auto-creation. Safe for concurrent use.
type Topics struct {
	cfg       TopicsConfig
	transport *kafka.Transport
	client    *kafka.Client
}

// NewTopics validates cfg and returns a Topics; it does not connect.
func NewTopics(cfg TopicsConfig) (*Topics, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafkaread: topics: no brokers")
	}
	for _, b := range cfg.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return nil, fmt.Errorf("kafkaread: topics: broker %q is not host:port", b)
		}
	}
	if len(cfg.Topics) == 0 || slices.Contains(cfg.Topics, "") {
		return nil, errors.New("kafkaread: topics: no topics, or an empty topic name")
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("kafkaread: topics: negative interval %s", cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = 10 * time.Second
	}
	cfg.Topics = slices.Clone(cfg.Topics)
	// The transport answers metadata requests from a cache it refreshes
	// every MetadataTTL: the interval bounds how stale an answer is.
	t := newTransport(cfg.Dialer, cfg.Interval)
	return &Topics{cfg: cfg, transport: t, client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: t, Timeout: 30 * time.Second}}, nil
}

// Check asks the cluster once which wanted topics exist.
func (t *Topics) Check(ctx context.Context) (TopicState, error) {
	resp, err := t.client.Metadata(ctx, &kafka.MetadataRequest{Topics: t.cfg.Topics})
	if err != nil {
		return TopicState{}, fmt.Errorf("kafkaread: topics: metadata: %w", err)
	}
	st := TopicState{Partitions: make(map[string]int)}
	for _, tp := range resp.Topics {
		if tp.Error == nil && len(tp.Partitions) > 0 && slices.Contains(t.cfg.Topics, tp.Name) {
			st.Partitions[tp.Name] = len(tp.Partitions)
		}
	}
	for _, name := range t.cfg.Topics {
		if _, ok := st.Partitions[name]; !ok && !slices.Contains(st.Missing, name) {
			st.Missing = append(st.Missing, name)
		}
	}
	return st, nil
}

// Watch polls every Interval until the state differs from last (topics
// appeared, disappeared or changed partition count) and returns the new
// state, or returns ctx's error. A failed poll is retried at the next
// interval; Watch returns the last poll error only together with ctx's.
func (t *Topics) Watch(ctx context.Context, last TopicState) (TopicState, error) {
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	var pollErr error
	for {
		select {
		case <-ctx.Done():
			if pollErr != nil {
				return TopicState{}, fmt.Errorf("%w (last poll: %w)", ctx.Err(), pollErr)
			}
			return TopicState{}, ctx.Err()
		case <-tick.C:
		}
		st, err := t.Check(ctx)
		if err != nil {
			pollErr = err
			continue
		}
		pollErr = nil
		if !st.Equal(last) {
			return st, nil
		}
	}
}

// Interval is the configured poll interval (after defaults).
func (t *Topics) Interval() time.Duration { return t.cfg.Interval }

// Close releases the connections.
func (t *Topics) Close() error {
	t.transport.CloseIdleConnections()
	return nil
}
