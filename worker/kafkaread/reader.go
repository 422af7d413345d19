package kafkaread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchAPI "github.com/segmentio/kafka-go/protocol/fetch"
	"go.uber.org/zap"
)

// ResetPolicy says where a Reader continues when its offset is out of the
// partition's range (the records fell out of retention, or the log was
// truncated or recreated).
type ResetPolicy int

const (
	// ResetEarliest continues at the partition's first offset (the default,
	// as --start-offset=earliest).
	ResetEarliest ResetPolicy = iota
	// ResetLatest continues at the partition's last stable offset.
	ResetLatest
)

// String is "earliest" or "latest".
func (p ResetPolicy) String() string {
	if p == ResetLatest {
		return "latest"
	}
	return "earliest"
}

// Reset describes one offset reset, for Config.OnReset.
type Reset struct {
	Topic     string
	Partition int
	Policy    ResetPolicy
	From, To  int64 // the offset that was out of range, and where reading continues
	// Skipped is how many offsets were jumped over (To-From when To is
	// ahead, else 0). With ResetEarliest it is what retention removed
	// before it was read; with ResetLatest it includes records that still
	// exist but are not read.
	Skipped int64
}

// Config configures a Reader. Zero values take the defaults given.
type Config struct {
	Brokers []string // host:port of at least one broker; required
	// Dialer carries TLS, SASL, ClientID and the dial timeout (nil: plain
	// TCP, 10s). Its DialFunc and Resolver are not used.
	Dialer    *kafka.Dialer
	Topic     string // required
	Partition int    // 0 ≤ Partition < 2³¹
	MinBytes  int    // default 1
	// MaxBytes bounds a fetch response; default 16 MiB. A batch larger than
	// it is still returned whole by the broker (Kafka ≥ 0.10.1).
	MaxBytes int
	MaxWait  time.Duration // how long the broker may hold a fetch; default 500ms
	// Reset is the policy when the offset is out of range. kafka-go's own
	// Reader jumps silently to the first offset when behind the log (a line
	// on its error logger, no count anyone can alert on) and retries
	// forever when ahead of it; a Reader applies this policy in both cases.
	Reset  ResetPolicy
	Logger *zap.Logger // a warning per reset; nil: none
	// OnReset, if set, is called (on the Fetch goroutine) after each reset,
	// e.g. to count Skipped in a metric.
	OnReset func(Reset)
	// OnSkip, if set, is called on the Fetch goroutine, inside Fetch, when
	// the partition's records after the last message Fetch returned were
	// all skipped (an aborted transaction's records, transaction markers, a
	// reset forward) up to next, and no message follows them yet. Every
	// offset below next has then been returned or skipped, so a consumer
	// may commit next once what it was given has finished; without this,
	// the commit point would stay before the marker that ends every
	// transaction, and lag would never reach 0.
	OnSkip func(next int64)
}

const (
	defaultMaxBytes = 16 << 20
	defaultMaxWait  = 500 * time.Millisecond
	// readCommitted is Kafka's isolation level 1.
	readCommitted = 1
	// controlAbort is the control record type of an ABORT marker (COMMIT is 1).
	controlAbort = 0
)

func (c *Config) validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("no brokers")
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("broker %q is not host:port", b)
		}
	}
	switch {
	case c.Topic == "":
		return errors.New("no topic")
	case c.Partition < 0 || c.Partition >= math.MaxInt32:
		return fmt.Errorf("partition %d out of range", c.Partition)
	case c.MinBytes < 0 || c.MaxBytes < 0 || c.MaxBytes > math.MaxInt32:
		return fmt.Errorf("MinBytes %d or MaxBytes %d out of range", c.MinBytes, c.MaxBytes)
	case c.MaxWait < 0:
		return fmt.Errorf("negative MaxWait %s", c.MaxWait)
	case c.Reset != ResetEarliest && c.Reset != ResetLatest:
		return fmt.Errorf("unknown reset policy %d", c.Reset)
	}
	if c.MinBytes == 0 {
		c.MinBytes = 1
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = defaultMaxBytes
	}
	if c.MaxWait == 0 {
		c.MaxWait = defaultMaxWait
	}
	return nil
}

// newTransport is a kafka-go transport with the dialer's TLS and SASL. The
// metadata TTL is short because Topics polls through the transport's cache.
func newTransport(d *kafka.Dialer, metadataTTL time.Duration) *kafka.Transport {
	t := &kafka.Transport{DialTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second, MetadataTTL: metadataTTL}
	keepAlive := 30 * time.Second
	if d != nil {
		t.TLS, t.SASL, t.ClientID = d.TLS, d.SASLMechanism, d.ClientID
		if d.Timeout > 0 {
			t.DialTimeout = d.Timeout
		}
		if d.KeepAlive > 0 {
			keepAlive = d.KeepAlive
		}
	}
	nd := &net.Dialer{Timeout: t.DialTimeout, KeepAlive: keepAlive}
	t.Dial = nd.DialContext
	return t
}

