package gigyasim

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestMissingUID(t *testing.T) {
	env := newEnv(t, nil)
	for _, method := range []string{MethodNotifyRegistration, MethodGetUserInfo} {
		if got, want := env.code(t, method, baseForm(""), okSecret), codeMissingParameter; got != want {
			t.Errorf("%s without UID: errorCode = %d, want %d", method, got, want)
		}
	}
}

func TestSiteUIDRules(t *testing.T) {
	tests := []struct {
		name    string
		siteUID string
		want    int
	}{
		{"plain", "customer-42", codeOK},
		{"space and punctuation", "user 42/~!", codeOK},
		{"252 characters", strings.Repeat("a", 252), codeOK},
		{"253 characters", strings.Repeat("a", 253), codeInvalidParameter},
		{"non-ASCII", "user-ü", codeInvalidParameter},
		{"control character", "user\t42", codeInvalidParameter},
		{"DEL", "user\x7f", codeInvalidParameter},
		{"equal to UID", "u1", codeInvalidParameter},
		{"empty", "", codeInvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, nil)
			if got := env.link(t, "u1", tt.siteUID); got != tt.want {
				t.Errorf("siteUID %q: errorCode = %d, want %d", tt.siteUID, got, tt.want)
			}
		})
	}
}

func TestCIDLength(t *testing.T) {
	env := newEnv(t, nil)
	for _, tt := range []struct {
		cid  string
		want int
	}{
		{strings.Repeat("c", 100), codeOK},
		{strings.Repeat("c", 101), codeInvalidParameter},
	} {
		f := baseForm("u1")
		f.Set("cid", tt.cid)
		if got := env.code(t, MethodNotifyRegistration, f, okSecret); got != tt.want {
			t.Errorf("cid of %d: errorCode = %d, want %d", len(tt.cid), got, tt.want)
		}
	}
}

func TestUIDSig(t *testing.T) {
	const window = int64(UIDSigWindow / time.Second)
	now := newTestClock().Now().Unix()
	tests := []struct {
		name   string
		mutate func(*Config)
		form   func(*testing.T, *testEnv) url.Values
		want   int
	}{
		{"valid", nil, func(t *testing.T, e *testEnv) url.Values {
			return e.withSiteUID(t, baseForm("u1"), "s1", 0)
		}, codeOK},
		{"4 minutes old", nil, func(t *testing.T, e *testEnv) url.Values {
			return e.withSiteUID(t, baseForm("u1"), "s1", now-240)
		}, codeOK},
		{"at the edge of the window", nil, func(t *testing.T, e *testEnv) url.Values {
			return e.withSiteUID(t, baseForm("u1"), "s1", now-window)
		}, codeOK},
		{"stale", nil, func(t *testing.T, e *testEnv) url.Values {
			return e.withSiteUID(t, baseForm("u1"), "s1", now-window-1)
		}, codeRequestExpired},
		{"from the future", nil, func(t *testing.T, e *testEnv) url.Values {
			return e.withSiteUID(t, baseForm("u1"), "s1", now+window+1)
		}, codeRequestExpired},
		{"signature of another siteUID", nil, func(t *testing.T, e *testEnv) url.Values {
			f := e.withSiteUID(t, baseForm("u1"), "s2", 0)
			f.Set("siteUID", "s1")
			return f
		}, codeInvalidSignature},
		{"signature of another timestamp", nil, func(t *testing.T, e *testEnv) url.Values {
			f := e.withSiteUID(t, baseForm("u1"), "s1", now-1)
			f.Set("UIDTimestamp", "1800000000")
			return f
		}, codeInvalidSignature},
		{"missing UIDSig", nil, func(t *testing.T, e *testEnv) url.Values {
			f := e.withSiteUID(t, baseForm("u1"), "s1", 0)
			f.Del("UIDSig")
			return f
		}, codeMissingParameter},
		{"missing UIDTimestamp", nil, func(t *testing.T, e *testEnv) url.Values {
			f := e.withSiteUID(t, baseForm("u1"), "s1", 0)
			f.Del("UIDTimestamp")
			return f
		}, codeMissingParameter},
		{"UIDTimestamp not a number", nil, func(t *testing.T, e *testEnv) url.Values {
			f := e.withSiteUID(t, baseForm("u1"), "s1", 0)
			f.Set("UIDTimestamp", "now")
			return f
		}, codeInvalidParameter},
		{"simulator without partner secret", func(c *Config) { c.PartnerSecret = "" }, func(t *testing.T, e *testEnv) url.Values {
			return e.withSiteUID(t, baseForm("u1"), "s1", 0)
		}, codeInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, tt.mutate)
			if got := env.code(t, MethodNotifyRegistration, tt.form(t, env), okSecret); got != tt.want {
				t.Errorf("errorCode = %d, want %d", got, tt.want)
			}
			if tt.want != codeOK {
				if _, ok := env.sim.Linked("s1"); ok {
					t.Errorf("a rejected call linked s1")
				}
			}
		})
	}
}

// TestUIDSigWithClockSkew checks that the UIDSig window is on the skewed clock.
func TestUIDSigWithClockSkew(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Faults.ClockSkew = 10 * time.Minute })
	if got, want := env.code(t, MethodNotifyRegistration, env.withSiteUID(t, baseForm("u1"), "s1", 0), okBearer()), codeRequestExpired; got != want {
		// Both the bearer iat and the UIDTimestamp are on the unskewed clock:
		// the bearer check fails first.
		t.Errorf("errorCode = %d, want %d", got, want)
	}
	skewed := env.clock.Now().Add(10 * time.Minute).Unix()
	f := env.withSiteUID(t, baseForm("u1"), "s1", skewed-int64(UIDSigWindow/time.Second)-1)
	if got, want := env.code(t, MethodNotifyRegistration, f, okSecret), codeRequestExpired; got != want {
		t.Errorf("UIDTimestamp just outside the skewed window: errorCode = %d, want %d", got, want)
	}
	f = env.withSiteUID(t, baseForm("u1"), "s1", skewed)
	if got, want := env.code(t, MethodNotifyRegistration, f, okSecret), codeOK; got != want {
		t.Errorf("UIDTimestamp on the skewed clock: errorCode = %d, want %d", got, want)
	}
}
