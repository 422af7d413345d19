package worker

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/events/field"
	"github.com/regnotify/regnotify/events/formats"
	"github.com/regnotify/regnotify/gigya"
)

// Site is one Gigya site the worker notifies: its own client (connection
// pool, credentials), budget and health state.
type Site struct {
	// Name is the site's name (^[a-z0-9][a-z0-9-]{0,62}$): the `site` label
	// of the metrics and the regnotify.site header of its dead letters.
	Name string
	// APIKey is the site's API key; a siteFrom value may name the site or
	// its API key.
	APIKey string
	// Gigya is the site's own client. It may also implement
	// interface{ UseAPIDomain(domain string) error } to follow a 301001
	// answer (wrong data center) to the apiDomain it names.
	Gigya Gigya
	// RateLimit is the group-wide calls per second for this site; 0 = none.
	RateLimit float64
	// Quota optionally names a budget in Config.Quotas that the sites
	// naming it share as well.
	Quota string
}

// SiteFrom routes each record of a topic to the site a header or a field
// of the record names (its value is a site name or API key). Exactly one
// of Header and Field is set.
type SiteFrom struct {
	Header string // a Kafka header name
	Field  string // a JSON Pointer (RFC 6901) into the record's JSON value
}

// Topic is a consumed topic's routing, format and lane.
type Topic struct {
	Site     string          // the fixed site of every record, or
	SiteFrom SiteFrom        // the per-record site
	Lane     string          // "live" (default) or "bulk"
	Decoder  formats.Decoder // nil = the strict regnotify format (events.Decode)
}

// The lanes of a topic.
const (
	LaneLive = "live"
	LaneBulk = "bulk"
)

// DefaultSite is the name of the one site New makes when Config.Sites is
// empty.
const DefaultSite = "default"

// defaultSiteProbeInterval is Config.SiteProbeInterval's default.
const defaultSiteProbeInterval = 30 * time.Second

// siteNameRE is what a site name must match.
var siteNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// site is one Site at run time.
type site struct {
	name      string
	apiKey    string
	gigya     Gigya
	rateLimit float64
	health    *health
	inflight  atomic.Int64 // events routed here, taken and not yet ended
	parked    atomic.Int64 // of them, waiting at the gate without a slot

	domainMu sync.Mutex
	followed map[string]bool // apiDomains followed after 301001
	current  string          // the apiDomain followed last
}

// apiDomainUser is implemented by a Gigya client that can follow a 301001
// answer to another data center (*gigya.Client).
type apiDomainUser interface {
	UseAPIDomain(domain string) error
}

// route is where a topic's records go and how they are decoded.
type route struct {
	site    *site // fixed; nil with header or field
	header  string
	field   *formats.Pointer
	decoder formats.Decoder // nil = events.Decode
	lane    string
}

// validateSites checks the sites and topic routing of c (defaults set).
func (c Config) validateSites() error {
	names := make(map[string]bool)
	for i, s := range c.Sites {
		switch {
		case !siteNameRE.MatchString(s.Name):
			return field.Errorf("Config", "Sites", "[%d]: name %q: want ^[a-z0-9][a-z0-9-]{0,62}$", i, s.Name)
		case names[s.Name]:
			return field.Errorf("Config", "Sites", "duplicate site %q", s.Name)
		case s.Gigya == nil:
			return field.Errorf("Config", "Sites", "site %q: no Gigya client", s.Name)
		case s.RateLimit < 0:
			return field.Errorf("Config", "Sites", "site %q: rate limit %v: want 0 (none) or more", s.Name, s.RateLimit)
		case s.Quota != "" && c.Quotas[s.Quota] == 0:
			return field.Errorf("Config", "Sites", "site %q: unknown quota %q", s.Name, s.Quota)
		}
		names[s.Name] = true
	}
	consumed := c.consumedTopics()
	for name, t := range c.TopicConfig {
		if !slices.Contains(consumed, name) {
			return field.Errorf("Config", "TopicConfig", "topic %q is not consumed (not in Topics or BulkTopics)", name)
		}
		set := 0
		for _, on := range []bool{t.Site != "", t.SiteFrom.Header != "", t.SiteFrom.Field != ""} {
			if on {
				set++
			}
		}
		switch {
		case set > 1:
			return field.Errorf("Config", "TopicConfig", "topic %q: set one of site, siteFrom header, siteFrom field", name)
		case t.Site != "" && !names[t.Site] && (len(c.Sites) > 0 || t.Site != DefaultSite):
			return field.Errorf("Config", "TopicConfig", "topic %q: unknown site %q", name, t.Site)
		case t.Lane != "" && t.Lane != LaneLive && t.Lane != LaneBulk:
			return field.Errorf("Config", "TopicConfig", "topic %q: lane %q: want live or bulk", name, t.Lane)
		}
		if t.SiteFrom.Field != "" {
			if _, err := formats.ParsePointer(t.SiteFrom.Field); err != nil {
				return field.Errorf("Config", "TopicConfig", "topic %q: siteFrom field %q: %v", name, t.SiteFrom.Field, err)
			}
		}
	}
	if len(c.Sites) > 1 {
		for _, name := range consumed {
			if t, ok := c.TopicConfig[name]; !ok || t.Site == "" && t.SiteFrom == (SiteFrom{}) {
				return field.Errorf("Config", "TopicConfig", "topic %q: several sites, but no site or siteFrom for it", name)
			}
		}
	}
	return nil
}

