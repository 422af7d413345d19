package gigyasim

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Wall-clock assertions are lower bounds only: a timer never fires early, but
// a loaded CI machine can be arbitrarily late.

func TestLatency(t *testing.T) {
	tests := []struct {
		name    string
		faults  Faults
		atLeast time.Duration
	}{
		{"fixed", Faults{Latency: 150 * time.Millisecond}, 150 * time.Millisecond},
		{"with jitter", Faults{Latency: 100 * time.Millisecond, Jitter: 50 * time.Millisecond}, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, func(c *Config) { c.Faults = tt.faults })
			for range 3 {
				start := time.Now()
				if got := env.notify(t, "u1", okSecret); got != codeOK {
					t.Fatalf("errorCode = %d, want 0", got)
				}
				if got := time.Since(start); got < tt.atLeast {
					t.Errorf("call took %v, want at least %v", got, tt.atLeast)
				}
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Faults.RateLimit = 5 }) // burst 1
	counts := map[int]int{}
	for range 20 {
		counts[env.notify(t, "u1", okSecret)]++
	}
	if counts[codeOK] == 0 || counts[codeRateLimited] == 0 || counts[codeOK]+counts[codeRateLimited] != 20 {
		t.Errorf("20 quick calls at 5/s: codes %v, want some 0 and some %d, nothing else", counts, codeRateLimited)
	}
	if got := env.sim.Stats().Calls[MethodNotifyRegistration]["403048"]; got != counts[codeRateLimited] {
		t.Errorf("stats 403048 = %d, want %d", got, counts[codeRateLimited])
	}
}

func TestErrorRate(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Faults.ErrorRate = 1 })
	for range 5 {
		if got := env.notify(t, "u1", okSecret); got != codeGeneralServerError {
			t.Fatalf("error rate 1: errorCode = %d, want %d", got, codeGeneralServerError)
		}
	}
	if err := env.sim.SetFaults(Faults{ErrorRate: 0.5}); err != nil {
		t.Fatal(err)
	}
	counts := map[int]int{}
	for range 100 {
		counts[env.notify(t, "u1", okSecret)]++
	}
	// P(100 calls all alike) = 2^-99.
	if counts[codeOK] == 0 || counts[codeGeneralServerError] == 0 || len(counts) != 2 {
		t.Errorf("error rate 0.5: codes %v, want both 0 and %d", counts, codeGeneralServerError)
	}
}

// TestTransientFaultsChangeNothing checks that a call failed by a transient
// fault left no trace: no link, no registration, no nonce or jti used up.
func TestTransientFaultsChangeNothing(t *testing.T) {
	for _, faults := range []Faults{{ErrorRate: 1}, {Outage: OutageError}, {RateLimit: 1e-9}} {
		env := newEnv(t, func(c *Config) { c.Faults = faults })
		if faults.RateLimit > 0 { // the burst of one goes to another call
			env.notify(t, "other", okSecret)
		}
		link := env.withSiteUID(t, baseForm("u1"), "s1", 0)
		nonce := signedAuth(testSecret, 0, "n-1")
		jti := bearerAuth(testKey(), testUserKey, 0, "j-1")
		for name, a := range map[string]auth{"signed": nonce, "bearer": jti} {
			if got := env.code(t, MethodNotifyRegistration, cloneForm(link), a); got == codeOK {
				t.Fatalf("%+v, %s: errorCode = 0, want a transient error", faults, name)
			}
		}
		if _, ok := env.sim.Linked("s1"); ok {
			t.Errorf("%+v: a failed call linked s1", faults)
		}
		if st := env.sim.Stats(); st.ReplayEntries != 0 {
			t.Errorf("%+v: a failed call recorded %d nonces/jtis", faults, st.ReplayEntries)
		}
		if err := env.sim.SetFaults(Faults{}); err != nil {
			t.Fatal(err)
		}
		if got := env.code(t, MethodNotifyRegistration, cloneForm(link), nonce); got != codeOK {
			t.Errorf("%+v: the same nonce after the fault: errorCode = %d, want 0", faults, got)
		}
		if got := env.code(t, MethodGetUserInfo, baseForm("s1"), jti); got != codeOK {
			t.Errorf("%+v: the same jti after the fault: errorCode = %d, want 0", faults, got)
		}
	}
}

