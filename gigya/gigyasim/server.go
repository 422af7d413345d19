package gigyasim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Gigya API methods the simulator serves, as URL paths without the leading "/".
const (
	MethodNotifyRegistration = "socialize.notifyRegistration"
	MethodGetUserInfo        = "socialize.getUserInfo"
)

// Config configures a Server: either one site through APIKey, UserKey,
// Secret, PublicKey and PartnerSecret (the site DefaultSiteName), or several
// through Sites, or both. Every site needs an APIKey, a UserKey and at least
// one of Secret and PublicKey.
type Config struct {
	// APIKey is the single site's API key; any apiKey of no site gets 400093.
	// Empty (with Sites set): no site DefaultSiteName.
	APIKey string
	// UserKey is the application key: the userKey of "secret" and "signed"
	// requests and the kid of bearer tokens.
	UserKey string
	// Secret is the application secret (base64). It enables "secret" and
	// "signed" authentication. Default "": both disabled (403000).
	Secret string
	// PublicKey enables "bearer" authentication: RS256 tokens verified with
	// it. Default nil: disabled (403000).
	PublicKey *rsa.PublicKey
	// PartnerSecret (base64) verifies the UIDSig that comes with a siteUID.
	// Default "": a call with a UIDSig gets 403003; one without is accepted.
	PartnerSecret string
	// Sites are further sites (after the one of APIKey, if set). Names and
	// API keys must be unique.
	Sites []Site
	// DataCenters are the data centers Site.DataCenter may name; each is
	// served by Server.DataCenter(name). Default none: ServeHTTP serves
	// every site and no call is in the wrong data center.
	DataCenters []DataCenter
	// SharedQuotas are quotas shared by the sites naming them in
	// Site.SharedQuota (name → quota): a partner-wide limit.
	SharedQuotas map[string]Quota
	// Strict (every site) makes UIDs not in Accounts (and never registered) unknown
	// (403005) instead of pending registrations. Default false.
	Strict bool
	// Accounts are known UIDs of every site, not yet registered. Reset
	// returns to them.
	Accounts []string
	// RecordCalls keeps every API call per UID for Calls. Memory grows with
	// the number of calls: for tests. Default false.
	RecordCalls bool
	// Faults are the initial faults; see SetFaults. Default none.
	Faults Faults
	// Now is the simulator's clock before Faults.ClockSkew. Default time.Now.
	Now func() time.Time
	// Logger logs fault changes (info) and every call (debug). Default: none.
	Logger *zap.Logger
}

// Call is one API call as the simulator received it.
type Call struct {
	Method  string    // e.g. MethodNotifyRegistration
	UID     string    // the UID parameter
	SiteUID string    // the siteUID parameter
	Context string    // the context parameter
	Code    int       // the errorCode answered, or CodePending, CodeDropped, CodeCanceled
	At      time.Time // receipt, on the simulator's clock (skew included)
}

// Stats is a snapshot of the simulator's counters, served as GET /_sim/stats.
type Stats struct {
	// Calls counts API calls: method → errorCode as text ("0", "403005"; and
	// "dropped", "canceled") → count. Paths that are no Gigya method count
	// under "unknown".
	Calls map[string]map[string]int `json:"calls"`
	// Linked is how many accounts got a siteUID.
	Linked int `json:"linked"`
	// Registered is how many accounts notifyRegistration succeeded for.
	Registered int `json:"registered"`
	// Accounts is how many accounts the simulator knows (seeded or registered).
	Accounts int `json:"accounts"`
	// InFlight is how many API calls are being served now.
	InFlight int `json:"inFlight"`
	// PeakInFlight is the highest InFlight seen since start or reset.
	PeakInFlight int `json:"peakInFlight"`
	// ReplayEntries is how many nonces and jtis are remembered.
	ReplayEntries int `json:"replayEntries"`
	// Sites are the counters of each site by name. Calls, Linked,
	// Registered and Accounts above are the sums (Calls also counts calls
	// of no site).
	Sites map[string]SiteStats `json:"sites"`
}