// consumedTopics are Topics and BulkTopics.
func (c Config) consumedTopics() []string {
	out := slices.Clone(c.Topics)
	for _, t := range c.BulkTopics {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// newSites makes the run-time sites and routes of cfg (validated), with g
// as the one site "default" when cfg.Sites is empty.
func (w *Worker) newSites(g Gigya) {
	sites := w.cfg.Sites
	if len(sites) == 0 {
		sites = []Site{{Name: DefaultSite, Gigya: g, RateLimit: w.cfg.RateLimit}}
	}
	w.siteByKey = make(map[string]*site)
	for _, s := range sites {
		st := &site{name: s.Name, apiKey: s.APIKey, gigya: s.Gigya, rateLimit: s.RateLimit, followed: make(map[string]bool)}
		st.health = newHealth(w.cfg.OutageThreshold, w.cfg.OutageMinUsers, w.cfg.Now, func(from, to string, code int) {
			w.siteStateChanged(st, from, to, code)
		})
		for _, state := range siteStates {
			w.metrics.siteState.WithLabelValues(st.name, state).Set(b2f(state == StateOK))
		}
		w.sites = append(w.sites, st)
		w.siteByKey[s.Name] = st
		if s.APIKey != "" {
			if _, taken := w.siteByKey[s.APIKey]; !taken {
				w.siteByKey[s.APIKey] = st
			}
		}
	}
	w.routes = make(map[string]*route)
	for _, name := range w.cfg.consumedTopics() {
		t := w.cfg.TopicConfig[name]
		r := &route{header: t.SiteFrom.Header, decoder: t.Decoder, lane: t.Lane}
		if r.lane == "" {
			r.lane = LaneLive
			if slices.Contains(w.cfg.BulkTopics, name) {
				r.lane = LaneBulk
			}
		}
		switch {
		case t.Site != "":
			r.site = w.siteByKey[t.Site]
			if r.site == nil { // the default site, named by a topic
				r.site = w.sites[0]
			}
		case t.SiteFrom.Field != "":
			p, _ := formats.ParsePointer(t.SiteFrom.Field) // validated
			r.field = &p
		case t.SiteFrom.Header == "":
			r.site = w.sites[0]
		}
		w.routes[name] = r
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// siteStateChanged updates the metrics and logs a site's state change:
// one line per change, an error naming the code and the setting to check
// when the site is misconfigured.
func (w *Worker) siteStateChanged(s *site, from, to string, code int) {
	for _, state := range siteStates {
		w.metrics.siteState.WithLabelValues(s.name, state).Set(b2f(state == to))
	}
	if (from == StateMisconfigured) != (to == StateMisconfigured) {
		if to == StateMisconfigured {
			w.misconfigured.Add(1)
		} else {
			w.misconfigured.Add(-1)
		}
	}
	if (from == StateOutage) != (to == StateOutage) {
		n := w.outages.Add(map[bool]int64{true: 1, false: -1}[to == StateOutage])
		w.metrics.outage.Set(b2f(n > 0))
	}
	log := w.log.With(zap.String("site", s.name), zap.String("from", from), zap.String("state", to))
	switch to {
	case StateMisconfigured:
		setting := gigya.CodeSetting(code)
		if setting == "" {
			setting = "the site's configuration"
		}
		log.Error(fmt.Sprintf("Gigya site misconfigured: errorCode %d; check %s. Its events wait (no dead letters); probing every %v",
			code, setting, w.cfg.SiteProbeInterval), zap.Int("code", code), zap.String("check", setting))
	case StateOutage:
		log.Warn("Gigya outage for the site: its events wait, probing until it answers")
	case StatePaused:
		log.Warn("site paused by an operator: its events wait")
	case StateOK:
		log.Info("site ok again: resuming its events")
	}
}

// siteOf returns the site named by name or API key, or nil.
func (w *Worker) siteOf(nameOrKey string) *site { return w.siteByKey[nameOrKey] }

// routeOf returns the site of m, or an error naming why it has none.
func (w *Worker) routeOf(m kafka.Message, r *route) (*site, error) {
	switch {
	case r == nil:
		return nil, fmt.Errorf("invalid event: topic %q is not consumed", m.Topic)
	case r.site != nil:
		return r.site, nil
	case r.header != "":
		v, ok := header(m.Headers, r.header)
		if !ok {
			return nil, fmt.Errorf("invalid event: no header %q (siteFrom) naming the site", r.header)
		}
		if s := w.siteOf(v); s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("invalid event: header %q (siteFrom) is %q: no configured site has that name or apiKey", r.header, excerpt(v))
	default:
		var doc any
		if err := json.Unmarshal(m.Value, &doc); err != nil {
			return nil, fmt.Errorf("invalid event: field %s (siteFrom): the record value is not JSON", r.field)
		}
		raw, ok := r.field.Lookup(doc)
		if !ok {
			return nil, fmt.Errorf("invalid event: field %s (siteFrom) is missing", r.field)
		}
		v, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("invalid event: field %s (siteFrom) is not a string", r.field)
		}
		if s := w.siteOf(v); s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("invalid event: field %s (siteFrom) is %q: no configured site has that name or apiKey", r.field, excerpt(v))
	}
}

func header(hs []kafka.Header, key string) (string, bool) {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// excerpt bounds a record's value quoted in an error.
func excerpt(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
