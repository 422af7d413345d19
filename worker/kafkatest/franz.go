package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// adminTimeout bounds one admin request of the helpers below.
const adminTimeout = 30 * time.Second

// Client returns a franz-go client of c, closed when the test ends: a
// producer and admin client independent of kafka-go. Its records go to the
// partition they name (manual partitioner); opts are added after that.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// DeleteRecordsBefore deletes partition 0's records of topic below offset,
// as retention does (DeleteRecords), and fails the test unless the
// partition's low watermark is then offset.
func DeleteRecordsBefore(t testing.TB, cl *kgo.Client, topic string, offset int64) {
	t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = 0, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp := request(t, cl, req).(*kmsg.DeleteRecordsResponse)
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				t.Fatalf("delete records of %s/%d: %v", tp.Topic, p.Partition, err)
			}
			if p.LowWatermark != offset {
				t.Fatalf("low watermark of %s/%d after delete = %d; want %d", tp.Topic, p.Partition, p.LowWatermark, offset)
			}
		}
	}
}

// DeleteTopic deletes topic (DeleteTopics) and fails the test if the
// broker refuses.
func DeleteTopic(t testing.TB, cl *kgo.Client, topic string) {
	t.Helper()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TopicNames = []string{topic}
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp := request(t, cl, req).(*kmsg.DeleteTopicsResponse)
	for _, tp := range resp.Topics {
		if err := kerr.ErrorForCode(tp.ErrorCode); err != nil {
			t.Fatalf("delete topic %s: %v", topic, err)
		}
	}
}

// request sends req through cl, waiting at most adminTimeout, and fails the
// test if there is no response.
func request(t testing.TB, cl *kgo.Client, req kmsg.Request) kmsg.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
