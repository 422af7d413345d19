// Package control is the consumer group's shared, durable operator state:
// which sites an operator paused, and which dead letters were replayed (so
// that the admin API never replays one twice unless forced).
//
// The state lives in a compacted Kafka topic (default "regnotify.control",
// one partition, cleanup.policy=compact, created if missing) as one record
// per key, the latest record of a key being its value and an empty value
// deleting it:
//
//	site/<name>                         {"paused":true,"by":"alice","at":"..."}
//	replayed/<topic>/<partition>/<offset> {"by":"alice","at":"...","force":false}
//
// Every worker follows the topic from its start with a plain partition
// fetch loop (not the consumer group: every worker must see every record,
// and joining a group would rebalance nothing useful) and keeps the latest
// value per key in memory. Why a topic: the state survives restarts and
// rollouts, a new replica learns the current state by reading the topic
// before it takes events (Ready), compaction bounds it to one record per
// key, and it needs nothing the worker does not already have (Kafka). A
// change reaches every follower within one fetch wait (MaxWait, 500ms by
// default), far inside the contract's 5 s.
//
// Failure modes: while Kafka is unreachable a follower keeps its last state
// (a pause is not lost, a resume not seen until Kafka is back) and Publish
// fails, so the operator is told; two replays started at the same moment on
// two replicas may both pass the "not yet replayed" check before either
// record reached the other (the admin server serialises replays within one
// process, which closes the window for one console); replayed/ keys grow
// with the dead letters replayed (tens of bytes each) until someone deletes
// them with a tombstone.
//
// It is not a configuration store (sites are defined by --config) and not a
// lock service.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// DefaultTopic is the control topic's default name.
const DefaultTopic = "regnotify.control"

// Config says how to reach the control topic. It takes kafka-go pieces
// rather than the worker's Kafka settings so that the worker can import this
// package.
type Config struct {
	Brokers []string
	// Transport carries every request (fetch, produce, admin); nil means
	// kafka.DefaultTransport. Build it from the worker's Kafka settings so
	// that TLS and SASL apply.
	Transport kafka.RoundTripper
	// Topic is the control topic; default DefaultTopic.
	Topic string
	// MaxWait is how long one fetch waits for new records; default 500ms.
	// It bounds how late a follower sees a change.
	MaxWait time.Duration
	// ReplicationFactor of the topic when it is created; default -1 (the
	// broker's default.replication.factor).
	ReplicationFactor int
	Log               *zap.Logger
}

// Control follows the control topic and publishes to it. Create it with
// New; run Follow in one goroutine; the other methods are safe to call
// concurrently with it.
type Control struct {
	cfg    Config
	client *kafka.Client
	log    *zap.Logger

	mu    sync.RWMutex
	state map[string]entry
	ready chan struct{}
	once  sync.Once
}

type entry struct {
	value  []byte
	offset int64
}

// New returns a Control for cfg. It does not connect.
func New(cfg Config) (*Control, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("control: no brokers")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 500 * time.Millisecond
	}
	if cfg.ReplicationFactor == 0 {
		cfg.ReplicationFactor = -1
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	tr := cfg.Transport
	if tr == nil {
		tr = kafka.DefaultTransport
	}
	return &Control{
		cfg:    cfg,
		client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: tr, Timeout: 10 * time.Second},
		log:    cfg.Log,
		state:  make(map[string]entry),
		ready:  make(chan struct{}),
	}, nil
}

// Topic is the control topic's name.
func (c *Control) Topic() string { return c.cfg.Topic }

// Ready is closed once Follow has read the topic up to its end as of its
// start: from then on the state is the group's current one. A worker should
// wait for it before taking events, so that a paused site stays paused.
func (c *Control) Ready() <-chan struct{} { return c.ready }

// EnsureTopic creates the control topic (1 partition, compacted) if it does
// not exist.
func (c *Control) EnsureTopic(ctx context.Context) error {
	resp, err := c.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: c.cfg.Topic, NumPartitions: 1, ReplicationFactor: c.cfg.ReplicationFactor,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	}}})
	if err != nil {
		return fmt.Errorf("control: create topic %s: %w", c.cfg.Topic, err)
	}
	if err := resp.Errors[c.cfg.Topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("control: create topic %s: %w", c.cfg.Topic, err)
	}
	return nil
}

