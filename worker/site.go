package worker

import (
	"time"

	"github.com/regnotify/regnotify/events/formats"
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
