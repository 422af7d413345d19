package worker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/worker/kafkaread"
	"github.com/regnotify/regnotify/worker/quota"
	"github.com/regnotify/regnotify/worker/tracing"
)

// budgets are the worker's Gigya call budgets (contract: "Quota and
// lanes"): one quota.Governor per site with a rate limit and one per named
// quota, each paced at this worker's share of the group-wide budget, and the
// concurrency slots with their live and bulk lanes.
//
// A site's events take a token from the site's governor and, when the site
// names a quota, from the quota's too. The shares are recomputed at every
// consumer-group generation from the assignment and the partition counts of
// the topics that feed each budget (quota.Share): see quota's package doc for
// why partition share, and its failure modes.
type budgets struct {
	slots *quota.Slots
	sites map[string]*siteBudget
	// govs are the limited governors, each with the topics feeding it.
	govs []*fedGovernor
}

// siteBudget is what one site's calls wait for.
type siteBudget struct {
	name string
	govs []*quota.Governor // the site's own, then its quota's; limited ones only
}

// fedGovernor is a governor and the topics whose partitions decide its share.
type fedGovernor struct {
	name   string // "site <name>" or "quota <name>", for logs
	gov    *quota.Governor
	topics []string
}

// budgetSite is one site as the budgets see it.
type budgetSite struct {
	name      string
	rateLimit float64
	quota     string   // "" = none
	topics    []string // consumed topics whose events may go to the site
}

// budgetSites lists the sites of cfg with the consumed topics that feed
// each: a topic routed to the site, a topic routed per record (siteFrom,
// which may reach every site), and with a single site every topic without a
// route. Without Config.Sites there is one site, DefaultSite, with
// Config.RateLimit, fed by every consumed topic.
func budgetSites(cfg Config) []budgetSite {
	consumed := cfg.consumedTopics()
	if len(cfg.Sites) == 0 {
		return []budgetSite{{name: DefaultSite, rateLimit: cfg.RateLimit, topics: consumed}}
	}
	out := make([]budgetSite, 0, len(cfg.Sites))
	for _, s := range cfg.Sites {
		bs := budgetSite{name: s.Name, rateLimit: s.RateLimit, quota: s.Quota}
		for _, t := range consumed {
			tc := cfg.TopicConfig[t]
			perRecord := tc.SiteFrom != (SiteFrom{})
			if tc.Site == s.Name || perRecord || (tc.Site == "" && len(cfg.Sites) == 1) {
				bs.topics = append(bs.topics, t)
			}
		}
		out = append(out, bs)
	}
	return out
}

// bulkConcurrency is the most slots bulk events may hold: BulkConcurrency,
// by default half of Concurrency.
func bulkConcurrency(cfg Config) int {
	if cfg.BulkConcurrency > 0 {
		return cfg.BulkConcurrency
	}
	return max(cfg.Concurrency/2, 1)
}

func newBudgets(cfg Config) (*budgets, error) {
	slots, err := quota.NewSlots(cfg.Concurrency, bulkConcurrency(cfg))
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	b := &budgets{slots: slots, sites: make(map[string]*siteBudget)}
	sites := budgetSites(cfg)
	quotas := make(map[string]*fedGovernor)
	for _, name := range slices.Sorted(maps.Keys(cfg.Quotas)) {
		g, err := newGovernor(cfg.Quotas[name])
		if err != nil {
			return nil, fmt.Errorf("worker: quota %q: %w", name, err)
		}
		if g != nil {
			quotas[name] = &fedGovernor{name: "quota " + name, gov: g}
		}
	}
	for _, s := range sites {
		sb := &siteBudget{name: s.name}
		g, err := newGovernor(s.rateLimit)
		if err != nil {
			return nil, fmt.Errorf("worker: site %q: %w", s.name, err)
		}
		if g != nil {
			sb.govs = append(sb.govs, g)
			b.govs = append(b.govs, &fedGovernor{name: "site " + s.name, gov: g, topics: s.topics})
		}
		if q := quotas[s.quota]; q != nil {
			sb.govs = append(sb.govs, q.gov)
			q.topics = append(q.topics, s.topics...) // Share counts a topic once
		}
		b.sites[s.name] = sb
	}
	for _, name := range slices.Sorted(maps.Keys(quotas)) {
		b.govs = append(b.govs, quotas[name])
	}
	return b, nil
}

// governorBurst is the governors' bucket size. A bucket of one call loses
// the time its timer fires late (a millisecond on a loaded machine is 7 %
// at 66 calls/s: regnotify-bench replicas-quota achieved 0.93 of the
// quota); two calls absorb that while keeping a group's bursts small (three
// members send at most six calls back to back).
const governorBurst = 2

// newGovernor returns a governor for a budget of limit calls/s, nil for no
// limit. It starts at a share of zero: until the worker's first generation
// it owns no partitions, and a member joining the group must not count as
// the whole budget meanwhile.
func newGovernor(limit float64) (*quota.Governor, error) {
	if limit == 0 {
		return nil, nil
	}
	g, err := quota.New(quota.Config{Budget: limit, Burst: governorBurst})
	if err != nil {
		return nil, err
	}
	g.SetShare(0)
	return g, nil
}

// permits are the tokens one Gigya call took, one per governor of its site.
type permits struct {
	site  *siteBudget
	taken [2]quota.Permit
}

