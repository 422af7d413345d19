// Package deadletter is the dead-letter record format of the contract: the
// regnotify.* header names, the error classes, building the record of a
// failed event, stubbing one the topic refuses as too large, and copying one
// back to its original topic for replay with the replay count.
//
// It is not a writer or a reader: the worker writes dead letters and replay
// reads them, both through kafkaio.
package deadletter

import (
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
	HeaderSite              = "regnotify.site"
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

// Failure is why an event is dead-lettered.
type Failure struct {
	Class    string
	Code     int // Gigya errorCode, 0 if none
	Message  string
	CallID   string
	Attempts int
	Site     string // the site the record was routed to; "" = none
}

// Record builds the dead-letter record of m: key, value and the original
// headers unchanged, plus the contract's headers. Headers of an earlier
// dead-lettering (a replayed record that failed again) are replaced, not
// repeated; the replay count is kept as it is.
func Record(m kafka.Message, f Failure, group string, now time.Time) kafka.Message {
	headers := make([]kafka.Header, 0, len(m.Headers)+12)
	for _, h := range m.Headers {
		if strings.HasPrefix(h.Key, "regnotify.") && h.Key != HeaderReplayCount {
			continue
		}
		headers = append(headers, h)
	}
	add := func(k, v string) { headers = append(headers, kafka.Header{Key: k, Value: []byte(v)}) }
	add(HeaderErrorClass, f.Class)
	if f.Code != 0 {
		add(HeaderErrorCode, strconv.Itoa(f.Code))
	}
	add(HeaderErrorMessage, f.Message)
	add(HeaderOriginalTopic, m.Topic)
	add(HeaderOriginalPartition, strconv.Itoa(m.Partition))
	add(HeaderOriginalOffset, strconv.FormatInt(m.Offset, 10))
	if !m.Time.IsZero() {
		add(HeaderOriginalTimestamp, m.Time.UTC().Format(time.RFC3339Nano))
	}
	add(HeaderConsumerGroup, group)
	if f.Site != "" {
		add(HeaderSite, f.Site)
	}
	add(HeaderAttempts, strconv.Itoa(f.Attempts))
	add(HeaderFailedAt, now.UTC().Format(time.RFC3339Nano))
	if f.CallID != "" {
		add(HeaderGigyaCallID, f.CallID)
	}
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: headers}
}

// Stub is the dead-letter record rec of orig without its value (level 1),
// or also without its key and the original headers (level 2), saying so in
// regnotify.value.dropped and in the error message.
func Stub(rec, orig kafka.Message, level int) kafka.Message {
	note := "value of " + strconv.Itoa(len(orig.Value)) + " bytes dropped: too large for the dead-letter topic"
	if level >= 2 {
		note = "value of " + strconv.Itoa(len(orig.Value)) + " bytes, key of " + strconv.Itoa(len(orig.Key)) +
			" bytes and original headers dropped: too large for the dead-letter topic"
	}
	out := kafka.Message{Key: rec.Key}
	if level >= 2 {
		out.Key = nil
	}
	for _, h := range rec.Headers {
		if level >= 2 && !strings.HasPrefix(h.Key, "regnotify.") {
			continue
		}
		if h.Key == HeaderErrorMessage {
			h = kafka.Header{Key: h.Key, Value: []byte(string(h.Value) + "; " + note)}
		}
		out.Headers = append(out.Headers, h)
	}
	out.Headers = append(out.Headers, kafka.Header{Key: HeaderValueDropped, Value: []byte(note)})
	return out
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

// ReplayCount returns regnotify.replay.count: 0 when absent.
func ReplayCount(h []kafka.Header) (int, error) {
	v, ok := Header(h, HeaderReplayCount)
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, &CountError{Value: v}
	}
	return n, nil
}

// CountError is a regnotify.replay.count header that is not a count.
type CountError struct{ Value string }

func (e *CountError) Error() string {
	return HeaderReplayCount + " header is not a count: " + strconv.Quote(e.Value)
}

// Copy returns the record replay sends back for the dead-letter record m:
// m's key and value, its topic the original topic, its headers those of m
// without the regnotify.error.* ones and with regnotify.replay.count one
// more (set once, replacing the old value). The other regnotify.* headers
// stay: they say where the copy came from, and a new dead-lettering
// replaces them.
func Copy(m kafka.Message) (kafka.Message, error) {
	n, err := ReplayCount(m.Headers)
	if err != nil {
		return kafka.Message{}, err
	}
	topic, _ := Header(m.Headers, HeaderOriginalTopic)
	headers := make([]kafka.Header, 0, len(m.Headers))
	for _, h := range m.Headers {
		if strings.HasPrefix(h.Key, HeaderErrorPrefix) || h.Key == HeaderReplayCount {
			continue
		}
		headers = append(headers, h)
	}
	headers = append(headers, kafka.Header{Key: HeaderReplayCount, Value: []byte(strconv.Itoa(n + 1))})
	return kafka.Message{Topic: topic, Key: m.Key, Value: m.Value, Headers: headers}, nil
}