// Get returns the latest value of key and whether there is one.
func (c *Control) Get(key string) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.state[key]
	return e.value, ok
}

// apply records value as key's state if it is newer than what is known.
// It reports whether the state changed.
func (c *Control) apply(key string, value []byte, offset int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.state[key]; ok && old.offset >= offset {
		return false
	}
	if len(value) == 0 {
		_, had := c.state[key]
		delete(c.state, key)
		return had
	}
	c.state[key] = entry{value: value, offset: offset}
	return true
}

// Publish writes key → value (acks=all) and applies it locally at once, so
// that this process sees its own change before Publish returns. An empty
// value deletes the key.
func (c *Control) Publish(ctx context.Context, key string, value []byte) error {
	return c.PublishMany(ctx, map[string][]byte{key: value})
}

// PublishMany writes several keys in one acknowledged produce request.
func (c *Control) PublishMany(ctx context.Context, kv map[string][]byte) error {
	if len(kv) == 0 {
		return nil
	}
	keys := make([]string, 0, len(kv))
	recs := make([]kafka.Record, 0, len(kv))
	for k, v := range kv {
		keys = append(keys, k)
		r := kafka.Record{Key: kafka.NewBytes([]byte(k))}
		if len(v) > 0 {
			r.Value = kafka.NewBytes(v)
		}
		recs = append(recs, r)
	}
	resp, err := c.client.Produce(ctx, &kafka.ProduceRequest{
		Topic: c.cfg.Topic, Partition: 0, RequiredAcks: kafka.RequireAll, Records: kafka.NewRecordReader(recs...),
	})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return fmt.Errorf("control: publish to %s: %w", c.cfg.Topic, err)
	}
	for i, k := range keys {
		c.apply(k, kv[k], resp.BaseOffset+int64(i))
	}
	return nil
}

// Follow reads the control topic from its start until ctx ends, applying
// each record and calling onChange (may be nil) for every key whose state
// changed, with its new value (nil when deleted). It returns nil when ctx
// ends; Kafka errors are retried (logged once per distinct error), keeping
// the last known state meanwhile.
func (c *Control) Follow(ctx context.Context, onChange func(key string, value []byte)) error {
	offset, end, err := int64(0), int64(-1), error(nil)
	lastErr := ""
	fail := func(e error) {
		if msg := e.Error(); msg != lastErr {
			c.log.Warn("control topic: cannot read, keeping the last known state", zap.String("topic", c.cfg.Topic), zap.Error(e))
			lastErr = msg
		}
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	for ctx.Err() == nil {
		if end < 0 {
			if end, err = c.endOffset(ctx); err != nil {
				end = -1
				fail(err)
				continue
			}
			if offset >= end {
				c.once.Do(func() { close(c.ready) })
			}
		}
		next, err := c.fetch(ctx, offset, onChange)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fail(err)
			continue
		}
		lastErr = ""
		offset = next
		if offset >= end {
			c.once.Do(func() { close(c.ready) })
		}
	}
	return nil
}

func (c *Control) endOffset(ctx context.Context) (int64, error) {
	resp, err := c.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{c.cfg.Topic: {kafka.LastOffsetOf(0)}}})
	if err != nil {
		return 0, fmt.Errorf("control: end offset of %s: %w", c.cfg.Topic, err)
	}
	pos := resp.Topics[c.cfg.Topic]
	if len(pos) == 0 {
		return 0, fmt.Errorf("control: end offset of %s: no partition 0", c.cfg.Topic)
	}
	if pos[0].Error != nil {
		return 0, fmt.Errorf("control: end offset of %s: %w", c.cfg.Topic, pos[0].Error)
	}
	return pos[0].LastOffset, nil
}