// Server is the simulator: an http.Handler safe for concurrent use.
type Server struct {
	cfg    Config // read-only after New
	log    *zap.Logger
	faults atomic.Pointer[faultState]

	faultsMu sync.Mutex // serialises changes to faults (SetFaults, admin PUT)

	sites    []*siteState          // in Config order; the default site first
	byAPIKey map[string]*siteState // read-only after New
	byName   map[string]*siteState // read-only after New
	dcs      map[string]string     // data center name → Domain
	replay   *replayCache
	perUID   *uidCounter
	stats    *statsRecorder
	calls    *callLog // nil unless cfg.RecordCalls

	callIDPrefix string
	callSeq      atomic.Uint64
	inFlight     atomic.Int64
	peak         atomic.Int64
}

// New checks cfg and returns a Server. Errors never contain secret values.
func New(cfg Config) (*Server, error) {
	if err := cfg.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("new gigya simulator: faults: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	cfg.Accounts = append([]string(nil), cfg.Accounts...)
	var prefix [8]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, fmt.Errorf("new gigya simulator: %w", err)
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.Logger,
		byAPIKey:     make(map[string]*siteState),
		byName:       make(map[string]*siteState),
		dcs:          make(map[string]string),
		replay:       newReplayCache(),
		perUID:       newUIDCounter(),
		stats:        newStatsRecorder(),
		callIDPrefix: hex.EncodeToString(prefix[:]),
	}
	if err := s.addSites(cfg); err != nil {
		return nil, fmt.Errorf("new gigya simulator: %w", err)
	}
	if cfg.RecordCalls {
		s.calls = &callLog{}
	}
	s.faults.Store(newFaultState(cfg.Faults))
	return s, nil
}

// addSites checks and adds the data centers and sites of cfg.
func (s *Server) addSites(cfg Config) error {
	for _, dc := range cfg.DataCenters {
		switch _, dup := s.dcs[dc.Name]; {
		case dc.Name == "" || dc.Domain == "":
			return errors.New("data center: Name and Domain are required")
		case dup:
			return fmt.Errorf("data center %q: duplicate name", dc.Name)
		}
		s.dcs[dc.Name] = dc.Domain
	}
	shared := make(map[string]*quotaState, len(cfg.SharedQuotas))
	for name, q := range cfg.SharedQuotas {
		if err := q.Validate(); err != nil {
			return fmt.Errorf("shared quota %q: %w", name, err)
		}
		shared[name] = newQuotaState(q)
	}
	sites := cfg.Sites
	if cfg.APIKey != "" || len(sites) == 0 {
		def := Site{Name: DefaultSiteName, APIKey: cfg.APIKey, UserKey: cfg.UserKey, Secret: cfg.Secret,
			PublicKey: cfg.PublicKey, PartnerSecret: cfg.PartnerSecret}
		if err := validateSite(def, s.dcs, cfg.SharedQuotas); err != nil {
			return err // the single-site errors name Config's fields
		}
		sites = append([]Site{def}, sites...)
	}
	for _, site := range sites {
		if err := validateSite(site, s.dcs, cfg.SharedQuotas); err != nil {
			return fmt.Errorf("site %q: %w", site.Name, err)
		}
		if _, dup := s.byName[site.Name]; dup {
			return fmt.Errorf("site %q: duplicate name", site.Name)
		}
		if _, dup := s.byAPIKey[site.APIKey]; dup {
			return fmt.Errorf("site %q: duplicate APIKey", site.Name)
		}
		st := &siteState{cfg: site, domain: s.dcs[site.DataCenter], shared: shared[site.SharedQuota],
			accounts: newAccountStore(cfg.Accounts), stats: newSiteRecorder()}
		f := site.Faults.normalized()
		st.faults.Store(&f)
		st.limiter.Store(newQuotaState(site.Quota))
		s.sites = append(s.sites, st)
		s.byAPIKey[site.APIKey] = st
		s.byName[site.Name] = st
	}
	return nil
}

// SetFaults replaces the faults; in-flight calls finish with the faults they
// started with, except that Outage, RateLimit and ErrorRate are read after
// the latency sleep. It returns an error, and changes nothing, if f is not
// valid.
func (s *Server) SetFaults(f Faults) error {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	return s.setFaultsLocked(f)
}

