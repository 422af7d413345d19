package gigya

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

var allModes = []AuthMode{AuthBearer, AuthSecret, AuthSigned}

// linkRequest has characters that need form encoding and percent encoding.
var linkRequest = NotifyRequest{UID: "_gid_abc+/==", SiteUID: "customer 42/x+y", CID: "checkout", Context: "evt-1"}

func TestNotifyRegistrationAuthModes(t *testing.T) {
	common := []string{"UID", "UIDSig", "UIDTimestamp", "apiKey", "cid", "context", "format", "httpStatusCodes", "siteUID"}
	tests := []struct {
		name       string
		cfg        envConfig
		wantFields []string // beyond common
		wantBearer bool
	}{
		{"bearer PKCS#1", envConfig{auth: AuthBearer}, nil, true},
		{"bearer PKCS#8", envConfig{auth: AuthBearer, setup: func(_ *fakeGigya, o *Options) { o.PrivateKeyPEM = testKeyPEM(true) }}, nil, true},
		{"bearer chosen by default", envConfig{auth: AuthBearer, setup: func(_ *fakeGigya, o *Options) { o.Auth = "" }}, nil, true},
		{"secret", envConfig{auth: AuthSecret}, []string{"secret", "userKey"}, false},
		{"secret over TLS", envConfig{auth: AuthSecret, tls: true}, []string{"secret", "userKey"}, false},
		{"signed", envConfig{auth: AuthSigned}, []string{"nonce", "sig", "timestamp", "userKey"}, false},
		{"signed over TLS", envConfig{auth: AuthSigned, tls: true}, []string{"nonce", "sig", "timestamp", "userKey"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			resp, err := e.c.NotifyRegistration(t.Context(), linkRequest)
			if err != nil {
				e.gigyaErr(err)
				t.Fatalf("NotifyRegistration: %v", err)
			}
			if resp.CallID != "call-1" {
				t.Errorf("CallID = %q, want %q", resp.CallID, "call-1")
			}
			form := e.fake.form(0)
			var got []string
			for k := range form {
				got = append(got, k)
			}
			want := append(slices.Clone(common), tt.wantFields...)
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("form fields = %v, want %v", got, want)
			}
			for k, v := range map[string]string{"UID": linkRequest.UID, "siteUID": linkRequest.SiteUID, "cid": "checkout", "context": "evt-1"} {
				if form.Get(k) != v {
					t.Errorf("form %s = %q, want %q", k, form.Get(k), v)
				}
			}
			if gotBearer := strings.HasPrefix(e.fake.authz[0], "Bearer "); gotBearer != tt.wantBearer {
				t.Errorf("Authorization = %q, want bearer token: %v", e.fake.authz[0], tt.wantBearer)
			}
			if got, want := e.obs.list(), []string{"socialize.notifyRegistration 0"}; !slices.Equal(got, want) {
				t.Errorf("Observe calls = %v, want %v", got, want)
			}
		})
	}
}

func TestNotifyRegistrationWithoutOptionalFields(t *testing.T) {
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, envConfig{auth: mode})
			if _, err := e.c.NotifyRegistration(t.Context(), NotifyRequest{UID: "_gid_1"}); err != nil {
				e.gigyaErr(err)
				t.Fatalf("NotifyRegistration: %v", err)
			}
			for _, k := range []string{"siteUID", "UIDSig", "UIDTimestamp", "cid", "context"} {
				if e.fake.form(0).Has(k) {
					t.Errorf("form has %s, want it absent when not requested", k)
				}
			}
		})
	}
}

