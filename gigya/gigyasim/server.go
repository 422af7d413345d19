package gigyasim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
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

// Config configures a Server. APIKey, UserKey and at least one of Secret and
// PublicKey are required.
type Config struct {
	// APIKey is the site's API key; any other apiKey gets 400093.
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
	// Default "": every call with a siteUID gets 403003.
	PartnerSecret string
	// Strict makes UIDs not in Accounts (and never registered) unknown
	// (403005) instead of pending registrations. Default false.
	Strict bool
	// Accounts are known UIDs, not yet registered. Reset returns to them.
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
}

// Server is the simulator: an http.Handler safe for concurrent use.
type Server struct {
	cfg    Config // read-only after New
	log    *zap.Logger
	faults atomic.Pointer[faultState]

	faultsMu sync.Mutex // serialises changes to faults (SetFaults, admin PUT)

	accounts *accountStore
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
	switch {
	case cfg.APIKey == "":
		return nil, errors.New("new gigya simulator: APIKey is required")
	case cfg.UserKey == "":
		return nil, errors.New("new gigya simulator: UserKey is required")
	case cfg.Secret == "" && cfg.PublicKey == nil:
		return nil, errors.New("new gigya simulator: no authentication mode: set Secret and/or PublicKey")
	}
	if cfg.Secret != "" {
		if _, err := base64.StdEncoding.DecodeString(cfg.Secret); err != nil {
			return nil, errors.New("new gigya simulator: Secret is not valid base64")
		}
	}
	if cfg.PartnerSecret != "" {
		if _, err := base64.StdEncoding.DecodeString(cfg.PartnerSecret); err != nil {
			return nil, errors.New("new gigya simulator: PartnerSecret is not valid base64")
		}
	}
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
		accounts:     newAccountStore(cfg.Accounts),
		replay:       newReplayCache(),
		perUID:       newUIDCounter(),
		stats:        newStatsRecorder(),
		callIDPrefix: hex.EncodeToString(prefix[:]),
	}
	if cfg.RecordCalls {
		s.calls = &callLog{}
	}
	s.faults.Store(newFaultState(cfg.Faults))
	return s, nil
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
	accounts, linked, registered := s.accounts.counts()
	return Stats{
		Calls:         s.stats.snapshot(),
		Linked:        linked,
		Registered:    registered,
		Accounts:      accounts,
		InFlight:      int(s.inFlight.Load()),
		PeakInFlight:  int(s.peak.Load()),
		ReplayEntries: s.replay.len(),
	}
}

// Calls returns the calls received with this UID parameter, in receipt order
// (nil unless Config.RecordCalls).
func (s *Server) Calls(uid string) []Call { return s.calls.get(uid) }

// Linked reports which Gigya UID siteUID replaced.
func (s *Server) Linked(siteUID string) (uid string, ok bool) { return s.accounts.owner(siteUID) }

// Reset forgets accounts (back to Config.Accounts), counters and the call
// log. Faults and the nonce/jti memory stay: a reset must not make a replay
// succeed.
func (s *Server) Reset() {
	s.accounts.reset()
	s.stats.reset()
	s.calls.reset()
	s.peak.Store(s.inFlight.Load())
}

// clock is the simulator's time: Now + ClockSkew.
func (s *Server) clock() time.Time {
	return s.cfg.Now().Add(s.faults.Load().f.ClockSkew)
}

// ServeHTTP serves the Gigya API methods at /socialize.* and the admin
// endpoints under /_sim/ (no authentication: a local tool).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveAdmin(w, r)
		return
	}
	s.serveAPI(w, r)
}

// serveAPI runs one Gigya call: concurrency check, latency, transient faults,
// then verification and the account model. Transient faults come before
// anything that records state, so a call failed by them changed nothing.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
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
	c.logIndex = s.calls.start(Call{
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

	fs := s.faults.Load()
	switch {
	case fs.f.Outage == OutageDrop:
		s.finish(&c, CodeDropped)
		drop(w)
		return
	case fs.f.Outage == OutageError:
		s.answer(w, &c, nil, errorf(codeGeneralServerError, "simulated outage"))
		return
	case fs.limiter != nil && !fs.limiter.Allow():
		s.answer(w, &c, nil, errorf(codeRateLimited, "more than %g calls per second", fs.f.RateLimit))
		return
	case fs.f.ErrorRate > 0 && mrand.Float64() < fs.f.ErrorRate:
		s.answer(w, &c, nil, errorf(codeGeneralServerError, "simulated random failure"))
		return
	}

	info, apiErr := s.handle(r, method, s.clock())
	s.answer(w, &c, info, apiErr)
}

// call is the bookkeeping of one API call in flight.
type call struct {
	method   string
	uid      string
	form     url.Values
	at       time.Time
	logIndex int
}

func (s *Server) finish(c *call, code int) {
	s.stats.add(c.method, code)
	if c.form != nil {
		s.calls.finish(c.uid, c.logIndex, code)
	}
	if ce := s.log.Check(zap.DebugLevel, "gigya simulator call"); ce != nil {
		ce.Write(zap.String("method", c.method), zap.String("uid", c.uid), zap.String("outcome", codeText(code)))
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
	StatusReason string `json:"statusReason"`
	Time         string `json:"time"`
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