func (s *Server) setFaultsLocked(f Faults) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("set faults: %w", err)
	}
	st := newFaultState(f)
	s.faults.Store(st)
	s.log.Info("gigya simulator faults set",
		zap.Duration("latency", st.f.Latency), zap.Duration("jitter", st.f.Jitter),
		zap.Float64("rateLimit", st.f.RateLimit), zap.Float64("errorRate", st.f.ErrorRate),
		zap.String("outage", outageName(st.f.Outage)), zap.Duration("clockSkew", st.f.ClockSkew))
	return nil
}

// Faults returns the current faults ("none" outage as "").
func (s *Server) Faults() Faults { return s.faults.Load().f }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Calls:         s.stats.snapshot(),
		InFlight:      int(s.inFlight.Load()),
		PeakInFlight:  int(s.peak.Load()),
		ReplayEntries: s.replay.len(),
		Sites:         make(map[string]SiteStats, len(s.sites)),
	}
	for _, site := range s.sites {
		ss := s.siteStats(site)
		st.Sites[site.cfg.Name] = ss
		st.Accounts += ss.Accounts
		st.Linked += ss.Linked
		st.Registered += ss.Registered
	}
	return st
}

// SiteStats returns the counters of the site called name; false if there is
// no such site.
func (s *Server) SiteStats(name string) (SiteStats, bool) {
	site, ok := s.byName[name]
	if !ok {
		return SiteStats{}, false
	}
	return s.siteStats(site), true
}

func (s *Server) siteStats(site *siteState) SiteStats {
	ss := site.stats.snapshot(s.cfg.Now())
	ss.Accounts, ss.Linked, ss.Registered = site.accounts.counts()
	ss.Quota = site.limiter.Load().q
	return ss
}

// SiteNames returns the names of the sites in Config order (the site of
// Config.APIKey, DefaultSiteName, first).
func (s *Server) SiteNames() []string {
	names := make([]string, len(s.sites))
	for i, site := range s.sites {
		names[i] = site.cfg.Name
	}
	return names
}

// SetSiteFaults replaces the site-wide faults of the site called name; it
// returns an error, and changes nothing, if there is no such site or f is
// not valid.
func (s *Server) SetSiteFaults(name string, f SiteFaults) error {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	return s.setSiteFaultsLocked(name, f)
}

func (s *Server) setSiteFaultsLocked(name string, f SiteFaults) error {
	site, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("set site faults: no site %q", name)
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("set site faults: site %q: %w", name, err)
	}
	if f.Code == codeWrongDataCenter && f.APIDomain == "" && site.domain == "" {
		return fmt.Errorf("set site faults: site %q: code 301001 needs apiDomain (the site has no data center)", name)
	}
	f = f.normalized()
	site.faults.Store(&f)
	s.log.Info("gigya simulator site faults set", zap.String("site", name), zap.Int("httpStatus", f.HTTPStatus),
		zap.String("outage", outageName(f.Outage)), zap.Int("code", f.Code), zap.String("apiDomain", f.APIDomain),
		zap.Float64("lostRate", f.LostRate), zap.String("lost", f.Lost))
	return nil
}

// SiteFaults returns the site-wide faults of the site called name (Outage
// "none" as "", Lost spelled out); false if there is no such site.
func (s *Server) SiteFaults(name string) (SiteFaults, bool) {
	site, ok := s.byName[name]
	if !ok {
		return SiteFaults{}, false
	}
	return *site.faults.Load(), true
}

// SetSiteQuota replaces the quota of the site called name with a full
// bucket; error, and no change, if there is no such site or q is not valid.
func (s *Server) SetSiteQuota(name string, q Quota) error {
	site, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("set site quota: no site %q", name)
	}
	if err := q.Validate(); err != nil {
		return fmt.Errorf("set site quota: site %q: %w", name, err)
	}
	site.limiter.Store(newQuotaState(q))
	s.log.Info("gigya simulator site quota set", zap.String("site", name), zap.Float64("rate", q.Rate), zap.Int("burst", q.burst()))
	return nil
}

