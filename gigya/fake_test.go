package gigya

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Test credentials. The secrets are canaries: every error text, log line
// and Options.String produced by the tests is checked not to contain them.
// They contain '+', '/' and '=' so that their form-encoded shapes differ.
const (
	testAPIKey  = "3_test-api-key"
	testUserKey = "test-user-key"
	// base64("canary-app-secret-\xfb\xef\xbe\xfa")
	testSecret = "Y2FuYXJ5LWFwcC1zZWNyZXQt+++++g=="
	// base64("canary-partner-secret-\xfb\xff\xfe")
	testPartnerSecret = "Y2FuYXJ5LXBhcnRuZXItc2VjcmV0Lfv//g=="
)

// testKey is generated once: RSA key generation is slow under -race.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func testKeyPEM(pkcs8 bool) []byte {
	if pkcs8 {
		der, err := x509.MarshalPKCS8PrivateKey(testKey())
		if err != nil {
			panic(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKey())})
}

// secretCanaries are the values that must never show up anywhere.
func secretCanaries() []string {
	s := []string{
		testSecret, url.QueryEscape(testSecret), PercentEncode(testSecret),
		testPartnerSecret, url.QueryEscape(testPartnerSecret), PercentEncode(testPartnerSecret),
	}
	for _, p := range [][]byte{testKeyPEM(false), testKeyPEM(true)} {
		lines := strings.Split(string(p), "\n")
		s = append(s, lines[1], lines[len(lines)/2]) // base64 lines of the key
	}
	return s
}

// assertNoSecrets fails if text contains a canary or one of extra (bearer
// tokens, sigs and UIDSigs the fake server received).
func assertNoSecrets(t testing.TB, where, text string, extra ...string) {
	t.Helper()
	for _, s := range append(secretCanaries(), extra...) {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains a secret %q: %s", where, s, text)
		}
	}
}

// fakeClock is a settable clock shared by a client and the fake server.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// testBase is a whole second, so that Date headers carry it exactly.
var testBase = time.Unix(1_900_000_000, 0)

// fakeGigya answers like Gigya and verifies every request for real: apiKey
// and format fields, the auth mode's credentials (JWT with the public key,
// OAuth1 sig, secret), timestamp windows, single-use nonces and jtis, and
// the UIDSig. A failed check is answered with Gigya's error code and a
// detail saying what was wrong, so the client under test sees a failure.
type fakeGigya struct {
	auth  AuthMode
	clock func() time.Time // Gigya's clock; default time.Now
	// hook, if set, runs before verification with the per-method call
	// number (1-based); it returns true if it answered.
	hook  func(n int, w http.ResponseWriter, r *http.Request) bool
	users map[string]bool // getUserInfo accounts: UID → isSiteUID

	mu      sync.Mutex
	calls   map[string]int
	forms   []url.Values
	authz   []string
	used    map[string]bool // nonces and jtis
	creds   []string        // every credential received
	remotes map[string]bool // client connections seen
}

func newFake(auth AuthMode) *fakeGigya {
	return &fakeGigya{
		auth:    auth,
		clock:   time.Now,
		users:   map[string]bool{},
		calls:   map[string]int{},
		used:    map[string]bool{},
		remotes: map[string]bool{},
	}
}

