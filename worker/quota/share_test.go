package quota_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/worker/quota"
)

func TestShare(t *testing.T) {
	parts := map[string]int{"user.registered": 8, "account.linked": 8, "bulk.account.linked": 4}
	tests := []struct {
		name     string
		topics   []string
		assigned map[string]int
		want     float64
	}{
		{"all of it", []string{"user.registered", "account.linked"}, map[string]int{"user.registered": 8, "account.linked": 8}, 1},
		{"a quarter", []string{"user.registered", "account.linked"}, map[string]int{"user.registered": 2, "account.linked": 2}, 0.25},
		{"uneven topics", []string{"user.registered", "bulk.account.linked"}, map[string]int{"bulk.account.linked": 3}, 3.0 / 12},
		{"a topic of another budget does not count", []string{"account.linked"}, map[string]int{"user.registered": 8, "account.linked": 4}, 0.5},
		{"a topic listed twice counts once", []string{"account.linked", "account.linked"}, map[string]int{"account.linked": 2}, 0.25},
		{"a topic that does not exist yet", []string{"brand-b.user.registered"}, map[string]int{}, 0},
		{"nothing assigned", []string{"user.registered"}, nil, 0},
		{"more assigned than exist is capped", []string{"bulk.account.linked"}, map[string]int{"bulk.account.linked": 9}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quota.Share(tt.topics, tt.assigned, parts); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("Share(%v, %v) = %v, want %v", tt.topics, tt.assigned, got, tt.want)
			}
		})
	}
}

// generation assigns the partitions to members with kafka-go's own group
// balancer and returns each member's assignment shaped as
// kafka.Generation.Assignments.
func generation(bal kafka.GroupBalancer, members int, topics []string, parts map[string]int) []map[string][]kafka.PartitionAssignment {
	var ms []kafka.GroupMember
	for i := range members {
		ms = append(ms, kafka.GroupMember{ID: fmt.Sprintf("member-%d", i), Topics: topics})
	}
	var ps []kafka.Partition
	for _, tp := range topics {
		for id := range parts[tp] {
			ps = append(ps, kafka.Partition{Topic: tp, ID: id})
		}
	}
	got := bal.AssignGroups(ms, ps)
	out := make([]map[string][]kafka.PartitionAssignment, members)
	for i, m := range ms {
		out[i] = map[string][]kafka.PartitionAssignment{}
		for tp, ids := range got[m.ID] {
			for _, id := range ids {
				out[i][tp] = append(out[i][tp], kafka.PartitionAssignment{ID: id, Offset: kafka.FirstOffset})
			}
		}
	}
	return out
}

// TestSharesFollowMembership: at each generation (2 → 3 → 1 members) the
// members' shares, computed from their assignments, add up to the budget,
// and none is above what its partitions justify.
func TestSharesFollowMembership(t *testing.T) {
	const budget = 200.0
	topics := []string{"user.registered", "account.linked", "bulk.account.linked"}
	parts := map[string]int{"user.registered": 8, "account.linked": 8, "bulk.account.linked": 3}
	feeds := []string{"user.registered", "account.linked", "bulk.account.linked"}
	for _, bal := range []kafka.GroupBalancer{kafka.RangeGroupBalancer{}, kafka.RoundRobinGroupBalancer{}} {
		govs := map[int]*quota.Governor{}
		for _, members := range []int{2, 3, 1} {
			t.Run(fmt.Sprintf("%s/%d members", bal.ProtocolName(), members), func(t *testing.T) {
				var sum float64
				for i, a := range generation(bal, members, topics, parts) {
					if govs[i] == nil {
						g, err := quota.New(quota.Config{Budget: budget})
						if err != nil {
							t.Fatal(err)
						}
						govs[i] = g
					}
					assigned := quota.AssignedPartitions(a)
					f := quota.Share(feeds, assigned, parts)
					govs[i].SetShare(f)
					n := 0
					for _, tp := range feeds {
						n += len(a[tp])
					}
					if want := float64(n) / 19; math.Abs(f-want) > 1e-12 {
						t.Errorf("member %d: share %v, want %d/19 = %v", i, f, n, want)
					}
					if got := govs[i].Rate(); math.Abs(got-budget*f) > 1e-9 {
						t.Errorf("member %d: rate %v, want its share %v", i, got, budget*f)
					}
					sum += govs[i].Share()
				}
				if math.Abs(sum-budget) > 1e-9 {
					t.Errorf("shares add up to %v calls/s, want the budget %v", sum, budget)
				}
			})
		}
	}
}

func TestAssignedPartitions(t *testing.T) {
	got := quota.AssignedPartitions(map[string][]kafka.PartitionAssignment{
		"a": {{ID: 0}, {ID: 3}}, "b": {{ID: 1}}, "c": nil,
	})
	want := map[string]int{"a": 2, "b": 1, "c": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("AssignedPartitions = %v, want %v", got, want)
	}
}
