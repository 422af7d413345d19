package gigyasim

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func TestAPIKey(t *testing.T) {
	env := newEnv(t, nil)
	tests := []struct {
		name string
		form url.Values
		want int
	}{
		{"right key", baseForm("u1"), codeOK},
		{"wrong key", func() url.Values { f := baseForm("u1"); f.Set("apiKey", "3_other"); return f }(), codeInvalidAPIKey},
		{"missing key", func() url.Values { f := baseForm("u1"); f.Del("apiKey"); return f }(), codeInvalidAPIKey},
		{"two keys", func() url.Values { f := baseForm("u1"); f.Add("apiKey", "3_other"); return f }(), codeInvalidAPIKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := env.code(t, MethodNotifyRegistration, tt.form, okSecret); got != tt.want {
				t.Errorf("errorCode = %d, want %d", got, tt.want)
			}
		})
	}
}

// authCase is one request authentication case: a simulator configured by
// mutate, a request authenticated by auth, the errorCode it must get.
type authCase struct {
	name   string
	mutate func(*Config)
	auth   auth
	want   int
}

func runAuthCases(t *testing.T, tests []authCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, tt.mutate)
			if got := env.notify(t, "u1", tt.auth); got != tt.want {
				t.Errorf("errorCode = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSecretAuth(t *testing.T) {
	tests := []authCase{
		{"right secret", nil, okSecret, codeOK},
		{"wrong secret", nil, secretAuth(testSecret + "x"), codeInvalidSecret},
		{"empty secret", nil, secretAuth(""), codeInvalidSecret},
		{"unknown userKey", nil, func(t *testing.T, e *testEnv, u string, f url.Values, h http.Header) {
			okSecret(t, e, u, f, h)
			f.Set("userKey", "someone-else")
		}, codeUnauthorized},
		{"secret without userKey (partner secret style)", nil, func(_ *testing.T, _ *testEnv, _ string, f url.Values, _ http.Header) {
			f.Set("secret", testSecret)
		}, codeUnauthorized},
		{"secret mode not enabled", func(c *Config) { c.Secret = "" }, okSecret, codeUnauthorized},
	}
	runAuthCases(t, tests)
}

// fakeListener makes the simulator believe the connection came in on addr,
// which is how a test on a loopback-only machine reaches "non-loopback".
func fakeListener(h http.Handler, addr net.Addr) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, addr)))
	})
}

func TestSecretOverPlainHTTP(t *testing.T) {
	public := &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 443}
	tests := []struct {
		name    string
		tls     bool
		addr    net.Addr // nil: the real (loopback) one
		auth    auth
		want    int
		comment string
	}{
		{"plain HTTP, loopback listener", false, nil, okSecret, codeOK, "allowed for local development"},
		{"plain HTTP, non-loopback listener", false, public, okSecret, codeSecretOverHTTP, ""},
		{"plain HTTP, non-loopback, wrong secret", false, public, secretAuth("bad"), codeSecretOverHTTP, "refused before comparing"},
		{"plain HTTP, IPv6 loopback listener", false, &net.TCPAddr{IP: net.IPv6loopback, Port: 80}, okSecret, codeOK, ""},
		{"TLS, non-loopback listener", true, public, okSecret, codeOK, ""},
		{"plain HTTP, non-loopback, signed request", false, public, okSigned, codeOK, "no secret travels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, nil)
			var h http.Handler = env.sim
			if tt.addr != nil {
				h = fakeListener(env.sim, tt.addr)
			}
			env.srv.Close()
			if tt.tls {
				env.srv = httptest.NewTLSServer(h)
			} else {
				env.srv = httptest.NewServer(h)
			}
			t.Cleanup(env.srv.Close)
			if got := env.notify(t, "u1", tt.auth); got != tt.want {
				t.Errorf("errorCode = %d, want %d (%s)", got, tt.want, tt.comment)
			}
		})
	}
}