// Every attempt must carry new credentials: Gigya rejects reused nonces and
// jtis, and events may be retried long after they were produced.
func TestFreshCredentialsPerAttempt(t *testing.T) {
	tests := []struct {
		mode    AuthMode
		advance time.Duration // between the two calls
		differ  []string      // form fields that must differ
		bearer  bool          // the bearer token must differ
	}{
		{AuthBearer, 0, nil, true},
		{AuthBearer, time.Second, []string{"UIDTimestamp", "UIDSig"}, true},
		{AuthSecret, time.Second, []string{"UIDTimestamp", "UIDSig"}, false},
		{AuthSigned, 0, []string{"nonce", "sig"}, false},
		{AuthSigned, time.Second, []string{"timestamp", "nonce", "sig", "UIDTimestamp", "UIDSig"}, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/advance %v", tt.mode, tt.advance), func(t *testing.T) {
			clock := newFakeClock(testBase)
			e := newEnv(t, envConfig{auth: tt.mode, setup: func(f *fakeGigya, o *Options) {
				f.clock = clock.Now
				o.Now = clock.Now
			}})
			for i := range 2 {
				if _, err := e.c.NotifyRegistration(t.Context(), linkRequest); err != nil {
					e.gigyaErr(err)
					t.Fatalf("call %d: %v", i+1, err)
				}
				clock.Advance(tt.advance)
			}
			first, second := e.fake.form(0), e.fake.form(1)
			for _, k := range tt.differ {
				if first.Get(k) == "" || first.Get(k) == second.Get(k) {
					t.Errorf("%s: first %q, second %q; want two different non-empty values", k, first.Get(k), second.Get(k))
				}
			}
			if tt.advance > 0 {
				if got, want := first.Get("UIDTimestamp"), strconv.FormatInt(testBase.Unix(), 10); got != want {
					t.Errorf("UIDTimestamp = %s, want the clock's %s", got, want)
				}
			}
			if tt.bearer {
				a, b := e.fake.authz[0], e.fake.authz[1]
				_, c1, err1 := VerifyJWT(strings.TrimPrefix(a, "Bearer "), &testKey().PublicKey)
				_, c2, err2 := VerifyJWT(strings.TrimPrefix(b, "Bearer "), &testKey().PublicKey)
				if err1 != nil || err2 != nil {
					t.Fatalf("VerifyJWT: %v, %v", err1, err2)
				}
				if a == b || c1.JTI == c2.JTI {
					t.Errorf("bearer tokens or jtis equal (%q, %q); want fresh ones", c1.JTI, c2.JTI)
				}
				if got, want := c2.IssuedAt-c1.IssuedAt, int64(tt.advance/time.Second); got != want {
					t.Errorf("iat advanced by %d s, want %d", got, want)
				}
			}
		})
	}
}

// A server 10 minutes ahead rejects the first attempt with 403002; the
// client takes the offset from that answer's Date and succeeds at once.
func TestClockSkewRetriedOnce(t *testing.T) {
	const skew = 10 * time.Minute
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) {
			clock := newFakeClock(testBase)
			e := newEnv(t, envConfig{auth: mode, setup: func(f *fakeGigya, o *Options) {
				f.clock = func() time.Time { return clock.Now().Add(skew) }
				o.Now = clock.Now
			}})
			if _, err := e.c.NotifyRegistration(t.Context(), linkRequest); err != nil {
				e.gigyaErr(err)
				t.Fatalf("NotifyRegistration: %v", err)
			}
			if got := e.fake.callCount(methodNotifyRegistration); got != 2 {
				t.Errorf("server saw %d calls, want 2 (one 403002, one retry)", got)
			}
			if got := e.c.ClockOffset(); got != skew {
				t.Errorf("ClockOffset = %v, want %v", got, skew)
			}
			if got, want := e.fake.form(1).Get("UIDTimestamp"), strconv.FormatInt(testBase.Add(skew).Unix(), 10); got != want {
				t.Errorf("retry UIDTimestamp = %s, want %s (corrected clock)", got, want)
			}
			// The offset sticks: the next call needs no retry.
			if _, err := e.c.NotifyRegistration(t.Context(), linkRequest); err != nil {
				t.Fatalf("second NotifyRegistration: %v", err)
			}
			if got := e.fake.callCount(methodNotifyRegistration); got != 3 {
				t.Errorf("server saw %d calls after the second notify, want 3", got)
			}
			wantObs := []string{"socialize.notifyRegistration 403002", "socialize.notifyRegistration 0", "socialize.notifyRegistration 0"}
			if got := e.obs.list(); !slices.Equal(got, wantObs) {
				t.Errorf("Observe calls = %v, want %v", got, wantObs)
			}
			if got := e.logs.FilterMessage("gigya clock offset changed").Len(); got != 1 {
				t.Errorf("%d clock offset log lines, want 1", got)
			}
		})
	}
}

