package gigyasim

import (
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultSiteName is the name of the site the single-site fields of Config
// (APIKey, UserKey, ...) define.
const DefaultSiteName = "default"

// Site is one Gigya site the simulator serves: its API key, credentials,
// data center, quota and initial faults. Several sites share one Server
// (Config.Sites); each has its own accounts, counters and faults.
type Site struct {
	// Name identifies the site in stats, faults and the call log; required,
	// unique.
	Name string
	// APIKey is the site's API key; required, unique across sites.
	APIKey string
	// UserKey is the application key (userKey, and the kid of bearer
	// tokens); required.
	UserKey string
	// Secret (base64) enables "secret" and "signed" authentication.
	Secret string
	// PublicKey enables "bearer" authentication.
	PublicKey *rsa.PublicKey
	// PartnerSecret (base64) verifies a UIDSig and signs getUserInfo's
	// UIDSignature. Default "": a call with a UIDSig gets 403003, one
	// without is accepted.
	PartnerSecret string
	// DataCenter is the name of the Config.DataCenters entry the site lives
	// in. A call for the site that arrives through another data center's
	// handler (Server.DataCenter) gets 301001 with apiDomain = that entry's
	// Domain. "" = the site answers everywhere.
	DataCenter string
	// Quota is the site's rate limit (token bucket); zero = none.
	Quota Quota
	// SharedQuota names a Config.SharedQuotas entry: one bucket for every
	// site naming it (a partner-wide limit), checked after Quota. "" = none.
	SharedQuota string
	// Faults are the site's initial faults; see Server.SetSiteFaults.
	Faults SiteFaults
}

// DataCenter is a Gigya data center of the simulator.
type DataCenter struct {
	// Name is what Site.DataCenter refers to, e.g. "us1"; required, unique.
	Name string
	// Domain is what a 301001 answer gives as apiDomain for the sites
	// living here: the host:port of the listener that serves this data
	// center's handler (the contract's baseURL case), or a real-looking
	// data center such as "eu1.gigya.com". Required.
	Domain string
}

// Quota is a token bucket: Rate calls per second, bursts of up to Burst.
// Calls above it get 403048 shaped like Gigya's. Rate 0 = no quota.
type Quota struct {
	// Rate is the refill rate in calls per second; 0 = no quota.
	Rate float64 `json:"rate"`
	// Burst is the bucket size; 0 = max(1, Rate/10). The bucket starts full.
	Burst int `json:"burst"`
}

// Validate reports a Quota out of range.
func (q Quota) Validate() error {
	switch {
	case q.Rate < 0 || math.IsNaN(q.Rate) || math.IsInf(q.Rate, 0):
		return errors.New("quota rate must be a finite number >= 0")
	case q.Burst < 0:
		return errors.New("quota burst must not be negative")
	}
	return nil
}

// burst is Burst with its default applied.
func (q Quota) burst() int {
	if q.Burst > 0 {
		return q.Burst
	}
	return max(1, int(q.Rate/10))
}

// Lost modes for SiteFaults.Lost: how the answer of an applied call is lost.
const (
	LostDrop    = "drop"   // the connection is closed without an answer (default)
	LostTimeout = "504002" // the answer is errorCode 504002 (timeout) although the call was applied
)

// SiteFaults are site-wide failures, for one site only. The zero value
// injects nothing. At most one of HTTPStatus, Outage and Code may be set.
type SiteFaults struct {
	// HTTPStatus (500..599, e.g. 502 or 503) answers every call of the site
	// with that HTTP status and an HTML body, as a load balancer in front
	// of Gigya does: no JSON, no errorCode.
	HTTPStatus int `json:"httpStatus"`
	// Outage is OutageNone, OutageError (500001) or OutageDrop, as
	// Faults.Outage but for this site only.
	Outage string `json:"outage"`
	// Code answers every call of the site with this errorCode: one of
	// 400093 (invalid apiKey), 403003 (invalid signature), 403006 (secret
	// over HTTP), 403007 (permission denied), 403010 (invalid secret),
	// 301001 (wrong data center, with APIDomain).
	Code int `json:"code"`
	// APIDomain is the apiDomain of a Code 301001 answer (ignored with
	// other codes); default the Domain of the site's data center (required
	// if it has none).
	APIDomain string `json:"apiDomain"`
	// LostRate (0..1) is the fraction of the site's successful
	// notifyRegistration calls whose answer is lost after the call was
	// applied (the registration or link is made). Deterministic: with 0.5,
	// every second such call.
	LostRate float64 `json:"lostRate"`
	// Lost is how the answer is lost: LostDrop (default) or LostTimeout.
	Lost string `json:"lost"`
}

// siteFaultCodes are the errorCodes SiteFaults.Code accepts.
var siteFaultCodes = map[int]bool{
	codeInvalidAPIKey: true, codeInvalidSignature: true, codeSecretOverHTTP: true,
	codePermissionDenied: true, codeInvalidSecret: true, codeWrongDataCenter: true,
}

// Validate reports the first field out of range.
func (f SiteFaults) Validate() error {
	set := 0
	for _, on := range []bool{f.HTTPStatus != 0, f.Outage != OutageNone && f.Outage != "none", f.Code != 0} {
		if on {
			set++
		}
	}
	switch {
	case set > 1:
		return errors.New("set at most one of httpStatus, outage and code")
	case f.HTTPStatus != 0 && (f.HTTPStatus < 500 || f.HTTPStatus > 599):
		return fmt.Errorf("httpStatus %d: want 500..599", f.HTTPStatus)
	case f.Code != 0 && !siteFaultCodes[f.Code]:
		return fmt.Errorf("code %d: want one of 400093, 403003, 403006, 403007, 403010, 301001", f.Code)
	case !(f.LostRate >= 0 && f.LostRate <= 1):
		return errors.New("lostRate must be between 0 and 1")
	}
	switch f.Lost {
	case "", LostDrop, LostTimeout:
	default:
		return fmt.Errorf("lost %q: want drop or 504002", f.Lost)
	}
	switch f.Outage {
	case OutageNone, "none", OutageError, OutageDrop:
		return nil
	}
	return fmt.Errorf("outage %q: want none, error or drop", f.Outage)
}

// normalized spells the defaults out: outage "none" as "", lost as LostDrop.
func (f SiteFaults) normalized() SiteFaults {
	if f.Outage == "none" {
		f.Outage = OutageNone
	}
	if f.Lost == "" {
		f.Lost = LostDrop
	}
	return f
}

// siteState is one site at run time.
type siteState struct {
	cfg      Site   // read-only
	domain   string // Domain of cfg.DataCenter; "" if none
	accounts *accountStore
	stats    *siteRecorder
	faults   atomic.Pointer[SiteFaults]
	limiter  atomic.Pointer[quotaState]
	shared   *quotaState   // nil: no shared quota; read-only after New
	lostSeq  atomic.Uint64 // successful notifyRegistration calls seen by LostRate
}

type quotaState struct {
	q       Quota
	limiter *rate.Limiter // nil: no quota
}

func newQuotaState(q Quota) *quotaState {
	st := &quotaState{q: q}
	if q.Rate > 0 {
		st.limiter = rate.NewLimiter(rate.Limit(q.Rate), q.burst())
	}
	return st
}

// loseAnswer reports whether this successful call's answer is to be lost:
// call n (1-based) is lost when floor(n·rate) > floor((n-1)·rate).
func (st *siteState) loseAnswer(f *SiteFaults) bool {
	if f.LostRate <= 0 {
		return false
	}
	n := float64(st.lostSeq.Add(1))
	return math.Floor(n*f.LostRate) > math.Floor((n-1)*f.LostRate)
}

// validateSite checks one site against the data centers; errors name the
// site and never quote a secret.
func validateSite(s Site, dcs map[string]string, shared map[string]Quota) error {
	switch {
	case s.Name == "":
		return errors.New("a site Name is required")
	case s.APIKey == "":
		return errors.New("APIKey is required")
	case s.UserKey == "":
		return errors.New("UserKey is required")
	case s.Secret == "" && s.PublicKey == nil:
		return errors.New("no authentication mode: set Secret and/or PublicKey")
	}
	if s.Secret != "" {
		if _, err := base64.StdEncoding.DecodeString(s.Secret); err != nil {
			return errors.New("the Secret is not valid base64")
		}
	}
	if s.PartnerSecret != "" {
		if _, err := base64.StdEncoding.DecodeString(s.PartnerSecret); err != nil {
			return errors.New("PartnerSecret is not valid base64")
		}
	}
	if _, ok := dcs[s.DataCenter]; s.DataCenter != "" && !ok {
		return fmt.Errorf("DataCenter %q is not in Config.DataCenters", s.DataCenter)
	}
	if err := s.Quota.Validate(); err != nil {
		return err
	}
	if _, ok := shared[s.SharedQuota]; s.SharedQuota != "" && !ok {
		return fmt.Errorf("SharedQuota %q is not in Config.SharedQuotas", s.SharedQuota)
	}
	if err := s.Faults.Validate(); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	if s.Faults.Code == codeWrongDataCenter && s.Faults.APIDomain == "" && dcs[s.DataCenter] == "" {
		return errors.New("faults: code 301001 needs apiDomain (the site has no data center)")
	}
	return nil
}

// SiteStats is one site's counters, in Stats.Sites and GET /_sim/stats?site=.
type SiteStats struct {
	// Calls counts the site's API calls: method → outcome → count, keys as
	// in Stats.Calls ("0", "403048", "dropped", "http_503", ...).
	Calls map[string]map[string]int `json:"calls"`
	// Total is the number of API calls for the site (every outcome).
	Total int `json:"total"`
	// OK is how many were answered errorCode 0 (lost answers excluded).
	OK int `json:"ok"`
	// RateLimited is how many got 403048 (site quota or Faults.RateLimit).
	RateLimited int `json:"rateLimited"`
	// Errors counts every other outcome by code, all methods together.
	Errors map[string]int `json:"errors"`
	// Lost is how many calls were applied but their answer lost
	// (SiteFaults.LostRate); they count under "dropped" or "504002" too.
	Lost int `json:"lost"`
	// CallsPerSecond is the site's calls received in the last RateWindow,
	// divided by it (on Config.Now, without ClockSkew).
	CallsPerSecond float64 `json:"callsPerSecond"`
	// RateWindow is the window of CallsPerSecond, e.g. "5s".
	RateWindow string `json:"rateWindow"`
	// Linked, Registered and Accounts are as in Stats, for this site.
	Linked     int `json:"linked"`
	Registered int `json:"registered"`
	Accounts   int `json:"accounts"`
	// Quota is the site's current quota.
	Quota Quota `json:"quota"`
}

// RateWindow is the window of SiteStats.CallsPerSecond.
const RateWindow = 5 * time.Second

const (
	rateBucket  = 100 * time.Millisecond
	rateBuckets = int(RateWindow / rateBucket)
)

// siteRecorder counts one site's calls by method and outcome and keeps a
// ring of 100 ms buckets for the recent rate.
type siteRecorder struct {
	mu      sync.Mutex
	counts  map[statKey]int
	lost    int
	buckets [rateBuckets]struct {
		slot int64
		n    int
	}
}

func newSiteRecorder() *siteRecorder { return &siteRecorder{counts: make(map[statKey]int)} }

func (r *siteRecorder) add(method string, code int, lost bool, now time.Time) {
	slot := now.UnixNano() / int64(rateBucket)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[statKey{method, code}]++
	if lost {
		r.lost++
	}
	b := &r.buckets[int(slot%int64(rateBuckets)+int64(rateBuckets))%rateBuckets]
	if b.slot != slot {
		b.slot, b.n = slot, 0
	}
	b.n++
}

func (r *siteRecorder) snapshot(now time.Time) SiteStats {
	cur := now.UnixNano() / int64(rateBucket)
	r.mu.Lock()
	defer r.mu.Unlock()
	st := SiteStats{Calls: map[string]map[string]int{}, Errors: map[string]int{}, Lost: r.lost, RateWindow: RateWindow.String()}
	for k, n := range r.counts {
		m := st.Calls[k.method]
		if m == nil {
			m = make(map[string]int)
			st.Calls[k.method] = m
		}
		m[codeText(k.code)] += n
		st.Total += n
		switch k.code {
		case codeOK:
			st.OK += n
		case codeRateLimited:
			st.RateLimited += n
		default:
			st.Errors[codeText(k.code)] += n
		}
	}
	recent := 0
	for _, b := range r.buckets {
		if b.slot > cur-int64(rateBuckets) && b.slot <= cur {
			recent += b.n
		}
	}
	st.CallsPerSecond = float64(recent) / RateWindow.Seconds()
	return st
}

func (r *siteRecorder) reset() {
	r.mu.Lock()
	clear(r.counts)
	r.lost = 0
	r.buckets = [rateBuckets]struct {
		slot int64
		n    int
	}{}
	r.mu.Unlock()
}

// htmlErrorPage is what a load balancer answers instead of Gigya.
func htmlErrorPage(w http.ResponseWriter, status int) {
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n</body>\r\n</html>\r\n", text, text)
}

// name is the site's name; "" for no site.
func (st *siteState) name() string {
	if st == nil {
		return ""
	}
	return st.cfg.Name
}

// SiteInfo describes a site without its secrets: GET /_sim/sites.
type SiteInfo struct {
	Name          string     `json:"name"`
	APIKey        string     `json:"apiKey"`
	UserKey       string     `json:"userKey"`
	Secret        bool       `json:"secret"`        // secret and signed authentication enabled
	Bearer        bool       `json:"bearer"`        // bearer authentication enabled
	PartnerSecret bool       `json:"partnerSecret"` // UIDSig verified
	DataCenter    string     `json:"dataCenter,omitempty"`
	Domain        string     `json:"domain,omitempty"` // the data center's Domain
	Quota         Quota      `json:"quota"`
	SharedQuota   string     `json:"sharedQuota,omitempty"`
	Faults        SiteFaults `json:"faults"`
}

// SiteInfos describes every site, in Config order; no secret values.
func (s *Server) SiteInfos() []SiteInfo {
	out := make([]SiteInfo, 0, len(s.sites))
	for _, st := range s.sites {
		out = append(out, SiteInfo{
			Name: st.cfg.Name, APIKey: st.cfg.APIKey, UserKey: st.cfg.UserKey,
			Secret: st.cfg.Secret != "", Bearer: st.cfg.PublicKey != nil, PartnerSecret: st.cfg.PartnerSecret != "",
			DataCenter: st.cfg.DataCenter, Domain: st.domain, Quota: st.limiter.Load().q, SharedQuota: st.cfg.SharedQuota, Faults: *st.faults.Load(),
		})
	}
	return out
}