func cloneForm(f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func TestOutageError(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Faults.Outage = OutageError })
	for _, method := range []string{MethodNotifyRegistration, MethodGetUserInfo} {
		if got := env.code(t, method, baseForm("u1"), okSecret); got != codeGeneralServerError {
			t.Errorf("%s in an outage: errorCode = %d, want %d", method, got, codeGeneralServerError)
		}
	}
	if err := env.sim.SetFaults(Faults{Outage: "none"}); err != nil {
		t.Fatal(err)
	}
	if got := env.notify(t, "u1", okSecret); got != codeOK {
		t.Errorf("after the outage: errorCode = %d, want 0", got)
	}
}

func TestOutageDrop(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Faults.Outage = OutageDrop })
	resp, err := env.send(t, MethodNotifyRegistration, baseForm("u1"), okSecret)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped call: got HTTP %d, want a connection error", resp.StatusCode)
	}
	if got := env.sim.Stats().Calls[MethodNotifyRegistration]["dropped"]; got != 1 {
		t.Errorf("stats dropped = %d, want 1", got)
	}
	if calls := env.sim.Calls("u1"); len(calls) != 1 || calls[0].Code != CodeDropped {
		t.Errorf("Calls(u1) = %+v, want one with Code %d", calls, CodeDropped)
	}
	if _, ok := env.sim.Linked("s1"); ok {
		t.Error("a dropped call changed state")
	}
	if err := env.sim.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if got := env.notify(t, "u1", okSecret); got != codeOK {
		t.Errorf("after the outage: errorCode = %d, want 0", got)
	}
}

func TestClientGoneDuringLatency(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Faults.Latency = 10 * time.Second })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.srv.URL+"/"+MethodNotifyRegistration, strings.NewReader(baseForm("u1").Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := env.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("got an answer, want the client's timeout")
	}
	deadline := time.Now().Add(5 * time.Second)
	for env.sim.Stats().Calls[MethodNotifyRegistration]["canceled"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v, want one canceled call", env.sim.Stats().Calls)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClockSkew(t *testing.T) {
	const skew = time.Hour
	env := newEnv(t, func(c *Config) { c.Faults.ClockSkew = skew })
	skewed := env.clock.Now().Add(skew)

	gr, resp := env.do(t, MethodNotifyRegistration, baseForm("u1"), okSecret)
	if got, want := resp.Header.Get("Date"), skewed.UTC().Format(http.TimeFormat); got != want {
		t.Errorf("Date = %q, want %q", got, want)
	}
	if got, want := gr.Time, skewed.UTC().Format(responseTimeFormat); got != want {
		t.Errorf("time = %q, want %q", got, want)
	}
	if got, want := env.notify(t, "u1", okSigned), codeRequestExpired; got != want {
		t.Errorf("timestamp from the unskewed clock: errorCode = %d, want %d", got, want)
	}
	if got, want := env.notify(t, "u1", signedAuth(testSecret, skewed.Unix(), "")), codeOK; got != want {
		t.Errorf("timestamp from the Date header's clock: errorCode = %d, want %d", got, want)
	}
}

func TestFaultsValidate(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		ok     bool
	}{
		{"zero", Faults{}, true},
		{"everything", Faults{Latency: time.Second, Jitter: time.Second, RateLimit: 100, ErrorRate: 1, Outage: OutageDrop, ClockSkew: -time.Hour}, true},
		{"outage none", Faults{Outage: "none"}, true},
		{"negative latency", Faults{Latency: -1}, false},
		{"negative jitter", Faults{Jitter: -1}, false},
		{"negative rate limit", Faults{RateLimit: -1}, false},
		{"error rate above 1", Faults{ErrorRate: 1.5}, false},
		{"unknown outage", Faults{Outage: "sometimes"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.faults.Validate(); (got == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", got, tt.ok)
			}
		})
	}
	env := newEnv(t, nil)
	if err := env.sim.SetFaults(Faults{ErrorRate: 2}); err == nil {
		t.Error("SetFaults(invalid) = nil, want an error")
	}
	if got := env.sim.Faults(); got != (Faults{}) {
		t.Errorf("faults after a refused SetFaults = %+v, want unchanged", got)
	}
}