func TestClockSkewPersistent403002(t *testing.T) {
	e := newEnv(t, envConfig{auth: AuthSigned, setup: func(f *fakeGigya, _ *Options) {
		f.hook = func(_ int, w http.ResponseWriter, _ *http.Request) bool {
			writeAnswer(w, map[string]any{"errorCode": 403002, "errorMessage": "Request has expired", "callId": "c"})
			return true
		}
	}})
	_, err := e.c.NotifyRegistration(t.Context(), linkRequest)
	ge := e.gigyaErr(err)
	if got := e.fake.callCount(methodNotifyRegistration); got != 2 {
		t.Errorf("server saw %d calls, want exactly 2", got)
	}
	if ge.Code != 403002 || ge.Class() != ClassClock || !ge.Temporary() || ge.Transport() || ge.Ambiguous() {
		t.Errorf("got code %d class %v temporary %v transport %v ambiguous %v; want 403002 clock true false false",
			ge.Code, ge.Class(), ge.Temporary(), ge.Transport(), ge.Ambiguous())
	}
}

// The offset is learnt from every Gigya answer, but Date's one-second
// resolution must not make it jitter.
func TestClockOffsetLearntFromAnswers(t *testing.T) {
	tests := []struct {
		skew, want time.Duration
	}{
		{0, 0},
		{30 * time.Second, 30 * time.Second},
		{-45 * time.Second, -45 * time.Second},
		{500 * time.Millisecond, 0}, // below Date's resolution
	}
	for _, tt := range tests {
		t.Run(tt.skew.String(), func(t *testing.T) {
			clock := newFakeClock(testBase)
			e := newEnv(t, envConfig{auth: AuthSigned, setup: func(f *fakeGigya, o *Options) {
				f.clock = func() time.Time { return clock.Now().Add(tt.skew) }
				o.Now = clock.Now
			}})
			for range 3 {
				if _, err := e.c.NotifyRegistration(t.Context(), linkRequest); err != nil {
					t.Fatalf("NotifyRegistration: %v", err)
				}
				clock.Advance(300 * time.Millisecond)
			}
			if got := e.c.ClockOffset(); got != tt.want {
				t.Errorf("ClockOffset = %v, want %v", got, tt.want)
			}
			if got := e.fake.callCount(methodNotifyRegistration); got != 3 {
				t.Errorf("server saw %d calls, want 3 (no 403002)", got)
			}
		})
	}
}

