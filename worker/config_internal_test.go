package worker

import (
	"slices"
	"testing"
)

// A configuration whose every topic is in the bulk lane consumes just those:
// the default live topics fill in only when no topic is given at all.
func TestDefaultTopicsOnlyWithoutAnyTopic(t *testing.T) {
	for _, tc := range []struct {
		name        string
		topics      []string
		bulk        []string
		wantLive    []string
		wantBulkLen int
	}{
		{"nothing", nil, nil, []string{"user.registered", "account.linked"}, 0},
		{"bulk only", nil, []string{"bulk.account.linked"}, nil, 1},
		{"live given", []string{"a.user.registered"}, []string{"bulk.account.linked"}, []string{"a.user.registered"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Topics: tc.topics, BulkTopics: tc.bulk}
			c.setDefaults()
			if !slices.Equal(c.Topics, tc.wantLive) || len(c.BulkTopics) != tc.wantBulkLen {
				t.Errorf("Topics = %v, BulkTopics = %v; want %v and %d bulk", c.Topics, c.BulkTopics, tc.wantLive, tc.wantBulkLen)
			}
		})
	}
}