// TestSecretOverPlainHTTPRealInterface uses a real non-loopback address of
// this machine, if it has one.
func TestSecretOverPlainHTTPRealInterface(t *testing.T) {
	ip := nonLoopbackIP(t)
	env := newEnv(t, nil)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	env.srv.Close()
	env.srv = httptest.NewUnstartedServer(env.sim)
	env.srv.Listener.Close()
	env.srv.Listener = ln
	env.srv.Start()
	t.Cleanup(env.srv.Close)
	if got, want := env.notify(t, "u1", okSecret), codeSecretOverHTTP; got != want {
		t.Errorf("errorCode = %d, want %d", got, want)
	}
}

func nonLoopbackIP(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("interface addresses: %v", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	t.Skip("no non-loopback IPv4 address on this machine")
	return nil
}

func TestSignedAuth(t *testing.T) {
	const window = int64(RequestWindow / time.Second)
	now := newTestClock().Now().Unix()
	tests := []authCase{
		{"valid", nil, okSigned, codeOK},
		{"wrong secret", nil, signedAuth(testSecret[:len(testSecret)-4]+"AAA=", 0, ""), codeInvalidSignature},
		{"param changed after signing", nil, func(t *testing.T, e *testEnv, u string, f url.Values, h http.Header) {
			okSigned(t, e, u, f, h)
			f.Set("UID", "someone-else")
		}, codeInvalidSignature},
		{"signed for another URL", nil, func(t *testing.T, e *testEnv, u string, f url.Values, h http.Header) {
			signedAuth(testSecret, 0, "")(t, e, "https://socialize.us1.gigya.com/socialize.notifyRegistration", f, h)
		}, codeInvalidSignature},
		{"at the edge of the window", nil, signedAuth(testSecret, now-window, ""), codeOK},
		{"ahead at the edge of the window", nil, signedAuth(testSecret, now+window, ""), codeOK},
		{"stale timestamp", nil, signedAuth(testSecret, now-window-1, ""), codeRequestExpired},
		{"future timestamp", nil, signedAuth(testSecret, now+window+1, ""), codeRequestExpired},
		{"missing nonce", nil, func(t *testing.T, e *testEnv, u string, f url.Values, h http.Header) {
			okSigned(t, e, u, f, h)
			f.Del("nonce")
		}, codeMissingParameter},
		{"missing timestamp", nil, func(t *testing.T, e *testEnv, u string, f url.Values, h http.Header) {
			okSigned(t, e, u, f, h)
			f.Del("timestamp")
		}, codeMissingParameter},
		{"timestamp not a number", nil, func(t *testing.T, e *testEnv, u string, f url.Values, h http.Header) {
			f.Set("timestamp", "yesterday")
			f.Set("userKey", testUserKey)
			f.Set("nonce", "n")
			f.Set("sig", "x")
		}, codeInvalidParameter},
		{"unknown userKey", nil, func(t *testing.T, e *testEnv, u string, f url.Values, h http.Header) {
			okSigned(t, e, u, f, h)
			f.Set("userKey", "someone-else")
		}, codeUnauthorized},
		{"signed mode not enabled", func(c *Config) { c.Secret = "" }, okSigned, codeUnauthorized},
	}
	runAuthCases(t, tests)
}

// TestSignedAuthTLS checks that the scheme of the signed URL is taken from
// the connection.
func TestSignedAuthTLS(t *testing.T) {
	env := newEnv(t, nil)
	env.srv.Close()
	env.srv = httptest.NewTLSServer(env.sim)
	t.Cleanup(env.srv.Close)
	if got, want := env.notify(t, "u1", okSigned), codeOK; got != want {
		t.Errorf("signed over https: errorCode = %d, want %d", got, want)
	}
	httpURL := func(t *testing.T, e *testEnv, u string, f url.Values, h http.Header) {
		okSigned(t, e, "http"+u[len("https"):], f, h)
	}
	if got, want := env.notify(t, "u1", httpURL), codeInvalidSignature; got != want {
		t.Errorf("signed for http, sent over https: errorCode = %d, want %d", got, want)
	}
}

func TestBearerAuth(t *testing.T) {
	const window = int64(RequestWindow / time.Second)
	now := newTestClock().Now().Unix()
	tests := []authCase{
		{"valid", nil, okBearer(), codeOK},
		{"signed by another key", nil, bearerAuth(otherKey(), testUserKey, 0, ""), codeInvalidSignature},
		{"kid is not the userKey", nil, bearerAuth(testKey(), "other-user-key", 0, ""), codeUnauthorized},
		{"iat at the edge of the window", nil, bearerAuth(testKey(), testUserKey, now-window, ""), codeOK},
		{"stale iat", nil, bearerAuth(testKey(), testUserKey, now-window-1, ""), codeRequestExpired},
		{"future iat", nil, bearerAuth(testKey(), testUserKey, now+window+1, ""), codeRequestExpired},
		{"garbage token", nil, func(_ *testing.T, _ *testEnv, _ string, _ url.Values, h http.Header) {
			h.Set("Authorization", "Bearer not.a.jwt")
		}, codeInvalidSignature},
		{"not a bearer header", nil, func(_ *testing.T, _ *testEnv, _ string, _ url.Values, h http.Header) {
			h.Set("Authorization", "Basic dXNlcjpwYXNz")
		}, codeInvalidRequest},
		{"bearer not enabled", func(c *Config) { c.PublicKey = nil }, okBearer(), codeUnauthorized},
	}
	runAuthCases(t, tests)
}

func TestMissingCredentials(t *testing.T) {
	env := newEnv(t, nil)
	userKeyOnly := func(_ *testing.T, _ *testEnv, _ string, f url.Values, _ http.Header) { f.Set("userKey", testUserKey) }
	for name, a := range map[string]auth{"nothing": nil, "userKey only": userKeyOnly} {
		if got, want := env.notify(t, "u1", a), codeUnauthorized; got != want {
			t.Errorf("%s: errorCode = %d, want %d", name, got, want)
		}
	}
}

func TestReplay(t *testing.T) {
	tests := []struct {
		name string
		auth auth
	}{
		{"nonce", signedAuth(testSecret, 0, "same-nonce")},
		{"jti", bearerAuth(testKey(), testUserKey, 0, "same-jti")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, nil)
			if got := env.notify(t, "u1", tt.auth); got != codeOK {
				t.Fatalf("first use: errorCode = %d, want 0", got)
			}
			if got, want := env.notify(t, "u2", tt.auth), codeDuplicateNonce; got != want {
				t.Errorf("second use: errorCode = %d, want %d", got, want)
			}
		})
	}
}

// TestReplayMemoryBounded checks that nonces are forgotten once their
// timestamp has left the window, and that an old nonce then fails the window
// check rather than being accepted again.
func TestReplayMemoryBounded(t *testing.T) {
	env := newEnv(t, nil)
	for range 10 {
		if got := env.notify(t, "u1", okSigned); got != codeOK {
			t.Fatalf("errorCode = %d, want 0", got)
		}
	}
	if got, want := env.sim.Stats().ReplayEntries, 10; got != want {
		t.Fatalf("ReplayEntries = %d, want %d", got, want)
	}
	old := env.clock.Now().Unix()
	env.clock.Add(RequestWindow + 2*time.Second)
	if got := env.notify(t, "u1", okBearer()); got != codeOK {
		t.Fatalf("errorCode = %d, want 0", got)
	}
	if got, want := env.sim.Stats().ReplayEntries, 1; got != want {
		t.Errorf("ReplayEntries after the window = %d, want %d", got, want)
	}
	if got, want := env.notify(t, "u1", signedAuth(testSecret, old, "1")), codeRequestExpired; got != want {
		t.Errorf("forgotten nonce replayed: errorCode = %d, want %d", got, want)
	}
}