// Transport failures have no Gigya answer: the call may or may not have
// been applied, so they are Transport, Ambiguous and Temporary.
func TestTransportFailures(t *testing.T) {
	tests := []struct {
		name       string
		hook       func(w http.ResponseWriter, r *http.Request)
		wantObs    string
		wantStatus int
		wantIs     error
		wantIn     string // in the error text
	}{
		{"HTTP 503", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "<html>down</html>", http.StatusServiceUnavailable)
		}, "http_503", 503, nil, "HTTP 503 Service Unavailable"},
		{"HTTP 502 with Gigya JSON", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`{"errorCode":0}`))
		}, "http_502", 502, nil, "HTTP 502 Bad Gateway"},
		{"non-JSON 200", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte("<html>maintenance</html>"))
		}, "invalid_response", 200, nil, "invalid response: HTTP 200, text/html, 24 bytes"},
		{"JSON without errorCode", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"callId":"x"}`))
		}, "invalid_response", 200, nil, "not Gigya JSON"},
		{"body over 64 KiB", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"errorCode":0,"pad":"` + strings.Repeat("a", 64<<10) + `"}`))
		}, "invalid_response", 200, nil, "larger than 64 KiB"},
		{"connection closed", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, "transport", 0, nil, "EOF"},
		{"timeout", func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, "transport", 0, context.DeadlineExceeded, "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envConfig{auth: AuthSigned, setup: func(f *fakeGigya, o *Options) {
				if tt.wantIs == context.DeadlineExceeded {
					// Only here: a short timeout elsewhere would turn a slow
					// (-race, loaded machine) read into a timeout too.
					o.RequestTimeout = 200 * time.Millisecond
				}
				f.hook = func(_ int, w http.ResponseWriter, r *http.Request) bool { tt.hook(w, r); return true }
			}})
			_, err := e.c.NotifyRegistration(t.Context(), linkRequest)
			ge := e.gigyaErr(err)
			if ge.Code != 0 || !ge.Transport() || !ge.Ambiguous() || !ge.Temporary() || ge.Class() != ClassTransient {
				t.Errorf("got code %d transport %v ambiguous %v temporary %v class %v; want 0 true true true transient (%v)",
					ge.Code, ge.Transport(), ge.Ambiguous(), ge.Temporary(), ge.Class(), err)
			}
			if ge.HTTPStatus != tt.wantStatus {
				t.Errorf("HTTPStatus = %d, want %d", ge.HTTPStatus, tt.wantStatus)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error text %q, want it to contain %q", err, tt.wantIn)
			}
			if !strings.HasPrefix(err.Error(), "socialize.notifyRegistration: transport: ") {
				t.Errorf("error text %q, want prefix %q", err, "socialize.notifyRegistration: transport: ")
			}
			if got, want := e.obs.list(), []string{"socialize.notifyRegistration " + tt.wantObs}; !slices.Equal(got, want) {
				t.Errorf("Observe calls = %v, want %v", got, want)
			}
			if got := e.fake.callCount(methodNotifyRegistration); got != 1 {
				t.Errorf("server saw %d calls, want 1 (no hidden retry)", got)
			}
		})
	}
}

// Many goroutines share one client, as the worker does, while Gigya's clock
// is skewed: the race detector watches the offset and the pools.
func TestConcurrentCalls(t *testing.T) {
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, envConfig{auth: mode, setup: func(f *fakeGigya, _ *Options) {
				f.clock = func() time.Time { return time.Now().Add(7 * time.Minute) }
			}})
			const workers, calls = 16, 4
			errs := make(chan error, workers*calls)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range calls {
						req := linkRequest
						req.SiteUID = fmt.Sprintf("customer-%d-%d", w, i)
						_, err := e.c.NotifyRegistration(t.Context(), req)
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					e.gigyaErr(err)
					t.Errorf("NotifyRegistration: %v", err)
				}
			}
			if got := e.c.ClockOffset(); got < 7*time.Minute-2*time.Second || got > 7*time.Minute+time.Second {
				t.Errorf("ClockOffset = %v, want about 7m", got)
			}
		})
	}
}

// A caller's cancellation is a transport failure (the request may have
// left), but one the caller can tell from a network failure.
func TestCallerCancellation(t *testing.T) {
	release := make(chan struct{})
	e := newEnv(t, envConfig{auth: AuthSecret, setup: func(f *fakeGigya, _ *Options) {
		f.hook = func(_ int, _ http.ResponseWriter, r *http.Request) bool {
			close(release)
			<-r.Context().Done()
			return true
		}
	}})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-release; cancel() }()
	_, err := e.c.NotifyRegistration(ctx, linkRequest)
	ge := e.gigyaErr(err)
	if !errors.Is(err, context.Canceled) || !ge.Transport() {
		t.Errorf("got %v (transport %v), want a transport error wrapping context.Canceled", err, ge.Transport())
	}
}

