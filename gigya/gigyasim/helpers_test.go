package gigyasim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regnotify/regnotify/gigya"
)

const (
	testAPIKey  = "3_test-api-key"
	testUserKey = "test-user-key"
	// testPartnerSecret is the demo partner secret of the shared Gigya notes.
	testPartnerSecret = "ZGVtby1wYXJ0bmVyLXNlY3JldC1ieXRlcw=="
)

var (
	testSecret = base64.StdEncoding.EncodeToString([]byte("test-application-secret"))
	// testKey is generated once: RSA key generation is slow under -race.
	testKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	otherKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
)

// testClock is a settable clock for the simulator's Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_800_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testEnv is a simulator behind a real HTTP server and a client for it.
type testEnv struct {
	sim   *Server
	srv   *httptest.Server
	clock *testClock
	nonce atomic.Int64
}

// newEnv starts a simulator with all auth modes enabled, a fake clock, call
// recording, and whatever mutate changes.
func newEnv(t *testing.T, mutate func(*Config)) *testEnv {
	t.Helper()
	env := &testEnv{clock: newTestClock()}
	cfg := Config{
		APIKey:        testAPIKey,
		UserKey:       testUserKey,
		Secret:        testSecret,
		PublicKey:     &testKey().PublicKey,
		PartnerSecret: testPartnerSecret,
		RecordCalls:   true,
		Now:           env.clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	sim, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	env.sim = sim
	env.srv = httptest.NewServer(sim)
	t.Cleanup(env.srv.Close)
	return env
}

// auth adds credentials to a request about to be sent to rawURL.
type auth func(t *testing.T, e *testEnv, rawURL string, form url.Values, h http.Header)

func secretAuth(secret string) auth {
	return func(_ *testing.T, _ *testEnv, _ string, form url.Values, _ http.Header) {
		form.Set("userKey", testUserKey)
		form.Set("secret", secret)
	}
}

// signedAuth signs with the given secret; ts 0 means the simulator's now.
func signedAuth(secret string, ts int64, nonce string) auth {
	return func(t *testing.T, e *testEnv, rawURL string, form url.Values, _ http.Header) {
		t.Helper()
		ts, nonce := ts, nonce // the closure may run many times
		if ts == 0 {
			ts = e.clock.Now().Unix()
		}
		if nonce == "" {
			nonce = strconv.FormatInt(e.nonce.Add(1), 10)
		}
		form.Set("userKey", testUserKey)
		form.Set("timestamp", strconv.FormatInt(ts, 10))
		form.Set("nonce", nonce)
		sig, err := gigya.RequestSignature(secret, rawURL, form)
		if err != nil {
			t.Fatal(err)
		}
		form.Set("sig", sig)
	}
}

// bearerAuth signs a token with key; iat 0 means the simulator's now.
func bearerAuth(key *rsa.PrivateKey, kid string, iat int64, jti string) auth {
	return func(t *testing.T, e *testEnv, _ string, _ url.Values, h http.Header) {
		t.Helper()
		iat, jti := iat, jti // the closure may run many times
		if iat == 0 {
			iat = e.clock.Now().Unix()
		}
		if jti == "" {
			jti = "jti-" + strconv.FormatInt(e.nonce.Add(1), 10)
		}
		tok, err := gigya.SignJWT(key, kid, gigya.JWTClaims{IssuedAt: iat, JTI: jti})
		if err != nil {
			t.Fatal(err)
		}
		h.Set("Authorization", "Bearer "+tok)
	}
}

var (
	okSecret = secretAuth(testSecret)
	okSigned = signedAuth(testSecret, 0, "")
	okBearer = func() auth { return bearerAuth(testKey(), testUserKey, 0, "") } // a func: testKey is slow
)

// gigyaResponse is the part of a Gigya answer the tests read.
type gigyaResponse struct {
	CallID             string `json:"callId"`
	ErrorCode          int    `json:"errorCode"`
	ErrorMessage       string `json:"errorMessage"`
	ErrorDetails       string `json:"errorDetails"`
	APIVersion         int    `json:"apiVersion"`
	StatusCode         int    `json:"statusCode"`
	StatusReason       string `json:"statusReason"`
	Time               string `json:"time"`
	Context            string `json:"context"`
	UID                string `json:"UID"`
	IsSiteUID          bool   `json:"isSiteUID"`
	IsRegistered       bool   `json:"isRegistered"`
	UIDSignature       string `json:"UIDSignature"`
	SignatureTimestamp string `json:"signatureTimestamp"`
}

// baseForm is what every call carries.
func baseForm(uid string) url.Values {
	f := url.Values{"apiKey": {testAPIKey}, "format": {"json"}, "httpStatusCodes": {"false"}}
	if uid != "" {
		f.Set("UID", uid)
	}
	return f
}

// withSiteUID adds siteUID and a UIDSig made at ts (0: the simulator's now).
func (e *testEnv) withSiteUID(t *testing.T, form url.Values, siteUID string, ts int64) url.Values {
	t.Helper()
	if ts == 0 {
		ts = e.clock.Now().Unix()
	}
	sig, err := gigya.UIDSignature(testPartnerSecret, ts, siteUID)
	if err != nil {
		t.Fatal(err)
	}
	form.Set("siteUID", siteUID)
	form.Set("UIDTimestamp", strconv.FormatInt(ts, 10))
	form.Set("UIDSig", sig)
	return form
}

// do posts form (with a) to method and returns the decoded answer.
func (e *testEnv) do(t *testing.T, method string, form url.Values, a auth) (gigyaResponse, *http.Response) {
	t.Helper()
	resp, err := e.send(t, method, form, a)
	if err != nil {
		t.Fatalf("POST %s: %v", method, err)
	}
	defer resp.Body.Close()
	var gr gigyaResponse
	if err := json.NewDecoder(resp.Body).Decode(&gr); err != nil {
		t.Fatalf("POST %s: decode: %v", method, err)
	}
	return gr, resp
}

func (e *testEnv) send(t *testing.T, method string, form url.Values, a auth) (*http.Response, error) {
	t.Helper()
	rawURL := e.srv.URL + "/" + method
	h := http.Header{}
	if a != nil {
		a(t, e, rawURL, form, h)
	}
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.srv.Client().Do(req)
}

// code posts and returns only the errorCode.
func (e *testEnv) code(t *testing.T, method string, form url.Values, a auth) int {
	t.Helper()
	gr, _ := e.do(t, method, form, a)
	return gr.ErrorCode
}

func (e *testEnv) notify(t *testing.T, uid string, a auth) int {
	t.Helper()
	return e.code(t, MethodNotifyRegistration, baseForm(uid), a)
}

func (e *testEnv) link(t *testing.T, uid, siteUID string) int {
	t.Helper()
	return e.code(t, MethodNotifyRegistration, e.withSiteUID(t, baseForm(uid), siteUID, 0), okSecret)
}

func (e *testEnv) userInfo(t *testing.T, uid string) gigyaResponse {
	t.Helper()
	gr, _ := e.do(t, MethodGetUserInfo, baseForm(uid), okSecret)
	return gr
}

// tryCode is code for goroutines other than the test's: it returns errors
// instead of failing the test.
func (e *testEnv) tryCode(t *testing.T, method string, form url.Values, a auth) (int, error) {
	resp, err := e.send(t, method, form, a)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var gr gigyaResponse
	if err := json.NewDecoder(resp.Body).Decode(&gr); err != nil {
		return 0, err
	}
	return gr.ErrorCode, nil
}