// Reader reads one partition with read_committed semantics. It is not safe
// for concurrent use: one goroutine calls Fetch, and Close when done.
type Reader struct {
	cfg       Config
	addr      net.Addr
	transport *kafka.Transport
	client    *kafka.Client
	offset    int64 // next offset to fetch; FirstOffset/LastOffset until resolved
	buf       []kafka.Message
	skipTo    int64 // > 0: report OnSkip(skipTo) once buf has been handed out
}

// New validates cfg and returns a Reader that starts at offset: an
// absolute offset, or kafka.FirstOffset / kafka.LastOffset (resolved at
// the first Fetch; LastOffset means the last stable offset). It never
// panics and does not contact the brokers.
func New(cfg Config, offset int64) (*Reader, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("kafkaread: %w", err)
	}
	if offset < 0 && offset != kafka.FirstOffset && offset != kafka.LastOffset {
		return nil, fmt.Errorf("kafkaread: start offset %d is neither absolute nor FirstOffset/LastOffset", offset)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	t := newTransport(cfg.Dialer, 15*time.Second)
	addr := kafka.TCP(cfg.Brokers...)
	return &Reader{
		cfg: cfg, addr: addr, transport: t, offset: offset,
		client: &kafka.Client{Addr: addr, Transport: t, Timeout: 30 * time.Second},
	}, nil
}

// Offset is the offset of the next record Fetch looks for (negative until
// a relative start offset is resolved).
func (r *Reader) Offset() int64 { return r.offset }

// Close releases the Reader's connections. It does not block on brokers.
func (r *Reader) Close() error {
	r.transport.CloseIdleConnections()
	return nil
}

// Fetch returns the next committed, non-control record of the partition,
// waiting for one until ctx ends. The message has Topic, Partition,
// Offset, HighWaterMark, Key, Value, Headers (values byte-exact: empty
// stays empty, null stays nil) and Time. An error is the broker's or the
// network's (typically kafka.UnknownTopicOrPartition, kafka.NotLeaderForPartition,
// a timeout) or ctx's (once ctx ended, even while messages are
// buffered); calling Fetch again retries from the same offset.
func (r *Reader) Fetch(ctx context.Context) (kafka.Message, error) {
	// An ended ctx stops the caller even with messages buffered (as
	// kafka-go's FetchMessage does); they stay buffered for the next call.
	if err := ctx.Err(); err != nil {
		return kafka.Message{}, err
	}
	for len(r.buf) == 0 {
		if r.skipTo > 0 {
			// Every message before the skipped records has been returned.
			if r.cfg.OnSkip != nil {
				r.cfg.OnSkip(r.skipTo)
			}
			r.skipTo = 0
		}
		if err := ctx.Err(); err != nil {
			return kafka.Message{}, err
		}
		if err := r.fill(ctx); err != nil {
			return kafka.Message{}, r.ctxErr(ctx, err)
		}
	}
	m := r.buf[0]
	r.buf[0] = kafka.Message{}
	r.buf = r.buf[1:]
	return m, nil
}

// ctxErr is ctx's error if ctx ended, else err. The transport sets ctx's
// deadline on the connection, so the round trip may fail with an i/o
// timeout a moment before ctx reports the deadline: the caller wants to
// see context.DeadlineExceeded.
func (r *Reader) ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); cerr == nil && ok && !time.Now().Before(dl) {
		cerr = context.DeadlineExceeded
	}
	if cerr == nil {
		return err
	}
	return fmt.Errorf("kafkaread: fetch %s/%d: %w", r.cfg.Topic, r.cfg.Partition, cerr)
}

// fill makes one fetch request and buffers what it may deliver.
func (r *Reader) fill(ctx context.Context) error {
	if r.offset < 0 {
		off, err := r.listOffset(ctx, r.offset)
		if err != nil {
			return err
		}
		r.offset = off
	}
	p, err := r.fetch(ctx)
	if err != nil {
		return err
	}
	if p.ErrorCode != 0 {
		kerr := kafka.Error(p.ErrorCode)
		if errors.Is(kerr, kafka.OffsetOutOfRange) {
			return r.reset(ctx)
		}
		return fmt.Errorf("kafkaread: fetch %s/%d at %d: %w", r.cfg.Topic, r.cfg.Partition, r.offset, kerr)
	}
	msgs, next, err := decodePartition(r.cfg.Topic, r.cfg.Partition, r.offset, p)
	if err != nil {
		return fmt.Errorf("kafkaread: fetch %s/%d at %d: %w", r.cfg.Topic, r.cfg.Partition, r.offset, err)
	}
	lastReturned := r.offset - 1
	if len(msgs) > 0 {
		lastReturned = msgs[len(msgs)-1].Offset
	}
	if next > lastReturned+1 {
		r.skipTo = next
	}
	r.buf, r.offset = msgs, next
	return nil
}