func TestGigyaErrorAnswers(t *testing.T) {
	tests := []struct {
		name      string
		answer    map[string]any
		want      Error
		wantText  string
		ambiguous bool
		temporary bool
	}{
		{"unknown user",
			map[string]any{"errorCode": 403005, "errorMessage": "Unauthorized user", "errorDetails": "UID not found", "callId": "abc"},
			Error{Method: methodNotifyRegistration, Code: 403005, Message: "Unauthorized user", Details: "UID not found", CallID: "abc", HTTPStatus: 200},
			"socialize.notifyRegistration: 403005 Unauthorized user: UID not found (callId abc)", false, false},
		{"wrong data center",
			map[string]any{"errorCode": 301001, "errorMessage": "Invalid data center", "apiDomain": "eu1.gigya.com", "callId": "d1"},
			Error{Method: methodNotifyRegistration, Code: 301001, Message: "Invalid data center", CallID: "d1", APIDomain: "eu1.gigya.com", HTTPStatus: 200},
			"socialize.notifyRegistration: 301001 Invalid data center (apiDomain eu1.gigya.com) (callId d1)", false, false},
		{"timeout, maybe applied",
			map[string]any{"errorCode": 504002, "errorMessage": "Timeout", "callId": "t1"},
			Error{Method: methodNotifyRegistration, Code: 504002, Message: "Timeout", CallID: "t1", HTTPStatus: 200},
			"socialize.notifyRegistration: 504002 Timeout (callId t1)", true, true},
		{"rate limit",
			map[string]any{"errorCode": 403048, "errorMessage": "Rate limit exceeded"},
			Error{Method: methodNotifyRegistration, Code: 403048, Message: "Rate limit exceeded", HTTPStatus: 200},
			"socialize.notifyRegistration: 403048 Rate limit exceeded", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envConfig{auth: AuthBearer, setup: func(f *fakeGigya, _ *Options) {
				f.hook = func(_ int, w http.ResponseWriter, _ *http.Request) bool { writeAnswer(w, tt.answer); return true }
			}})
			_, err := e.c.NotifyRegistration(t.Context(), linkRequest)
			ge := e.gigyaErr(err)
			if *ge != tt.want {
				t.Errorf("got %#v, want %#v", *ge, tt.want)
			}
			if err.Error() != tt.wantText {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.wantText)
			}
			if ge.Transport() || ge.Ambiguous() != tt.ambiguous || ge.Temporary() != tt.temporary {
				t.Errorf("transport %v ambiguous %v temporary %v, want false %v %v", ge.Transport(), ge.Ambiguous(), ge.Temporary(), tt.ambiguous, tt.temporary)
			}
			if got := e.fake.callCount(methodNotifyRegistration); got != 1 {
				t.Errorf("server saw %d calls, want 1", got)
			}
		})
	}
}

func TestGetUserInfo(t *testing.T) {
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, envConfig{auth: mode, setup: func(f *fakeGigya, _ *Options) {
				f.users["customer-42"] = true
				f.users["_gid_plain"] = false
			}})
			tests := []struct {
				uid  string
				want UserInfo
			}{
				{"customer-42", UserInfo{UID: "customer-42", IsSiteUID: true, CallID: "info-1"}},
				{"_gid_plain", UserInfo{UID: "_gid_plain", IsSiteUID: false, CallID: "info-2"}},
			}
			for _, tt := range tests {
				got, err := e.c.GetUserInfo(t.Context(), tt.uid)
				if err != nil {
					e.gigyaErr(err)
					t.Fatalf("GetUserInfo(%q): %v", tt.uid, err)
				}
				if got != tt.want {
					t.Errorf("GetUserInfo(%q) = %+v, want %+v", tt.uid, got, tt.want)
				}
			}
			if f := e.fake.form(0); f.Get("UID") != "customer-42" || f.Has("siteUID") {
				t.Errorf("getUserInfo form = %v, want UID=customer-42 and no siteUID", f)
			}
			_, err := e.c.GetUserInfo(t.Context(), "nobody")
			ge := e.gigyaErr(err)
			if !ge.UnknownUser() || ge.Method != methodGetUserInfo || ge.Temporary() {
				t.Errorf("unknown account: got %v (UnknownUser %v, Temporary %v), want a permanent unknown-user error of %s",
					err, ge.UnknownUser(), ge.Temporary(), methodGetUserInfo)
			}
		})
	}
}