// acquire waits for a token of every budget of site, live before bulk. The
// wait is a "quota" span of the event's trace.
func (b *budgets) acquire(ctx context.Context, site string, lane quota.Lane) (permits, error) {
	sb := b.sites[site]
	p := permits{site: sb}
	if sb == nil || len(sb.govs) == 0 {
		return p, nil
	}
	span := tracing.StartWait(ctx, "quota")
	defer span.End()
	for i, g := range sb.govs {
		t, err := g.Acquire(ctx, lane)
		if err != nil {
			return p, err
		}
		p.taken[i] = t
	}
	return p, nil
}

// rateLimited reports a 403048 answer to the call made with p: every budget
// of the site slows down (Gigya does not say whether the site's or the
// partner's quota was exceeded). It reports whether a budget took it, i.e.
// whether the next call is paced.
func (b *budgets) rateLimited(p permits) bool {
	if p.site == nil {
		return false
	}
	for i, g := range p.site.govs {
		g.RateLimited(p.taken[i])
	}
	return len(p.site.govs) > 0
}

// rate is the named site's current calls/s (regnotify_rate_limit); 0 for
// no limit or no such site.
func (b *budgets) rate(site string) float64 {
	if sb := b.sites[site]; sb != nil {
		return sb.rate()
	}
	return 0
}

// traceEvent starts j's event span (tracing on) as the record is fetched,
// described with what routing and decoding found: site, lane, eventId.
func (w *Worker) traceEvent(j *job) {
	if w.cfg.Tracing == nil {
		return
	}
	_, j.span = w.cfg.Tracing.StartEvent(context.Background(), &j.msg, w.cfg.Group)
	j.span.Describe(j.siteName(), j.lane().String(), j.ev.EventID)
}

// rate is the site's current calls/s: the lowest rate of its budgets, 0 when
// it has none.
func (sb *siteBudget) rate() float64 {
	r := 0.0
	for i, g := range sb.govs {
		if v := g.Rate(); i == 0 || v < r {
			r = v
		}
	}
	return r
}

// setShares gives every governor its share for this generation's
// assignment. partitions are the partition counts of the budgets' topics.
func (b *budgets) setShares(assigned, partitions map[string]int) map[string]float64 {
	out := make(map[string]float64, len(b.govs))
	for _, fg := range b.govs {
		f := quota.Share(fg.topics, assigned, partitions)
		fg.gov.SetShare(f)
		out[fg.name] = f
	}
	return out
}

// topics lists every topic that feeds a limited budget.
func (b *budgets) topics() []string {
	var ts []string
	for _, fg := range b.govs {
		ts = append(ts, fg.topics...)
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// shareMetadataWait bounds how long a generation waits for the partition
// counts of the budgets' topics before it keeps the previous shares.
const shareMetadataWait = 10 * time.Second

// updateShares recomputes the shares at the start of gen: this member's
// partitions of each budget's topics over all their partitions. known are
// the partition counts the group was built from (kafkaread.TopicState);
// when an assigned topic is missing there, they are read from metadata.
// Without partition counts (metadata failing for shareMetadataWait) the
// shares stay as they were, or become the whole budget at the first
// generation, so that events are not held for good.
func (w *Worker) updateShares(ctx context.Context, gen *kafka.Generation, known map[string]int) {
	topics := w.budgets.topics()
	if len(topics) == 0 {
		return
	}
	assigned := quota.AssignedPartitions(gen.Assignments)
	partitions, err := known, error(nil)
	for t := range assigned {
		if _, ok := known[t]; !ok && slices.Contains(topics, t) {
			partitions, err = w.partitionCounts(ctx, topics)
			break
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if w.sharesSet.Load() {
			w.log.Warn("cannot read partition counts; keeping the previous rate shares", zap.Error(err))
			return
		}
		w.log.Warn("cannot read partition counts; running at the whole budget until the next rebalance", zap.Error(err))
		partitions = assigned
	}
	w.sharesSet.Store(true)
	shares := w.budgets.setShares(assigned, partitions)
	fields := make([]zap.Field, 0, len(shares)+1)
	fields = append(fields, zap.Int32("generation", gen.ID))
	for _, name := range slices.Sorted(maps.Keys(shares)) {
		fields = append(fields, zap.Float64(name, shares[name]))
	}
	w.log.Info("rate shares set", fields...)
}

// partitionCounts reads the partition counts of topics from metadata (never
// creating a topic), retrying for up to shareMetadataWait.
func (w *Worker) partitionCounts(ctx context.Context, topics []string) (map[string]int, error) {
	tw, err := kafkaread.NewTopics(kafkaread.TopicsConfig{Brokers: w.cfg.Kafka.Brokers, Dialer: w.dialer, Topics: topics, Interval: time.Second})
	if err != nil {
		return nil, err
	}
	defer tw.Close()
	ctx, cancel := context.WithTimeout(ctx, shareMetadataWait)
	defer cancel()
	for {
		st, err := tw.Check(ctx)
		if err == nil {
			return st.Partitions, nil
		}
		if sleep(ctx, 500*time.Millisecond) != nil {
			return nil, fmt.Errorf("partition counts of %v: %w", topics, err)
		}
	}
}

// rateCollector is regnotify_rate_limit{site}: each site's current calls/s,
// read from its governors when scraped.
type rateCollector struct {
	desc *prometheus.Desc
	src  atomic.Pointer[budgets]
}

func newRateCollector() *rateCollector {
	return &rateCollector{desc: prometheus.NewDesc("regnotify_rate_limit",
		"This worker's current Gigya calls/s for the site: its share of the group-wide budget, lowered after 403048 (0 = no limit).",
		[]string{"site"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *rateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *rateCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.src.Load()
	if b == nil {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(b.sites)) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, b.sites[name].rate(), name)
	}
}
