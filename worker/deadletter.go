package worker

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Dead-letter error classes: the values of the regnotify.error.class header.
const (
	ClassInvalidEvent     = "invalid_event"
	ClassRejected         = "rejected"
	ClassRetriesExhausted = "retries_exhausted"
)

// Header names of a dead-letter record (contract: "Dead-letter records").
const (
	HeaderErrorClass        = "regnotify.error.class"
	HeaderErrorCode         = "regnotify.error.code"
	HeaderErrorMessage      = "regnotify.error.message"
	HeaderOriginalTopic     = "regnotify.original.topic"
	HeaderOriginalPartition = "regnotify.original.partition"
	HeaderOriginalOffset    = "regnotify.original.offset"
	HeaderOriginalTimestamp = "regnotify.original.timestamp"
	HeaderConsumerGroup     = "regnotify.consumer.group"
	HeaderAttempts          = "regnotify.attempts"
	HeaderFailedAt          = "regnotify.failed.at"
	HeaderGigyaCallID       = "regnotify.gigya.call_id"
	HeaderReplayCount       = "regnotify.replay.count"
	// HeaderValueDropped is set (beyond the contract) on the rare dead
	// letter whose record the topic refused as too large: it says what was
	// left out.
	HeaderValueDropped = "regnotify.value.dropped"
)

// HeaderErrorPrefix starts every header that describes a failure; replay
// drops these.
const HeaderErrorPrefix = "regnotify.error."

// failure is why an event is dead-lettered.
type failure struct {
	class    string
	code     int // Gigya errorCode, 0 if none
	message  string
	callID   string
	attempts int
}

// deadLetterRecord builds the dead-letter record of m: key, value and the
// original headers unchanged, plus the contract's headers. Headers of an
// earlier dead-lettering (a replayed record that failed again) are replaced,
// not repeated; the replay count is kept as it is.
func deadLetterRecord(m kafka.Message, f failure, group string, now time.Time) kafka.Message {
	headers := make([]kafka.Header, 0, len(m.Headers)+12)
	for _, h := range m.Headers {
		if strings.HasPrefix(h.Key, "regnotify.") && h.Key != HeaderReplayCount {
			continue
		}
		headers = append(headers, h)
	}
	add := func(k, v string) { headers = append(headers, kafka.Header{Key: k, Value: []byte(v)}) }
	add(HeaderErrorClass, f.class)
	if f.code != 0 {
		add(HeaderErrorCode, strconv.Itoa(f.code))
	}
	add(HeaderErrorMessage, f.message)
	add(HeaderOriginalTopic, m.Topic)
	add(HeaderOriginalPartition, strconv.Itoa(m.Partition))
	add(HeaderOriginalOffset, strconv.FormatInt(m.Offset, 10))
	if !m.Time.IsZero() {
		add(HeaderOriginalTimestamp, m.Time.UTC().Format(time.RFC3339Nano))
	}
	add(HeaderConsumerGroup, group)
	add(HeaderAttempts, strconv.Itoa(f.attempts))
	add(HeaderFailedAt, now.UTC().Format(time.RFC3339Nano))
	if f.callID != "" {
		add(HeaderGigyaCallID, f.callID)
	}
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: headers}
}

// Header returns the value of the last header named key, and whether there
// is one.
func Header(headers []kafka.Header, key string) (string, bool) {
	for i := len(headers) - 1; i >= 0; i-- {
		if headers[i].Key == key {
			return string(headers[i].Value), true
		}
	}
	return "", false
}

// MessageWriter is what the worker needs from a Kafka writer: a synchronous
// write that returns once the broker acknowledged (acks=all) or failed.
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// DeadLetterWriter writes dead letters: acks=all, synchronous, a short batch
// timeout so that a dead letter is not held back a second, the record key
// kept for partitioning.
type DeadLetterWriter struct {
	*kafka.Writer
	transport *kafka.Transport
}

// NewDeadLetterWriter returns the writer the contract asks for.
func NewDeadLetterWriter(k Kafka, topic string) (*DeadLetterWriter, error) {
	tr, err := k.Transport()
	if err != nil {
		return nil, err
	}
	return &DeadLetterWriter{transport: tr, Writer: &kafka.Writer{
		Addr:         kafka.TCP(k.Brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    100,
		BatchBytes:   16 << 20, // the broker's message.max.bytes is the real limit
		MaxAttempts:  3,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
		Transport:    tr,
	}}, nil
}

// Close flushes pending writes and closes the writer's connections.
func (d *DeadLetterWriter) Close() error {
	err := d.Writer.Close()
	d.transport.CloseIdleConnections()
	return err
}