// Calls returns the calls received with this UID parameter, in receipt order
// (nil unless Config.RecordCalls).
func (s *Server) Calls(uid string) []Call { return s.calls.get(uid) }

// CallsAt is Calls for the calls whose apiKey is the site called site's.
func (s *Server) CallsAt(site, uid string) []Call { return s.calls.getAt(site, uid) }

// Linked reports which Gigya UID siteUID replaced, on the first site (in
// Config order) where it did.
func (s *Server) Linked(siteUID string) (uid string, ok bool) {
	for _, site := range s.sites {
		if uid, ok := site.accounts.owner(siteUID); ok {
			return uid, true
		}
	}
	return "", false
}

// LinkedAt reports which Gigya UID siteUID replaced on the site called site.
func (s *Server) LinkedAt(site, siteUID string) (uid string, ok bool) {
	st, found := s.byName[site]
	if !found {
		return "", false
	}
	return st.accounts.owner(siteUID)
}

// Reset forgets accounts (back to Config.Accounts), counters and the call
// log, on every site. Faults, quotas and the nonce/jti memory stay: a reset
// must not make a replay succeed.
func (s *Server) Reset() {
	for _, site := range s.sites {
		site.accounts.reset()
		site.stats.reset()
		site.lostSeq.Store(0)
	}
	s.stats.reset()
	s.calls.reset()
	s.peak.Store(s.inFlight.Load())
}

// clock is the simulator's time: Now + ClockSkew.
func (s *Server) clock() time.Time {
	return s.cfg.Now().Add(s.faults.Load().f.ClockSkew)
}

// ServeHTTP serves the Gigya API methods at /socialize.* and the admin
// endpoints under /_sim/ (no authentication: a local tool). It belongs to no
// data center: every site answers through it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r, "") }

// DataCenter returns the handler of the data center called name (one of
// Config.DataCenters): as ServeHTTP, except that a call for a site living in
// another data center gets 301001 with that data center's Domain as
// apiDomain. Serve each on its own listener, whose host:port is its Domain.
func (s *Server) DataCenter(name string) (http.Handler, error) {
	if _, ok := s.dcs[name]; !ok {
		return nil, fmt.Errorf("gigya simulator: no data center %q", name)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, name) }), nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, dc string) {
	if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveAdmin(w, r)
		return
	}
	s.serveAPI(w, r, dc)
}

// serveAPI runs one Gigya call: concurrency check, latency, transient faults,
// then the site's faults, verification and the account model. Transient
// faults come before anything that records state, so a call failed by them
// changed nothing.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, dc string) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	// Raise peak to n unless another call raised it higher meanwhile.
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}

	method := strings.TrimPrefix(r.URL.Path, "/")
	statsMethod := method
	if method != MethodNotifyRegistration && method != MethodGetUserInfo {
		statsMethod = statsMethodUnknown
	}
	c := call{method: statsMethod, at: s.clock()}

	if r.Method != http.MethodPost {
		s.answer(w, &c, nil, errorf(codeInvalidRequest, "%s: the simulator accepts POST with a form-encoded body only", r.Method))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBodyBytes)
	if err := r.ParseForm(); err != nil {
		s.answer(w, &c, nil, errorf(codeInvalidRequest, "parse form: %v", err))
		return
	}
	c.form = r.Form
	c.uid = r.Form.Get("UID")
	c.site = s.siteOf(r.Form)
	c.logIndex = s.calls.start(c.site.name(), Call{
		Method: method, UID: c.uid, SiteUID: r.Form.Get("siteUID"),
		Context: r.Form.Get("context"), At: c.at,
	})
	if statsMethod == statsMethodUnknown {
		s.answer(w, &c, nil, errorf(codeNotFound, "unknown method %q", method))
		return
	}

	if c.uid != "" {
		inFlight := s.perUID.inc(c.uid)
		defer s.perUID.dec(c.uid)
		if inFlight > MaxConcurrentPerUID {
			s.answer(w, &c, nil, errorf(codeTooManyConcurrent, "more than %d concurrent requests for this UID", MaxConcurrentPerUID))
			return
		}
	}

	if !sleep(r, s.faults.Load().f) {
		s.finish(&c, CodeCanceled)
		return
	}
	if s.transientFault(w, &c) {
		return
	}
	s.serveSite(w, r, &c, dc, method)
}

