package gigyasim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// admin sends an admin request and returns the status and body.
func (e *testEnv) admin(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestAdminFaultsRoundTrip(t *testing.T) {
	env := newEnv(t, nil)
	status, body := env.admin(t, http.MethodPut, "/_sim/faults",
		`{"latency":"50ms","jitter":"10ms","rateLimit":100,"errorRate":0.25,"outage":"error","clockSkew":"-90s"}`)
	if status != http.StatusOK {
		t.Fatalf("PUT: status %d (%s), want 200", status, body)
	}
	want := Faults{Latency: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, RateLimit: 100, ErrorRate: 0.25, Outage: OutageError, ClockSkew: -90 * time.Second}
	if got := env.sim.Faults(); got != want {
		t.Errorf("Faults() after PUT = %+v, want %+v", got, want)
	}
	status, body = env.admin(t, http.MethodGet, "/_sim/faults", "")
	if status != http.StatusOK || !strings.Contains(body, `"latency":"50ms"`) || !strings.Contains(body, `"clockSkew":"-1m30s"`) {
		t.Errorf("GET: status %d, body %s; want 200 with duration strings", status, body)
	}
	var got Faults
	if err := json.Unmarshal([]byte(body), &got); err != nil || got != want {
		t.Errorf("GET decoded = %+v (%v), want %+v", got, err, want)
	}

	// Partial update with POST: only outage changes.
	status, body = env.admin(t, http.MethodPost, "/_sim/faults", `{"outage":"none"}`)
	want.Outage = OutageNone
	if status != http.StatusOK || env.sim.Faults() != want {
		t.Errorf("partial POST: status %d (%s), faults %+v; want 200, %+v", status, body, env.sim.Faults(), want)
	}
	if !strings.Contains(body, `"outage":"none"`) {
		t.Errorf("partial POST answer %s: want outage \"none\"", body)
	}
}

func TestAdminFaultsRejectsBadInput(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not JSON", `latency=5s`},
		{"number for a duration", `{"latency":50}`},
		{"bad duration", `{"latency":"soon"}`},
		{"error rate above 1", `{"errorRate":2}`},
		{"unknown outage", `{"outage":"sometimes"}`},
		{"unknown field", `{"latncy":"1s"}`},
		{"negative rate limit", `{"rateLimit":-1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, func(c *Config) { c.Faults.Latency = time.Millisecond })
			status, body := env.admin(t, http.MethodPut, "/_sim/faults", tt.body)
			if status != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
				t.Errorf("status %d, body %s; want 400 with an error", status, body)
			}
			if got, want := env.sim.Faults(), (Faults{Latency: time.Millisecond}); got != want {
				t.Errorf("faults after a refused update = %+v, want %+v", got, want)
			}
		})
	}
}

func TestAdminStats(t *testing.T) {
	env := newEnv(t, nil)
	env.link(t, "u1", "s1")
	env.notify(t, "u1", okSecret)
	env.notify(t, "u2", okSecret)
	env.userInfo(t, "s1")
	env.code(t, "socialize.nothing", baseForm("u3"), okSecret)

	status, body := env.admin(t, http.MethodGet, "/_sim/stats", "")
	if status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	var got Stats
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	want := map[string]map[string]int{
		MethodNotifyRegistration: {"0": 2, "403005": 1},
		MethodGetUserInfo:        {"0": 1},
		"unknown":                {"404000": 1},
	}
	for method, codes := range want {
		for code, n := range codes {
			if got.Calls[method][code] != n {
				t.Errorf("calls[%s][%s] = %d, want %d (all: %v)", method, code, got.Calls[method][code], n, got.Calls)
			}
		}
	}
	if got.Linked != 1 || got.Registered != 2 || got.Accounts != 2 || got.InFlight != 0 || got.PeakInFlight < 1 {
		t.Errorf("stats = %+v, want linked 1, registered 2, accounts 2, inFlight 0, peakInFlight >= 1", got)
	}
}

func TestAdminReset(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Accounts = []string{"seeded"} })
	env.link(t, "u1", "s1")
	if status, body := env.admin(t, http.MethodPost, "/_sim/reset", ""); status != http.StatusNoContent {
		t.Fatalf("reset: status %d (%s), want 204", status, body)
	}
	if _, ok := env.sim.Linked("s1"); ok {
		t.Error("link survived the reset")
	}
	st := env.sim.Stats()
	if len(st.Calls) != 0 || st.Linked != 0 || st.Registered != 0 || st.Accounts != 1 {
		t.Errorf("stats after reset = %+v, want no calls, nothing linked or registered, the seeded account", st)
	}
	if got := env.sim.Calls("u1"); len(got) != 0 {
		t.Errorf("call log after reset = %+v, want empty", got)
	}
	if got := env.link(t, "u1", "s1"); got != codeOK {
		t.Errorf("link after reset: errorCode = %d, want 0", got)
	}
}

func TestAdminRouting(t *testing.T) {
	env := newEnv(t, nil)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/_sim/stats", http.StatusOK},
		{http.MethodPost, "/_sim/stats", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/_sim/faults", http.StatusMethodNotAllowed},
		{http.MethodGet, "/_sim/reset", http.StatusMethodNotAllowed},
		{http.MethodGet, "/_sim/nothing", http.StatusNotFound},
		{http.MethodGet, "/_sim", http.StatusNotFound},
	}
	for _, tt := range tests {
		if got, _ := env.admin(t, tt.method, tt.path, ""); got != tt.want {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, got, tt.want)
		}
	}
}
