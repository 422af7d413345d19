package quota

import "github.com/segmentio/kafka-go"

// Share returns this member's fraction (0 to 1) of a budget fed by topics:
// the partitions of those topics assigned to this member divided by all
// partitions of those topics. assigned maps a topic to the number of its
// partitions assigned to this member (see [AssignedPartitions]); partitions
// maps a topic to its partition count. A topic listed twice counts once; a
// topic missing from partitions (not created yet) counts as none. With no
// partitions at all the share is 0.
//
// Because the group coordinator assigns each partition to exactly one
// member, the shares of all members of one generation add up to at most 1.
func Share(topics []string, assigned, partitions map[string]int) float64 {
	seen := make(map[string]bool, len(topics))
	var mine, all int
	for _, t := range topics {
		if seen[t] {
			continue
		}
		seen[t] = true
		n := max(partitions[t], 0)
		all += n
		mine += min(max(assigned[t], 0), n)
	}
	if all == 0 {
		return 0
	}
	return float64(mine) / float64(all)
}

// AssignedPartitions counts this member's partitions per topic in a
// kafka-go generation's assignment (kafka.Generation.Assignments).
func AssignedPartitions(assignments map[string][]kafka.PartitionAssignment) map[string]int {
	out := make(map[string]int, len(assignments))
	for t, ps := range assignments {
		out[t] = len(ps)
	}
	return out
}