// transientFault applies the global Outage, RateLimit and ErrorRate; true if
// one of them answered.
func (s *Server) transientFault(w http.ResponseWriter, c *call) bool {
	fs := s.faults.Load()
	switch {
	case fs.f.Outage == OutageDrop:
		s.finish(c, CodeDropped)
		drop(w)
	case fs.f.Outage == OutageError:
		s.answer(w, c, nil, errorf(codeGeneralServerError, "simulated outage"))
	case fs.limiter != nil && !fs.limiter.Allow():
		s.answer(w, c, nil, rateLimited(fs.f.RateLimit))
	case fs.f.ErrorRate > 0 && mrand.Float64() < fs.f.ErrorRate:
		s.answer(w, c, nil, errorf(codeGeneralServerError, "simulated random failure"))
	default:
		return false
	}
	return true
}

func rateLimited(limit float64) *apiError {
	return errorf(codeRateLimited, "more than %g calls per second", limit)
}

// serveSite runs the steps that need the call's site: its faults, data
// center and quota, then verification and the account model, then the
// answer-lost fault.
func (s *Server) serveSite(w http.ResponseWriter, r *http.Request, c *call, dc, method string) {
	site := c.site
	if site == nil || len(r.Form["apiKey"]) != 1 {
		if _, ok := r.Form["apiKey"]; !ok {
			s.answer(w, c, nil, errorf(codeInvalidAPIKey, "apiKey is missing (is the body application/x-www-form-urlencoded?)"))
			return
		}
		s.answer(w, c, nil, errorf(codeInvalidAPIKey, "unknown apiKey"))
		return
	}
	f := site.faults.Load()
	switch {
	case f.HTTPStatus != 0:
		s.finish(c, -f.HTTPStatus)
		htmlErrorPage(w, f.HTTPStatus)
		return
	case f.Outage == OutageDrop:
		s.finish(c, CodeDropped)
		drop(w)
		return
	}
	if e := s.siteGate(site, f, dc); e != nil {
		s.answer(w, c, nil, e)
		return
	}
	info, apiErr := s.handle(r, site, method, s.clock())
	if apiErr == nil && method == MethodNotifyRegistration && site.loseAnswer(f) {
		c.lost = true
		if f.Lost == LostTimeout {
			apiErr = errorf(codeTimeout, "simulated timeout after the call was applied")
		} else {
			s.finish(c, CodeDropped)
			drop(w)
			return
		}
	}
	s.answer(w, c, info, apiErr)
}

// siteGate is the site's outage, data center, quota and forced code, in
// that order; nil lets the call through to verification.
func (s *Server) siteGate(site *siteState, f *SiteFaults, dc string) *apiError {
	switch q := site.limiter.Load(); {
	case f.Outage == OutageError:
		return errorf(codeGeneralServerError, "simulated outage of this site")
	case dc != "" && site.cfg.DataCenter != "" && site.cfg.DataCenter != dc:
		e := errorf(codeWrongDataCenter, "the site lives in data center %q, this is %q", site.cfg.DataCenter, dc)
		e.apiDomain = site.domain
		return e
	case q.limiter != nil && !q.limiter.Allow():
		return rateLimited(q.q.Rate)
	case site.shared != nil && site.shared.limiter != nil && !site.shared.limiter.Allow():
		return errorf(codeRateLimited, "more than %g calls per second for the quota %q", site.shared.q.Rate, site.cfg.SharedQuota)
	case f.Code == codeWrongDataCenter:
		e := errorf(codeWrongDataCenter, "simulated: the site lives in another data center")
		e.apiDomain = f.APIDomain
		if e.apiDomain == "" {
			e.apiDomain = site.domain
		}
		return e
	case f.Code != 0:
		return errorf(f.Code, "simulated site-wide fault")
	}
	return nil
}

// siteOf is the site of the call's apiKey; nil if there is none or several.
func (s *Server) siteOf(form url.Values) *siteState {
	if keys := form["apiKey"]; len(keys) == 1 {
		return s.byAPIKey[keys[0]]
	}
	return nil
}