// fetch sends one read_committed fetch request for the partition.
func (r *Reader) fetch(ctx context.Context) (*fetchAPI.ResponsePartition, error) {
	resp, err := r.transport.RoundTrip(ctx, r.addr, &fetchAPI.Request{
		ReplicaID:      -1,
		MaxWaitTime:    int32(r.cfg.MaxWait / time.Millisecond),
		MinBytes:       int32(r.cfg.MinBytes),
		MaxBytes:       int32(r.cfg.MaxBytes),
		IsolationLevel: readCommitted,
		SessionID:      -1,
		SessionEpoch:   -1,
		Topics: []fetchAPI.RequestTopic{{Topic: r.cfg.Topic, Partitions: []fetchAPI.RequestPartition{{
			Partition: int32(r.cfg.Partition), CurrentLeaderEpoch: -1, FetchOffset: r.offset,
			LogStartOffset: -1, PartitionMaxBytes: int32(r.cfg.MaxBytes),
		}}}},
	})
	if err != nil {
		return nil, fmt.Errorf("kafkaread: fetch %s/%d at %d: %w", r.cfg.Topic, r.cfg.Partition, r.offset, err)
	}
	res := resp.(*fetchAPI.Response)
	if res.ErrorCode != 0 {
		return nil, fmt.Errorf("kafkaread: fetch %s/%d: %w", r.cfg.Topic, r.cfg.Partition, kafka.Error(res.ErrorCode))
	}
	for i := range res.Topics {
		for j := range res.Topics[i].Partitions {
			if p := &res.Topics[i].Partitions[j]; res.Topics[i].Topic == r.cfg.Topic && int(p.Partition) == r.cfg.Partition {
				return p, nil
			}
		}
	}
	return nil, fmt.Errorf("kafkaread: fetch %s/%d: the response does not hold the partition", r.cfg.Topic, r.cfg.Partition)
}

// reset applies the policy after OffsetOutOfRange, reports it and
// continues from the new offset at the next fill.
func (r *Reader) reset(ctx context.Context) error {
	rel := kafka.FirstOffset
	if r.cfg.Reset == ResetLatest {
		rel = kafka.LastOffset
	}
	to, err := r.listOffset(ctx, rel)
	if err != nil {
		return err
	}
	rs := Reset{Topic: r.cfg.Topic, Partition: r.cfg.Partition, Policy: r.cfg.Reset, From: r.offset, To: to, Skipped: max(0, to-r.offset)}
	r.cfg.Logger.Warn("kafka offset out of range; reset by policy",
		zap.String("topic", rs.Topic), zap.Int("partition", rs.Partition), zap.Int64("from", rs.From),
		zap.Int64("to", rs.To), zap.Int64("skipped", rs.Skipped), zap.Stringer("policy", rs.Policy))
	if to > r.offset {
		r.skipTo = to
	}
	r.offset = to
	if r.cfg.OnReset != nil {
		r.cfg.OnReset(rs)
	}
	return nil
}

// listOffset resolves kafka.FirstOffset (log start) or kafka.LastOffset
// (last stable offset) of the partition.
func (r *Reader) listOffset(ctx context.Context, rel int64) (int64, error) {
	resp, err := r.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics:         map[string][]kafka.OffsetRequest{r.cfg.Topic: {{Partition: r.cfg.Partition, Timestamp: rel}}},
		IsolationLevel: kafka.ReadCommitted,
	})
	if err != nil {
		return 0, fmt.Errorf("kafkaread: list offsets of %s/%d: %w", r.cfg.Topic, r.cfg.Partition, err)
	}
	for _, po := range resp.Topics[r.cfg.Topic] {
		if po.Partition != r.cfg.Partition {
			continue
		}
		if po.Error != nil {
			return 0, fmt.Errorf("kafkaread: list offsets of %s/%d: %w", r.cfg.Topic, r.cfg.Partition, po.Error)
		}
		if rel == kafka.FirstOffset {
			return po.FirstOffset, nil
		}
		return po.LastOffset, nil
	}
	return 0, fmt.Errorf("kafkaread: list offsets of %s/%d: no answer for the partition", r.cfg.Topic, r.cfg.Partition)
}

// aborted tracks, within one fetch response, the producers whose
// transactions are aborted, as Kafka's Java consumer does: an aborted
// transaction enters the set when a batch at or after its first offset is
// reached, and leaves it at the producer's ABORT marker.
type aborted struct {
	txns []fetchAPI.ResponseTransaction // by first offset, not yet reached
	pids map[int64]struct{}
}

