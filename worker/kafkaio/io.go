package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// CloseBounded calls close but waits at most d: kafka-go's Close can hang
// when brokers are unreachable, and shutdown must stay bounded. An error or
// a timeout is logged, not returned: there is nothing left to do about it.
func CloseBounded(log *zap.Logger, what string, close func() error, d time.Duration) {
	done := make(chan error, 1)
	go func() { done <- close() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			log.Debug("close", zap.String("what", what), zap.Error(err))
		}
	case <-t.C:
		log.Warn("close timed out", zap.String("what", what), zap.Duration("after", d))
	}
}

// KafkaLogger routes kafka-go's error log to zap at debug level: the
// commands log the state changes that matter themselves.
func KafkaLogger(log *zap.Logger) kafka.Logger {
	s := log.Named("kafka").Sugar()
	return kafka.LoggerFunc(func(msg string, args ...any) { s.Debugf(msg, args...) })
}

// WriterOptions are what differs between the commands' writers; the rest
// (acks=all, batching, timeouts) is the same for all.
type WriterOptions struct {
	Topic       string         // "" = each message names its topic
	Balancer    kafka.Balancer // nil = hash of the key
	BatchSize   int            // 0 = 100
	MaxAttempts int            // 0 = 3
	Compression kafka.Compression
}

// NewWriterOn returns an acks=all, synchronous writer over tr: a short batch
// timeout so that a record is not held back a second, the broker's
// message.max.bytes as the only size limit.
func NewWriterOn(tr *kafka.Transport, brokers []string, o WriterOptions) *kafka.Writer {
	if o.Balancer == nil {
		o.Balancer = &kafka.Hash{}
	}
	if o.BatchSize == 0 {
		o.BatchSize = 100
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 3
	}
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        o.Topic,
		Balancer:     o.Balancer,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    o.BatchSize,
		BatchBytes:   16 << 20, // the broker's message.max.bytes is the real limit
		MaxAttempts:  o.MaxAttempts,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
		Compression:  o.Compression,
		Transport:    tr,
	}
}

// Writer is an acks=all writer that owns its transport.
type Writer struct {
	*kafka.Writer
	transport *kafka.Transport
}

// NewWriter returns an acks=all writer (see NewWriterOn) with a transport of
// its own, closed with it.
func NewWriter(k Kafka, o WriterOptions) (*Writer, error) {
	tr, err := k.Transport()
	if err != nil {
		return nil, err
	}
	return &Writer{Writer: NewWriterOn(tr, k.Brokers, o), transport: tr}, nil
}

// Close flushes pending writes and closes the writer's connections.
func (w *Writer) Close() error {
	err := w.Writer.Close()
	w.transport.CloseIdleConnections()
	return err
}

// Join waits for the group's next generation, retrying (and logging each
// new reason once) until there is one, ctx ends (ctx.Err()) or the group is
// closed (kafka.ErrGroupClosed). turn, if not nil, is called on every turn
// of the loop, at least every two seconds.
func Join(ctx context.Context, group *kafka.ConsumerGroup, log *zap.Logger, turn func()) (*kafka.Generation, error) {
	var lastErr string
	for {
		nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		gen, err := group.Next(nctx)
		cancel()
		if turn != nil {
			turn()
		}
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err == nil:
			return gen, nil
		case errors.Is(err, context.DeadlineExceeded):
			continue
		case errors.Is(err, kafka.ErrGroupClosed):
			return nil, err
		}
		if msg := err.Error(); msg != lastErr {
			log.Warn("consumer group: cannot join yet, retrying", zap.Error(err))
			lastErr = msg
		}
	}
}

// ResolveOffset turns kafka.FirstOffset or kafka.LastOffset into the
// partition's current first or end offset, asking its leader.
func ResolveOffset(ctx context.Context, d *kafka.Dialer, brokers []string, topic string, partition int, rel int64) (int64, error) {
	var last error
	for _, b := range brokers {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := d.DialLeader(dctx, "tcp", b, topic, partition)
		cancel()
		if err != nil {
			last = err
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		var off int64
		if rel == kafka.FirstOffset {
			off, err = conn.ReadFirstOffset()
		} else {
			off, err = conn.ReadLastOffset()
		}
		conn.Close()
		if err == nil {
			return off, nil
		}
		last = err
	}
	return 0, fmt.Errorf("resolve start offset of %s/%d: %w", topic, partition, last)
}

// TooLarge reports whether a write failed because the record exceeds what
// the broker or the writer accepts: retrying the same record cannot help.
func TooLarge(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && TooLarge(e) {
				return true
			}
		}
		return false
	}
	var mt kafka.MessageTooLargeError
	return errors.As(err, &mt) || errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge)
}