func (f *fakeGigya) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := f.clock()
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	method := path.Base(r.URL.Path)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	form := r.PostForm
	f.mu.Lock()
	f.calls[method]++
	n := f.calls[method]
	f.forms = append(f.forms, cloneValues(form))
	f.authz = append(f.authz, r.Header.Get("Authorization"))
	f.remotes[r.RemoteAddr] = true
	for _, v := range []string{strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "),
		form.Get("sig"), form.Get("UIDSig"), form.Get("secret")} {
		if v != "" {
			f.creds = append(f.creds, v)
		}
	}
	f.mu.Unlock()

	if f.hook != nil && f.hook(n, w, r) {
		return
	}
	if code, details := f.verify(r, now); code != 0 {
		writeAnswer(w, map[string]any{"errorCode": code, "errorMessage": "rejected by fake", "errorDetails": details, "callId": "cid-" + strconv.Itoa(n)})
		return
	}
	switch method {
	case "socialize.notifyRegistration":
		writeAnswer(w, map[string]any{"errorCode": 0, "callId": "call-" + strconv.Itoa(n), "context": form.Get("context"), "statusCode": 200})
	case "socialize.getUserInfo":
		uid := form.Get("UID")
		isSite, ok := f.users[uid]
		if !ok {
			writeAnswer(w, map[string]any{"errorCode": 403005, "errorMessage": "Unauthorized user", "errorDetails": "unknown UID", "callId": "info-" + strconv.Itoa(n)})
			return
		}
		writeAnswer(w, map[string]any{"errorCode": 0, "callId": "info-" + strconv.Itoa(n), "UID": uid, "isSiteUID": isSite, "UIDSignature": "x", "nickname": "n"})
	default:
		writeAnswer(w, map[string]any{"errorCode": 400096, "errorMessage": "Not supported", "errorDetails": method})
	}
}

// verify returns the Gigya error code for a bad request, 0 for a good one.
func (f *fakeGigya) verify(r *http.Request, now time.Time) (int, string) {
	form := r.PostForm
	switch {
	case r.Method != http.MethodPost:
		return 400001, "method " + r.Method
	case r.URL.RawQuery != "":
		return 400006, "parameters in the query string"
	case r.Header.Get("Content-Type") != "application/x-www-form-urlencoded":
		return 400001, "content type " + r.Header.Get("Content-Type")
	case form.Get("apiKey") != testAPIKey:
		return 400093, "Invalid ApiKey parameter"
	case form.Get("format") != "json" || form.Get("httpStatusCodes") != "false":
		return 400006, "format/httpStatusCodes"
	case form.Get("UID") == "":
		return 400002, "Missing required parameter: UID"
	}
	inWindow := func(tsText string, window time.Duration) bool {
		ts, err := strconv.ParseInt(tsText, 10, 64)
		d := time.Unix(ts, 0).Sub(now)
		return err == nil && d <= window && d >= -window
	}
	unexpected := func(keys ...string) string {
		for _, k := range keys {
			if form.Has(k) {
				return k
			}
		}
		return ""
	}
	switch f.auth {
	case AuthBearer:
		if k := unexpected("userKey", "secret", "sig", "nonce", "timestamp"); k != "" {
			return 400006, "unexpected parameter " + k
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return 400002, "no bearer token"
		}
		kid, claims, err := VerifyJWT(tok, &testKey().PublicKey)
		switch {
		case err != nil:
			return 403003, err.Error()
		case kid != testUserKey:
			return 403003, "kid " + kid
		case !inWindow(strconv.FormatInt(claims.IssuedAt, 10), 2*time.Minute):
			return 403002, "Request has expired (iat)"
		case claims.JTI == "" || !f.useOnce(claims.JTI):
			return 403004, "duplicate jti"
		}
	case AuthSecret:
		if k := unexpected("sig", "nonce", "timestamp"); k != "" || r.Header.Get("Authorization") != "" {
			return 400006, "unexpected parameter " + k
		}
		if form.Get("userKey") != testUserKey || form.Get("secret") != testSecret {
			return 403010, "Invalid secret"
		}
	case AuthSigned:
		if k := unexpected("secret"); k != "" || r.Header.Get("Authorization") != "" {
			return 400006, "unexpected parameter " + k
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		want, err := RequestSignature(testSecret, scheme+"://"+r.Host+r.URL.Path, form)
		switch {
		case form.Get("userKey") != testUserKey:
			return 403003, "userKey"
		case !inWindow(form.Get("timestamp"), 2*time.Minute):
			return 403002, "Request has expired (timestamp)"
		case form.Get("nonce") == "" || !f.useOnce(form.Get("nonce")):
			return 403004, "duplicate nonce"
		case err != nil || form.Get("sig") != want:
			return 403003, "Invalid signature"
		}
	}
	if siteUID := form.Get("siteUID"); siteUID != "" {
		ts, _ := strconv.ParseInt(form.Get("UIDTimestamp"), 10, 64)
		want, err := UIDSignature(testPartnerSecret, ts, siteUID)
		switch {
		case !inWindow(form.Get("UIDTimestamp"), 5*time.Minute):
			return 403002, "Request has expired (UIDTimestamp)"
		case err != nil || form.Get("UIDSig") != want:
			return 403003, "Invalid UIDSig"
		}
	} else if k := unexpected("UIDSig", "UIDTimestamp"); k != "" {
		return 400006, k + " without siteUID"
	}
	return 0, ""
}

func (f *fakeGigya) useOnce(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.used[id] {
		return false
	}
	f.used[id] = true
	return true
}

func (f *fakeGigya) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeGigya) form(i int) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forms[i]
}

