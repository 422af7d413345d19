package worker

import (
	"math"
	"slices"
	"testing"
)

// Which topics feed which budget: a site's own topics, per-record topics
// (siteFrom) for every site, a single site's unrouted topics; a quota is fed
// by the topics of every site naming it. The shares follow.
func TestBudgetsFedByTopics(t *testing.T) {
	g := gigyaFunc{}
	cfg := Config{
		Concurrency: 8,
		Topics:      []string{"a", "b", "c"},
		BulkTopics:  []string{"bulk"},
		Sites: []Site{
			{Name: "one", Gigya: g, RateLimit: 100, Quota: "partner"},
			{Name: "two", Gigya: g, RateLimit: 0, Quota: "partner"},
			{Name: "three", Gigya: g, RateLimit: 30},
		},
		Quotas: map[string]float64{"partner": 50},
		TopicConfig: map[string]Topic{
			"a":    {Site: "one"},
			"b":    {Site: "two"},
			"c":    {SiteFrom: SiteFrom{Header: "brand"}},
			"bulk": {Site: "three", Lane: LaneBulk},
		},
	}
	b, err := newBudgets(cfg)
	if err != nil {
		t.Fatal(err)
	}
	feeds := map[string][]string{}
	for _, fg := range b.govs {
		ts := slices.Clone(fg.topics)
		slices.Sort(ts)
		feeds[fg.name] = slices.Compact(ts)
	}
	want := map[string][]string{
		"site one":      {"a", "c"},
		"site three":    {"bulk", "c"},
		"quota partner": {"a", "b", "c"},
	}
	for name, ts := range want {
		if !slices.Equal(feeds[name], ts) {
			t.Errorf("%s fed by %v, want %v", name, feeds[name], ts)
		}
	}
	if _, ok := feeds["site two"]; ok {
		t.Errorf("site two has no rate limit but got a governor")
	}
	if n := len(b.sites["one"].govs); n != 2 {
		t.Errorf("site one waits for %d budgets, want 2 (its own and the quota's)", n)
	}
	if n := len(b.sites["two"].govs); n != 1 {
		t.Errorf("site two waits for %d budgets, want 1 (the quota's)", n)
	}
	// This member owns 2 of a's 4 partitions, all of b's 2, none of c's 2,
	// and 1 of bulk's 4.
	shares := b.setShares(map[string]int{"a": 2, "b": 2, "bulk": 1}, map[string]int{"a": 4, "b": 2, "c": 2, "bulk": 4})
	wantShares := map[string]float64{"site one": 2.0 / 6, "site three": 1.0 / 6, "quota partner": 4.0 / 8}
	for name, f := range wantShares {
		if math.Abs(shares[name]-f) > 1e-12 {
			t.Errorf("share of %s = %v, want %v", name, shares[name], f)
		}
	}
	if got, want := b.rate("one"), 50*4.0/8; math.Abs(got-want) > 1e-9 {
		t.Errorf("rate of site one = %v, want %v (the quota's share, lower than its own 33.3)", got, want)
	}
	if got, want := b.rate("three"), 30*1.0/6; math.Abs(got-want) > 1e-9 {
		t.Errorf("rate of site three = %v, want its share %v", got, want)
	}
	if got, want := b.rate("two"), 50*4.0/8; math.Abs(got-want) > 1e-9 {
		t.Errorf("rate of site two = %v, want the quota's share %v", got, want)
	}
	if n, bulk := b.slots.Limits(); n != 8 || bulk != 4 {
		t.Errorf("slots %d, bulk %d; want 8 and half of them", n, bulk)
	}
}

// Without sites, the one site "default" has RateLimit and is fed by every
// consumed topic, live and bulk; a governor starts at a share of zero until
// the first generation.
func TestBudgetsDefaultSite(t *testing.T) {
	b, err := newBudgets(Config{Concurrency: 4, BulkConcurrency: 1, Topics: []string{"x"}, BulkTopics: []string{"y", "x"}, RateLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.govs) != 1 || !slices.Equal(b.govs[0].topics, []string{"x", "y"}) {
		t.Fatalf("governors %v, want one fed by x and y", b.govs)
	}
	if got := b.rate(DefaultSite); got != 0 {
		t.Errorf("rate before any generation = %v, want 0", got)
	}
	b.setShares(map[string]int{"x": 4, "y": 4}, map[string]int{"x": 4, "y": 4})
	if got := b.rate(DefaultSite); got != 10 {
		t.Errorf("rate of the lone member = %v, want 10", got)
	}
	if _, bulk := b.slots.Limits(); bulk != 1 {
		t.Errorf("bulk slots %d, want BulkConcurrency 1", bulk)
	}
}
