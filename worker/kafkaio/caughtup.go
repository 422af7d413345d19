package kafkaio

import (
	"context"

	"github.com/segmentio/kafka-go"
)

// CaughtUp reports whether group's committed offsets reach the end of every
// partition of topics.
func CaughtUp(ctx context.Context, c *kafka.Client, group string, topics []string) (bool, error) {
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return false, err
	}
	ends := map[string][]kafka.OffsetRequest{}
	parts := map[string][]int{}
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			ends[t.Name] = append(ends[t.Name], kafka.LastOffsetOf(p.ID))
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
	}
	lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: ends})
	if err != nil {
		return false, err
	}
	of, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return false, err
	}
	committed := map[string]map[int]int64{}
	for t, ps := range of.Topics {
		committed[t] = map[int]int64{}
		for _, p := range ps {
			committed[t][p.Partition] = p.CommittedOffset
		}
	}
	for t, ps := range lo.Topics {
		for _, p := range ps {
			if p.LastOffset > 0 && committed[t][p.Partition] < p.LastOffset {
				return false, nil
			}
		}
	}
	return true, nil
}