// Requests that cannot be built fail permanently without reaching Gigya.
func TestRequestsRejectedBeforeSending(t *testing.T) {
	e := newEnv(t, envConfig{auth: AuthSigned, setup: func(_ *fakeGigya, o *Options) { o.PartnerSecret = "" }})
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"notify without UID", func() error {
			_, err := e.c.NotifyRegistration(t.Context(), NotifyRequest{SiteUID: "s"})
			return err
		}, "UID is required"},
		{"getUserInfo without UID", func() error {
			_, err := e.c.GetUserInfo(t.Context(), "")
			return err
		}, "UID is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ge := e.gigyaErr(tt.call())
			if ge.Class() != ClassPermanent || ge.Temporary() || ge.Transport() || ge.Ambiguous() {
				t.Errorf("got class %v temporary %v transport %v ambiguous %v, want permanent false false false",
					ge.Class(), ge.Temporary(), ge.Transport(), ge.Ambiguous())
			}
			if !strings.Contains(ge.Error(), tt.want) {
				t.Errorf("Error() = %q, want it to mention %q", ge.Error(), tt.want)
			}
		})
	}
	if n := len(e.obs.list()); n != 0 {
		t.Errorf("%d HTTP attempts, want none", n)
	}
	// Without siteUID the client works without a partner secret.
	if _, err := e.c.NotifyRegistration(t.Context(), NotifyRequest{UID: "u"}); err != nil {
		t.Errorf("NotifyRegistration without siteUID: %v", err)
	}
}

// A redirect could carry the form (and a secret) to another host, so the
// client must not follow it.
func TestRedirectNotFollowed(t *testing.T) {
	other := newFake(AuthSecret)
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	e := newEnv(t, envConfig{auth: AuthSecret, setup: func(f *fakeGigya, _ *Options) {
		f.hook = func(_ int, w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, otherSrv.URL+r.URL.Path, http.StatusTemporaryRedirect)
			return true
		}
	}})
	_, err := e.c.NotifyRegistration(t.Context(), linkRequest)
	if ge := e.gigyaErr(err); !ge.Transport() || ge.HTTPStatus != http.StatusTemporaryRedirect {
		t.Errorf("got %v (transport %v, status %d), want a transport error with status 307", err, ge.Transport(), ge.HTTPStatus)
	}
	if n := other.callCount(methodNotifyRegistration); n != 0 {
		t.Errorf("redirect target got %d calls, want 0", n)
	}
}

// Bodies must be drained and closed so that keep-alive connections are
// reused, for error answers as for successes.
func TestConnectionReuse(t *testing.T) {
	e := newEnv(t, envConfig{auth: AuthSecret, setup: func(f *fakeGigya, _ *Options) {
		f.hook = func(n int, w http.ResponseWriter, _ *http.Request) bool {
			if n%3 == 0 {
				writeAnswer(w, map[string]any{"errorCode": 403005, "errorMessage": "Unauthorized user", "errorDetails": strings.Repeat("x", 8<<10)})
				return true
			}
			return false
		}
	}})
	failed := 0
	for i := range 20 {
		_, err := e.c.NotifyRegistration(t.Context(), linkRequest)
		if err != nil {
			if ge := e.gigyaErr(err); ge.Code != 403005 {
				t.Fatalf("call %d: %v, want success or the hook's 403005", i+1, err)
			}
			failed++
		}
	}
	// Both paths must have run for the check to mean anything.
	if failed != 6 {
		t.Errorf("%d of 20 calls failed, want 6 (every third)", failed)
	}
	e.fake.mu.Lock()
	conns := len(e.fake.remotes)
	e.fake.mu.Unlock()
	if conns != 1 {
		t.Errorf("20 sequential calls used %d connections, want 1", conns)
	}
}