func newAborted(txns []fetchAPI.ResponseTransaction) *aborted {
	a := &aborted{txns: append([]fetchAPI.ResponseTransaction(nil), txns...), pids: make(map[int64]struct{})}
	sort.Slice(a.txns, func(i, j int) bool { return a.txns[i].FirstOffset < a.txns[j].FirstOffset })
	return a
}

// reach adds the producers of aborted transactions that start at or before
// last (the batch's last offset).
func (a *aborted) reach(last int64) {
	for len(a.txns) > 0 && a.txns[0].FirstOffset <= last {
		a.pids[a.txns[0].ProducerID] = struct{}{}
		a.txns = a.txns[1:]
	}
}

// decodePartition turns one partition of a fetch response into the
// messages to deliver (offset ≥ from, below the last stable offset, not
// aborted, not control) and the offset to fetch next.
func decodePartition(topic string, partition int, from int64, p *fetchAPI.ResponsePartition) ([]kafka.Message, int64, error) {
	batches := recordBatches(p.RecordSet.Records)
	ab := newAborted(p.AbortedTransactions)
	next := from
	var out []kafka.Message
	for _, b := range batches {
		bt, err := readBatch(b)
		if err != nil {
			return nil, 0, err
		}
		if bt.last < from {
			continue // a batch the broker returned from before the offset
		}
		if p.LastStableOffset > 0 && bt.last >= p.LastStableOffset {
			break // defensive: read_committed stops at the last stable offset
		}
		skip := bt.control
		if bt.producerID >= 0 {
			ab.reach(bt.last)
			_, isAborted := ab.pids[bt.producerID]
			if bt.abortMarker {
				delete(ab.pids, bt.producerID)
			} else if bt.transactional && isAborted {
				skip = true
			}
		}
		if !skip {
			for i := range bt.msgs {
				if m := &bt.msgs[i]; m.Offset >= from {
					m.Topic, m.Partition, m.HighWaterMark = topic, partition, p.HighWatermark
					out = append(out, *m)
				}
			}
		}
		next = max(next, bt.last+1)
	}
	return out, next, nil
}

// recordBatches lists the batches of a fetched record set.
func recordBatches(rr protocol.RecordReader) []protocol.RecordReader {
	switch s := rr.(type) {
	case nil:
		return nil
	case *protocol.RecordStream:
		return s.Records
	default:
		return []protocol.RecordReader{s}
	}
}

// batch is one decoded record batch.
type batch struct {
	msgs          []kafka.Message
	last          int64 // highest offset in the batch
	producerID    int64 // -1: none
	transactional bool
	control       bool
	abortMarker   bool // a control batch holding an ABORT marker
}

// readBatch reads a batch's records; control batches by the control
// attribute (kafka-go decodes them as *protocol.ControlBatch), never by
// what the records look like.
func readBatch(rr protocol.RecordReader) (batch, error) {
	b := batch{producerID: -1, last: -1}
	switch t := rr.(type) {
	case *protocol.ControlBatch:
		b.producerID, b.control, b.transactional, b.last = t.ProducerID, true, t.Attributes.Transactional(), t.BaseOffset
		for {
			cr, err := t.ReadControlRecord()
			if errors.Is(err, io.EOF) {
				return b, nil
			}
			if err != nil {
				return b, nil // an unreadable control record is still not data
			}
			b.last = max(b.last, cr.Offset)
			if cr.Type == controlAbort {
				b.abortMarker = true
			}
		}
	case *protocol.RecordBatch:
		b.producerID, b.transactional, b.last = t.ProducerID, t.Attributes.Transactional(), t.BaseOffset
	}
	for {
		rec, err := rr.ReadRecord()
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, fmt.Errorf("read record: %w", err)
		}
		m, err := message(rec)
		if err != nil {
			return b, err
		}
		b.last = max(b.last, m.Offset)
		b.msgs = append(b.msgs, m)
	}
}

// message copies a record out of the response's buffers.
func message(rec *protocol.Record) (kafka.Message, error) {
	m := kafka.Message{Offset: rec.Offset, Time: rec.Time}
	var err error
	if m.Key, err = readBytes(rec.Key); err != nil {
		return m, fmt.Errorf("read record key: %w", err)
	}
	if m.Value, err = readBytes(rec.Value); err != nil {
		return m, fmt.Errorf("read record value: %w", err)
	}
	if len(rec.Headers) > 0 {
		// The decoder gives each value its own slice: length 0 is a
		// non-nil empty slice, length -1 (null) is nil; both are kept.
		m.Headers = make([]kafka.Header, len(rec.Headers))
		for i, h := range rec.Headers {
			m.Headers[i] = kafka.Header(h)
		}
	}
	return m, nil
}

func readBytes(b protocol.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	return protocol.ReadAll(b)
}