// call is the bookkeeping of one API call in flight.
type call struct {
	method   string
	uid      string
	form     url.Values
	at       time.Time
	logIndex int
	site     *siteState // nil: no site's apiKey
	lost     bool       // applied, but the answer is lost
}

func (s *Server) finish(c *call, code int) {
	s.stats.add(c.method, code)
	if c.site != nil {
		c.site.stats.add(c.method, code, c.lost, s.cfg.Now())
	}
	if c.form != nil {
		s.calls.finish(c.uid, c.logIndex, code)
	}
	if ce := s.log.Check(zap.DebugLevel, "gigya simulator call"); ce != nil {
		ce.Write(zap.String("site", c.site.name()), zap.String("method", c.method), zap.String("uid", c.uid), zap.String("outcome", codeText(code)))
	}
}

// response is Gigya's JSON answer. A non-nil *userInfo adds its fields.
type response struct {
	CallID       string `json:"callId"`
	ErrorCode    int    `json:"errorCode"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	ErrorDetails string `json:"errorDetails,omitempty"`
	APIVersion   int    `json:"apiVersion"`
	StatusCode   int    `json:"statusCode"`
	StatusReason string `json:"statusReason,omitempty"`
	Time         string `json:"time"`
	APIDomain    string `json:"apiDomain,omitempty"`
	Context      string `json:"context,omitempty"`
	*userInfo
}

// userInfo is the getUserInfo payload (the subset a server integration reads).
type userInfo struct {
	UID                string `json:"UID"`
	UIDSignature       string `json:"UIDSignature,omitempty"`
	SignatureTimestamp string `json:"signatureTimestamp,omitempty"`
	IsSiteUID          bool   `json:"isSiteUID"`
	IsRegistered       bool   `json:"isRegistered"`
	IsConnected        bool   `json:"isConnected"`
	IsLoggedIn         bool   `json:"isLoggedIn"`
	IsTempUser         bool   `json:"isTempUser"`
	LoginProvider      string `json:"loginProvider"`
	Providers          string `json:"providers"`
	Identities         []any  `json:"identities"`
}

// answer writes the Gigya JSON response: HTTP 200 unless the caller passed
// httpStatusCodes=true, Date header and "time" on the simulator's clock.
func (s *Server) answer(w http.ResponseWriter, c *call, info *userInfo, e *apiError) {
	now := s.clock()
	resp := response{
		CallID:       s.newCallID(),
		APIVersion:   responseAPIVersion,
		StatusCode:   http.StatusOK,
		StatusReason: http.StatusText(http.StatusOK),
		Time:         now.UTC().Format(responseTimeFormat),
		Context:      c.form.Get("context"),
		userInfo:     info,
	}
	if e != nil {
		resp.userInfo = nil
		resp.ErrorCode = e.code
		resp.ErrorMessage = errorMessage(e.code)
		resp.ErrorDetails = e.details
		resp.StatusCode = e.code / 1000
		resp.StatusReason = http.StatusText(resp.StatusCode)
		resp.APIDomain = e.apiDomain
		if e.code == codeRateLimited {
			resp.StatusReason = "" // Gigya's 403048 has none
		}
	}
	s.finish(c, resp.ErrorCode)

	body, err := json.Marshal(resp)
	if err != nil { // cannot happen: fixed types
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	status := http.StatusOK
	if c.form.Get("httpStatusCodes") == "true" {
		status = resp.StatusCode
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// newCallID returns a unique 32-hex-digit id, like Gigya's.
func (s *Server) newCallID() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s.callSeq.Add(1))
	return s.callIDPrefix + hex.EncodeToString(b[:])
}

// sleep waits Latency ± Jitter; false if the client went away meanwhile.
func sleep(r *http.Request, f Faults) bool {
	d := f.Latency
	if f.Jitter > 0 {
		d += time.Duration(mrand.Int64N(2*int64(f.Jitter)+1)) - f.Jitter
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// drop closes the connection without an answer. HTTP/2 cannot be hijacked:
// there http.ErrAbortHandler resets the stream instead.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