func (f *fakeGigya) credentials() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.creds...)
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func writeAnswer(w http.ResponseWriter, body map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(body)
}

// observations records Options.Observe calls.
type observations struct {
	mu    sync.Mutex
	codes []string
}

func (o *observations) observe(method, code string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codes = append(o.codes, method+" "+code)
}

func (o *observations) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.codes...)
}

// env is a client wired to a fakeGigya over real HTTP.
type env struct {
	t    *testing.T
	fake *fakeGigya
	srv  *httptest.Server
	c    *Client
	logs *observer.ObservedLogs
	obs  *observations
}

type envConfig struct {
	auth AuthMode
	tls  bool
	// untrusted keeps the client's own transport with a TLS server: the
	// test certificate is not trusted.
	untrusted bool
	setup     func(f *fakeGigya, o *Options) // adjusts fake and options before New
}

// newEnv starts a fake Gigya and a client in the given auth mode. At
// cleanup it checks that no log line carries a secret.
func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	f := newFake(cfg.auth)
	core, logs := observer.New(zap.DebugLevel)
	obs := &observations{}
	o := Options{
		APIKey:         testAPIKey,
		UserKey:        testUserKey,
		Auth:           cfg.auth,
		PartnerSecret:  testPartnerSecret,
		RequestTimeout: 5 * time.Second,
		Logger:         zap.New(core),
		Observe:        obs.observe,
	}
	switch cfg.auth {
	case AuthBearer:
		o.PrivateKeyPEM = testKeyPEM(false)
	case AuthSecret, AuthSigned:
		o.Secret = testSecret
	}
	if cfg.setup != nil {
		cfg.setup(f, &o)
	}
	var srv *httptest.Server
	if cfg.tls {
		srv = httptest.NewTLSServer(f)
		if !cfg.untrusted {
			o.Transport = srv.Client().Transport
		}
	} else {
		srv = httptest.NewServer(f)
	}
	t.Cleanup(srv.Close)
	if o.BaseURL == "" {
		o.BaseURL = srv.URL
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New(%v): %v", o, err)
	}
	e := &env{t: t, fake: f, srv: srv, c: c, logs: logs, obs: obs}
	t.Cleanup(func() {
		c.Close()
		for _, entry := range logs.All() {
			e.noSecrets("log line", entry.Message+" "+fmt.Sprint(entry.ContextMap()))
		}
	})
	return e
}

// noSecrets checks text against the canaries and every credential the fake
// server has received so far.
func (e *env) noSecrets(where, text string) {
	e.t.Helper()
	assertNoSecrets(e.t, where, text, e.fake.credentials()...)
}

// gigyaErr asserts that err is a *Error without secrets in its text.
func (e *env) gigyaErr(err error) *Error {
	e.t.Helper()
	if err == nil {
		e.t.Fatal("got nil error, want *gigya.Error")
	}
	e.noSecrets("error text", err.Error())
	var ge *Error
	if !errors.As(err, &ge) {
		e.t.Fatalf("got %T (%v), want *gigya.Error", err, err)
	}
	return ge
}