// fetch reads the records from offset on (one fetch, waiting up to MaxWait)
// and returns the offset to read next.
func (c *Control) fetch(ctx context.Context, offset int64, onChange func(string, []byte)) (int64, error) {
	resp, err := c.client.Fetch(ctx, &kafka.FetchRequest{
		Topic: c.cfg.Topic, Partition: 0, Offset: offset, MinBytes: 1, MaxBytes: 4 << 20,
		MaxWait: c.cfg.MaxWait, IsolationLevel: kafka.ReadCommitted,
	})
	if err != nil {
		return offset, fmt.Errorf("control: fetch %s: %w", c.cfg.Topic, err)
	}
	if resp.Error != nil {
		if errors.Is(resp.Error, kafka.OffsetOutOfRange) && resp.LogStartOffset > offset {
			return resp.LogStartOffset, nil // compaction or retention moved the start
		}
		return offset, fmt.Errorf("control: fetch %s: %w", c.cfg.Topic, resp.Error)
	}
	for {
		r, err := resp.Records.ReadRecord()
		if err != nil {
			break // io.EOF, or a truncated last batch: fetched again from offset
		}
		if r.Offset < offset {
			continue
		}
		key, value, err := readKV(r)
		if err != nil {
			return offset, err
		}
		offset = r.Offset + 1
		if c.apply(key, value, r.Offset) && onChange != nil {
			onChange(key, value)
		}
	}
	return offset, nil
}

func readKV(r *kafka.Record) (string, []byte, error) {
	var key, value []byte
	var err error
	if r.Key != nil {
		if key, err = kafka.ReadAll(r.Key); err != nil {
			return "", nil, fmt.Errorf("control: read record key: %w", err)
		}
	}
	if r.Value != nil {
		if value, err = kafka.ReadAll(r.Value); err != nil {
			return "", nil, fmt.Errorf("control: read record value: %w", err)
		}
	}
	return string(key), value, nil
}

// SitePause is the value of a site/<name> key.
type SitePause struct {
	Paused bool      `json:"paused"`
	By     string    `json:"by"` // the admin token's name
	At     time.Time `json:"at"`
}

// SiteKey is the control key of a site.
func SiteKey(site string) string { return "site/" + site }

// SetPaused publishes that site is paused (or resumed) by the token named by.
func (c *Control) SetPaused(ctx context.Context, site string, paused bool, by string) error {
	v, err := json.Marshal(SitePause{Paused: paused, By: by, At: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("control: encode pause: %w", err)
	}
	return c.Publish(ctx, SiteKey(site), v)
}

// Paused reports whether an operator paused site.
func (c *Control) Paused(site string) bool {
	p, ok := c.Pause(site)
	return ok && p.Paused
}

// Pause returns site's pause record, if there is one.
func (c *Control) Pause(site string) (SitePause, bool) {
	v, ok := c.Get(SiteKey(site))
	if !ok {
		return SitePause{}, false
	}
	var p SitePause
	if err := json.Unmarshal(v, &p); err != nil {
		return SitePause{}, false
	}
	return p, true
}

// Replay is the value of a replayed/... key.
type Replay struct {
	By    string    `json:"by"`
	At    time.Time `json:"at"`
	Force bool      `json:"force,omitempty"`
}

// ReplayedKey is the control key of the dead letter at topic/partition/offset.
func ReplayedKey(topic string, partition int, offset int64) string {
	return "replayed/" + topic + "/" + strconv.Itoa(partition) + "/" + strconv.FormatInt(offset, 10)
}

// Replayed reports whether the dead letter at topic/partition/offset was
// replayed (by the admin API).
func (c *Control) Replayed(topic string, partition int, offset int64) bool {
	_, ok := c.Get(ReplayedKey(topic, partition, offset))
	return ok
}

// Offset names one record of a topic.
type Offset struct {
	Partition int
	Offset    int64
}

// MarkReplayed records that the dead letters at offs of topic were replayed.
func (c *Control) MarkReplayed(ctx context.Context, topic string, offs []Offset, by string, force bool) error {
	v, err := json.Marshal(Replay{By: by, At: time.Now().UTC(), Force: force})
	if err != nil {
		return fmt.Errorf("control: encode replay: %w", err)
	}
	kv := make(map[string][]byte, len(offs))
	for _, o := range offs {
		kv[ReplayedKey(topic, o.Partition, o.Offset)] = v
	}
	return c.PublishMany(ctx, kv)
}

// PausedSites returns the names of the paused sites.
func (c *Control) PausedSites() []string {
	c.mu.RLock()
	keys := make([]string, 0)
	for k := range c.state {
		if strings.HasPrefix(k, "site/") {
			keys = append(keys, k)
		}
	}
	c.mu.RUnlock()
	var out []string
	for _, k := range keys {
		if s := strings.TrimPrefix(k, "site/"); c.Paused(s) {
			out = append(out, s)
		}
	}
	return out
}