// The redaction test: a hostile server echoes everything it received (form
// body, form values, Authorization header) into errorMessage and
// errorDetails, and the client still must not put a secret into an error
// text or a log line; Options must not print one in any format.
func TestRedaction(t *testing.T) {
	echo := func(n int, w http.ResponseWriter, r *http.Request) bool {
		var all []string
		for k, vs := range r.PostForm {
			all = append(all, k+"="+strings.Join(vs, ","))
		}
		code := 403003
		if n == 1 {
			code = 403002 // exercise the clock path and its log line too
			w.Header().Set("Date", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		}
		writeAnswer(w, map[string]any{
			"errorCode":    code,
			"errorMessage": "bad " + r.Header.Get("Authorization"),
			"errorDetails": r.PostForm.Encode() + " | " + strings.Join(all, " ") + " | " + r.Header.Get("Authorization"),
			"callId":       "echo",
		})
		return true
	}
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, envConfig{auth: mode, setup: func(f *fakeGigya, _ *Options) { f.hook = echo }})
			_, err := e.c.NotifyRegistration(t.Context(), linkRequest)
			ge := e.gigyaErr(err) // checks the text against canaries and received credentials
			if !strings.Contains(ge.Details, "[redacted]") {
				t.Errorf("Details = %q, want the echoed secret replaced by [redacted]", ge.Details)
			}
			if len(e.fake.credentials()) == 0 {
				t.Fatal("fake received no credentials; the test would prove nothing")
			}
			if e.logs.Len() == 0 {
				t.Error("no log lines captured; want the clock offset change logged")
			}
			_, err = e.c.GetUserInfo(t.Context(), "customer-42")
			e.gigyaErr(err)
		})
	}

	t.Run("Options formats", func(t *testing.T) {
		o := Options{APIKey: testAPIKey, UserKey: testUserKey, Secret: testSecret, PartnerSecret: testPartnerSecret,
			PrivateKeyPEM: testKeyPEM(true), BaseURL: "https://user:" + testSecret + "@example.com"}
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			text := fmt.Sprintf(format, o)
			assertNoSecrets(t, "Options "+format, text)
			if !strings.Contains(text, "Secret:[redacted]") || !strings.Contains(text, "PartnerSecret:[redacted]") || !strings.Contains(text, "PrivateKeyPEM:[redacted]") {
				t.Errorf("Options %s = %s, want each secret shown as [redacted]", format, text)
			}
		}
		core, logs := observer.New(zap.DebugLevel)
		zap.New(core).Info("config", zap.Any("options", o), zap.Stringer("stringer", o))
		for _, entry := range logs.All() {
			assertNoSecrets(t, "logged Options", fmt.Sprint(entry.ContextMap()))
		}
	})

	t.Run("validation errors", func(t *testing.T) {
		// Invalid values that are nonetheless secrets must not be quoted.
		const badSecret = "canary-not-base64-secret!!"
		for _, o := range []Options{
			{APIKey: "k", UserKey: "u", Auth: AuthSigned, Secret: badSecret},
			{APIKey: "k", UserKey: "u", Auth: AuthSecret, Secret: testSecret, PartnerSecret: badSecret},
			{APIKey: "k", UserKey: "u", Auth: AuthSecret, Secret: testSecret, BaseURL: "http://gigya.example.com"},
			{APIKey: "k", UserKey: "u", Auth: AuthBearer, PrivateKeyPEM: []byte(badSecret)},
			{APIKey: "k", UserKey: "u", Auth: AuthSecret, Secret: testSecret, BaseURL: "https://u:" + badSecret + "@h"},
		} {
			_, err := New(o)
			if err == nil {
				t.Fatalf("New(%v): got nil error", o)
			}
			assertNoSecrets(t, "New error", err.Error(), badSecret)
		}
	})
}

// The hot-path form encoder must agree with url.Values.Encode.
func TestFormEncode(t *testing.T) {
	f := form{{"UID", "_gid_abc+/=="}, {"siteUID", "customer 42/ü&x=y"}, {"apiKey", "3_k"}, {"dup", "1"}, {"dup", "2"}}
	got, err := url.ParseQuery(string(f.encode()))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"UID": {"_gid_abc+/=="}, "siteUID": {"customer 42/ü&x=y"}, "apiKey": {"3_k"}, "dup": {"1", "2"}}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("decoded form = %v, want %v", got, want)
	}
}
