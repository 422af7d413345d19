package gigyasim_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
)

// testSite is one site of the two-site simulator with the credentials a
// client needs.
type testSite struct {
	name, apiKey, userKey, secret, partner string
	keyPEM                                 []byte
	dc                                     string
}

var (
	siteKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
		var ks [2]*rsa.PrivateKey
		for i := range ks {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			ks[i] = k
		}
		return ks
	})
	b64 = func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
)

func twoTestSites() [2]testSite {
	ks := siteKeys()
	pemOf := func(k *rsa.PrivateKey) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	}
	return [2]testSite{
		{"brand-a", "3_brand-a", "uk-a", b64("secret-of-a"), b64("partner-of-a"), pemOf(ks[0]), "us1"},
		{"brand-b", "3_brand-b", "uk-b", b64("secret-of-b"), b64("partner-of-b"), pemOf(ks[1]), "eu1"},
	}
}

// world is a simulator with two data centers (us1, eu1), each on its own
// listener, and the two sites of twoTestSites living one in each.
type world struct {
	sim   *gigyasim.Server
	sites [2]testSite
	dcs   map[string]*httptest.Server
}

func newWorld(t *testing.T, mutate func(*gigyasim.Config)) *world {
	t.Helper()
	w := &world{sites: twoTestSites(), dcs: map[string]*httptest.Server{}}
	cfg := gigyasim.Config{RecordCalls: true}
	for _, name := range []string{"us1", "eu1"} {
		srv := httptest.NewUnstartedServer(nil)
		w.dcs[name] = srv
		cfg.DataCenters = append(cfg.DataCenters, gigyasim.DataCenter{Name: name, Domain: srv.Listener.Addr().String()})
	}
	for i, s := range w.sites {
		cfg.Sites = append(cfg.Sites, gigyasim.Site{
			Name: s.name, APIKey: s.apiKey, UserKey: s.userKey, Secret: s.secret,
			PublicKey: &siteKeys()[i].PublicKey, PartnerSecret: s.partner, DataCenter: s.dc,
		})
	}
	if mutate != nil {
		mutate(&cfg)
	}
	sim, err := gigyasim.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	w.sim = sim
	for name, srv := range w.dcs {
		h, err := sim.DataCenter(name)
		if err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = h
		srv.Start()
		t.Cleanup(srv.Close)
	}
	return w
}

// client is the real gigya client for site i in mode, pointed at the data
// center dc ("" = the site's own).
func (w *world) client(t *testing.T, i int, mode gigya.AuthMode, dc string) *gigya.Client {
	t.Helper()
	s := w.sites[i]
	if dc == "" {
		dc = s.dc
	}
	return w.clientAt(t, s, mode, w.dcs[dc].URL)
}

func (w *world) clientAt(t *testing.T, s testSite, mode gigya.AuthMode, baseURL string) *gigya.Client {
	t.Helper()
	opts := gigya.Options{APIKey: s.apiKey, BaseURL: baseURL, Auth: mode, UserKey: s.userKey,
		PartnerSecret: s.partner, RequestTimeout: 5 * time.Second}
	if mode == gigya.AuthBearer {
		opts.PrivateKeyPEM = s.keyPEM
	} else {
		opts.Secret = s.secret
	}
	c, err := gigya.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// post sends a secret-authenticated call for site s to baseURL with extra
// parameters and returns the HTTP response's status, header and body.
func post(t *testing.T, baseURL string, s testSite, method string, extra url.Values) (int, http.Header, []byte) {
	t.Helper()
	form := url.Values{"apiKey": {s.apiKey}, "userKey": {s.userKey}, "secret": {s.secret}, "format": {"json"}, "httpStatusCodes": {"false"}}
	for k, v := range extra {
		form[k] = v
	}
	resp, err := http.PostForm(baseURL+"/"+method, form)
	if err != nil {
		t.Fatalf("POST %s: %v", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func gigyaCode(err error) (code, httpStatus int, ok bool) {
	var ge *gigya.Error
	if !errors.As(err, &ge) {
		return 0, 0, false
	}
	return ge.Code, ge.HTTPStatus, true
}

// TestSitesEveryAuthMode links a user on each of two sites with the real
// client in every auth mode; the link exists on that site only, and one
// site's credentials do not open the other.
func TestSitesEveryAuthMode(t *testing.T) {
	w := newWorld(t, nil)
	for i := range w.sites {
		for _, mode := range []gigya.AuthMode{gigya.AuthBearer, gigya.AuthSecret, gigya.AuthSigned} {
			t.Run(w.sites[i].name+"/"+string(mode), func(t *testing.T) {
				c := w.client(t, i, mode, "")
				uid, siteUID := "u-"+string(mode)+"-"+strconv.Itoa(i), "s-"+string(mode)+"-"+strconv.Itoa(i)
				if _, err := c.NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: uid, SiteUID: siteUID}); err != nil {
					t.Fatalf("link: %v", err)
				}
				info, err := c.GetUserInfo(t.Context(), siteUID)
				if err != nil || !info.IsSiteUID {
					t.Errorf("GetUserInfo(siteUID) = %+v, %v; want IsSiteUID", info, err)
				}
				if got, ok := w.sim.LinkedAt(w.sites[i].name, siteUID); !ok || got != uid {
					t.Errorf("LinkedAt(own site) = %q, %v; want %q, true", got, ok, uid)
				}
				if _, ok := w.sim.LinkedAt(w.sites[1-i].name, siteUID); ok {
					t.Errorf("the link shows on the other site too")
				}
			})
		}
	}
	t.Run("site a's apiKey with site b's credentials", func(t *testing.T) {
		mixed := w.sites[0]
		mixed.userKey, mixed.secret, mixed.keyPEM = w.sites[1].userKey, w.sites[1].secret, w.sites[1].keyPEM
		for mode, want := range map[gigya.AuthMode]int{gigya.AuthBearer: 403003, gigya.AuthSecret: 403000, gigya.AuthSigned: 403000} {
			_, err := w.clientAt(t, mixed, mode, w.dcs["us1"].URL).NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "x"})
			if code, _, _ := gigyaCode(err); code != want {
				t.Errorf("%s: err = %v, want errorCode %d", mode, err, want)
			}
		}
	})
}

// TestSiteFaults sets each site-wide fault on brand-a and checks what the
// real client gets from it, that brand-b is untouched, and the per-site
// error counts.
func TestSiteFaults(t *testing.T) {
	tests := []struct {
		name     string
		faults   gigyasim.SiteFaults
		wantCode int // errorCode the client sees
		wantHTTP int // HTTP status the client sees
		statKey  string
	}{
		{"invalid secret", gigyasim.SiteFaults{Code: 403010}, 403010, 200, "403010"},
		{"permission denied", gigyasim.SiteFaults{Code: 403007}, 403007, 200, "403007"},
		{"invalid apiKey", gigyasim.SiteFaults{Code: 400093}, 400093, 200, "400093"},
		{"invalid signature", gigyasim.SiteFaults{Code: 403003}, 403003, 200, "403003"},
		{"secret over HTTP", gigyasim.SiteFaults{Code: 403006}, 403006, 200, "403006"},
		{"wrong data center", gigyasim.SiteFaults{Code: 301001, APIDomain: "eu1.gigya.com"}, 301001, 200, "301001"},
		{"load balancer 502", gigyasim.SiteFaults{HTTPStatus: 502}, 0, 502, "http_502"},
		{"load balancer 503", gigyasim.SiteFaults{HTTPStatus: 503}, 0, 503, "http_503"},
		{"site outage error", gigyasim.SiteFaults{Outage: gigyasim.OutageError}, 500001, 200, "500001"},
		{"site outage drop", gigyasim.SiteFaults{Outage: gigyasim.OutageDrop}, 0, 0, "dropped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, nil)
			if err := w.sim.SetSiteFaults("brand-a", tt.faults); err != nil {
				t.Fatal(err)
			}
			for _, mode := range []gigya.AuthMode{gigya.AuthBearer, gigya.AuthSecret, gigya.AuthSigned} {
				_, err := w.client(t, 0, mode, "").NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "u1", SiteUID: "s-" + string(mode)})
				code, status, ok := gigyaCode(err)
				if !ok || code != tt.wantCode || status != tt.wantHTTP {
					t.Errorf("brand-a %s: err = %v; want errorCode %d, HTTP %d", mode, err, tt.wantCode, tt.wantHTTP)
				}
				if tt.wantCode == 301001 {
					var ge *gigya.Error
					if errors.As(err, &ge) && ge.APIDomain != "eu1.gigya.com" {
						t.Errorf("apiDomain = %q, want eu1.gigya.com", ge.APIDomain)
					}
				}
				if _, err := w.client(t, 1, mode, "").NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "u1-" + string(mode)}); err != nil {
					t.Errorf("brand-b %s: %v, want success (the fault is brand-a's)", mode, err)
				}
			}
			if _, ok := w.sim.LinkedAt("brand-a", "s-secret"); ok {
				t.Errorf("a faulted call linked")
			}
			a, _ := w.sim.SiteStats("brand-a")
			b, _ := w.sim.SiteStats("brand-b")
			if a.Errors[tt.statKey] != 3 || a.OK != 0 {
				t.Errorf("brand-a stats errors %v ok %d; want %s: 3, ok 0", a.Errors, a.OK, tt.statKey)
			}
			if len(b.Errors) != 0 || b.OK != 3 {
				t.Errorf("brand-b stats errors %v ok %d; want none, ok 3", b.Errors, b.OK)
			}
		})
	}
}

// TestLoadBalancerPage checks the HTTP fault's answer as a load balancer
// sends it: the status, an HTML body, no JSON.
func TestLoadBalancerPage(t *testing.T) {
	w := newWorld(t, func(c *gigyasim.Config) { c.Sites[0].Faults = gigyasim.SiteFaults{HTTPStatus: 503} })
	status, h, body := post(t, w.dcs["us1"].URL, w.sites[0], gigyasim.MethodNotifyRegistration, url.Values{"UID": {"u1"}})
	if status != 503 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), "<h1>503 Service Unavailable</h1>") || json.Valid(body) {
		t.Errorf("answer %d %q %q; want 503 text/html with the LB page", status, h.Get("Content-Type"), body)
	}
}

// TestWrongDataCenterIsFollowable calls brand-b (eu1) through us1: 301001
// with apiDomain = eu1's listener, and the same call through the base URL
// with that host succeeds.
func TestWrongDataCenterIsFollowable(t *testing.T) {
	w := newWorld(t, nil)
	for _, mode := range []gigya.AuthMode{gigya.AuthBearer, gigya.AuthSecret, gigya.AuthSigned} {
		t.Run(string(mode), func(t *testing.T) {
			req := gigya.NotifyRequest{UID: "u-" + string(mode), SiteUID: "s-" + string(mode)}
			_, err := w.client(t, 1, mode, "us1").NotifyRegistration(t.Context(), req)
			var ge *gigya.Error
			if !errors.As(err, &ge) || ge.Code != 301001 {
				t.Fatalf("brand-b through us1: err = %v, want 301001", err)
			}
			if want := w.dcs["eu1"].Listener.Addr().String(); ge.APIDomain != want {
				t.Fatalf("apiDomain = %q, want eu1's %q", ge.APIDomain, want)
			}
			base, _ := url.Parse(w.dcs["us1"].URL)
			base.Host = ge.APIDomain // the contract: apiDomain replaces the host, the scheme stays
			if _, err := w.clientAt(t, w.sites[1], mode, base.String()).NotifyRegistration(t.Context(), req); err != nil {
				t.Fatalf("following apiDomain %s: %v", base, err)
			}
			if _, ok := w.sim.LinkedAt("brand-b", req.SiteUID); !ok {
				t.Errorf("not linked after following apiDomain")
			}
		})
	}
	status, _, body := post(t, w.dcs["us1"].URL, w.sites[1], gigyasim.MethodGetUserInfo, url.Values{"UID": {"u1"}})
	var a struct {
		ErrorCode int
		APIDomain string `json:"apiDomain"`
	}
	if err := json.Unmarshal(body, &a); err != nil || status != 200 || a.ErrorCode != 301001 || a.APIDomain == "" {
		t.Errorf("raw getUserInfo through the wrong data center: %d %s; want 200, 301001 with apiDomain", status, body)
	}
	if _, err := w.client(t, 0, gigya.AuthSecret, "us1").NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "u1"}); err != nil {
		t.Errorf("brand-a on its own data center: %v", err)
	}
	srv := httptest.NewServer(w.sim) // no data center: every site answers
	defer srv.Close()
	if _, err := w.clientAt(t, w.sites[1], gigya.AuthSecret, srv.URL).NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "u2"}); err != nil {
		t.Errorf("brand-b through ServeHTTP (no data center): %v", err)
	}
}

// TestSiteQuotaTokenBucket makes 200 calls as fast as possible against a
// 50/s, burst 5 quota: the successes must fit the token bucket over the
// measured times, with bounds derived below, and the rest get 403048.
func TestSiteQuotaTokenBucket(t *testing.T) {
	const rate, burst, calls = 50.0, 5, 200
	w := newWorld(t, func(c *gigyasim.Config) { c.Sites[0].Quota = gigyasim.Quota{Rate: rate, Burst: burst} })
	c := w.client(t, 0, gigya.AuthSecret, "")
	starts, ends := make([]time.Time, calls), make([]time.Time, calls)
	ok, limited := 0, 0
	for i := range calls {
		starts[i] = time.Now()
		_, err := c.NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "u" + strconv.Itoa(i)})
		ends[i] = time.Now()
		switch code, _, _ := gigyaCode(err); {
		case err == nil:
			ok++
		case code == 403048:
			limited++
		default:
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// The server's Allow for call i happens in [starts[i], ends[i]]. Tokens
	// minted between the first and the last call are at most
	// rate·(ends[N-1]−starts[0]) and at least rate·(starts[N-1]−ends[0]).
	// Successes ≤ burst + minted. Successes ≥ minted − lost, where tokens are
	// lost only while the bucket is full: between calls i and i+1 (at most
	// ends[i+1]−starts[i] apart) at most max(0, rate·gap − 1), since a call
	// that succeeded leaves ≤ burst−1 tokens and one that failed < 1.
	upper := burst + rate*ends[calls-1].Sub(starts[0]).Seconds()
	lost := 0.0
	for i := 0; i+1 < calls; i++ {
		lost += math.Max(0, rate*ends[i+1].Sub(starts[i]).Seconds()-1)
	}
	lower := rate*starts[calls-1].Sub(ends[0]).Seconds() - lost
	if float64(ok) > upper+1 || float64(ok) < lower-1 || ok+limited != calls {
		t.Errorf("%d successes, %d × 403048 in %v; want successes in [%.1f, %.1f] and the rest 403048",
			ok, limited, ends[calls-1].Sub(starts[0]), lower, upper)
	}
	t.Logf("%d successes, %d × 403048 in %v; bounds [%.1f, %.1f]", ok, limited, ends[calls-1].Sub(starts[0]), lower, upper)
	if ok < burst {
		t.Errorf("%d successes, want at least the burst %d", ok, burst)
	}
	st, _ := w.sim.SiteStats("brand-a")
	if st.RateLimited != limited || st.OK != ok || st.Total != calls {
		t.Errorf("stats rateLimited %d ok %d total %d; want %d, %d, %d", st.RateLimited, st.OK, st.Total, limited, ok, calls)
	}
	if st.CallsPerSecond <= 0 || st.Quota.Rate != rate {
		t.Errorf("stats callsPerSecond %g quota %+v; want > 0 and rate %g", st.CallsPerSecond, st.Quota, rate)
	}
	if b, _ := w.sim.SiteStats("brand-b"); b.Total != 0 {
		t.Errorf("brand-b counted %d calls, want 0", b.Total)
	}
}

// Test403048Shape checks the quota answer key by key against Gigya's.
func Test403048Shape(t *testing.T) {
	w := newWorld(t, func(c *gigyasim.Config) { c.Sites[0].Quota = gigyasim.Quota{Rate: 1e-6, Burst: 1} })
	base := w.dcs["us1"].URL
	post(t, base, w.sites[0], gigyasim.MethodNotifyRegistration, url.Values{"UID": {"u1"}}) // the one token
	status, h, body := post(t, base, w.sites[0], gigyasim.MethodNotifyRegistration, url.Values{"UID": {"u1"}})
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	want := []string{"apiVersion", "callId", "errorCode", "errorDetails", "errorMessage", "statusCode", "time"}
	if status != 200 || h.Get("Retry-After") != "" || strings.Join(sortStrings(keys), ",") != strings.Join(want, ",") {
		t.Errorf("status %d Retry-After %q keys %v; want 200, none, %v", status, h.Get("Retry-After"), sortStrings(keys), want)
	}
	if got["errorCode"] != 403048.0 || got["errorMessage"] != "Api rate limit exceeded" || got["statusCode"] != 403.0 || got["apiVersion"] != 2.0 {
		t.Errorf("answer %s; want errorCode 403048, errorMessage \"Api rate limit exceeded\", statusCode 403, apiVersion 2", body)
	}
}

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestAnswerLost: the link is made but the client gets a dropped connection
// or 504002; getUserInfo(UID=siteUID) then confirms it, without any
// redelivery.
func TestAnswerLost(t *testing.T) {
	tests := []struct {
		lost      string
		wantCode  int
		wantStats string
	}{
		{gigyasim.LostDrop, 0, "dropped"},
		{gigyasim.LostTimeout, 504002, "504002"},
	}
	for _, tt := range tests {
		t.Run(tt.lost, func(t *testing.T) {
			w := newWorld(t, func(c *gigyasim.Config) {
				c.Sites[0].Faults = gigyasim.SiteFaults{LostRate: 1, Lost: tt.lost}
			})
			c := w.client(t, 0, gigya.AuthSigned, "")
			_, err := c.NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "u1", SiteUID: "s1"})
			var ge *gigya.Error
			if !errors.As(err, &ge) || ge.Code != tt.wantCode || !ge.Ambiguous() {
				t.Fatalf("err = %v, want an ambiguous error with code %d", err, tt.wantCode)
			}
			if uid, ok := w.sim.LinkedAt("brand-a", "s1"); !ok || uid != "u1" {
				t.Errorf("LinkedAt = %q, %v; want the link made", uid, ok)
			}
			info, err := c.GetUserInfo(t.Context(), "s1")
			if err != nil || !info.IsSiteUID || info.UID != "s1" {
				t.Errorf("confirmation GetUserInfo(s1) = %+v, %v; want isSiteUID", info, err)
			}
			st, _ := w.sim.SiteStats("brand-a")
			if st.Lost != 1 || st.Errors[tt.wantStats] != 1 {
				t.Errorf("stats lost %d errors %v; want lost 1, %s 1", st.Lost, st.Errors, tt.wantStats)
			}
		})
	}
	t.Run("half of the calls", func(t *testing.T) {
		w := newWorld(t, func(c *gigyasim.Config) {
			c.Sites[0].Faults = gigyasim.SiteFaults{LostRate: 0.5, Lost: gigyasim.LostTimeout}
		})
		c := w.client(t, 0, gigya.AuthSecret, "")
		failed := 0
		for i := range 6 {
			if _, err := c.NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "u" + strconv.Itoa(i), SiteUID: "s" + strconv.Itoa(i)}); err != nil {
				failed++
			}
			if _, ok := w.sim.LinkedAt("brand-a", "s"+strconv.Itoa(i)); !ok {
				t.Errorf("call %d: not linked", i)
			}
		}
		if failed != 3 {
			t.Errorf("%d of 6 answers lost, want 3", failed)
		}
	})
}

// TestUIDSigOptional: a credentialed call without UIDTimestamp/UIDSig is
// accepted; a wrong UIDSig is 403003; a site without partner secret refuses
// any UIDSig but accepts none.
func TestUIDSigOptional(t *testing.T) {
	w := newWorld(t, func(c *gigyasim.Config) { c.Sites[1].PartnerSecret = "" })
	sig := func(partner, siteUID string) url.Values {
		ts := time.Now().Unix()
		s, err := gigya.UIDSignature(partner, ts, siteUID)
		if err != nil {
			t.Fatal(err)
		}
		return url.Values{"UIDTimestamp": {strconv.FormatInt(ts, 10)}, "UIDSig": {s}}
	}
	tests := []struct {
		name  string
		site  int
		extra url.Values
		want  int
	}{
		{"no UIDSig", 0, nil, 0},
		{"right UIDSig", 0, sig(w.sites[0].partner, "s-1"), 0},
		{"wrong UIDSig (the other site's partner secret)", 0, sig(w.sites[1].partner, "s-2"), 403003},
		{"UIDSig without UIDTimestamp", 0, url.Values{"UIDSig": {"x"}}, 400002},
		{"site without partner secret, no UIDSig", 1, nil, 0},
		{"site without partner secret, a UIDSig", 1, sig(w.sites[1].partner, "s-4"), 403003},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := w.sites[tt.site]
			siteUID := "s-" + strconv.Itoa(i)
			extra := url.Values{"UID": {"u-" + strconv.Itoa(i)}, "siteUID": {siteUID}}
			for k, v := range tt.extra {
				extra[k] = v
			}
			_, _, body := post(t, w.dcs[s.dc].URL, s, gigyasim.MethodNotifyRegistration, extra)
			var a struct{ ErrorCode int }
			if err := json.Unmarshal(body, &a); err != nil || a.ErrorCode != tt.want {
				t.Errorf("answer %s, want errorCode %d", body, tt.want)
			}
			if _, linked := w.sim.LinkedAt(s.name, siteUID); linked != (tt.want == 0) {
				t.Errorf("linked = %v, want %v", linked, tt.want == 0)
			}
		})
	}
}

// TestSharedQuota: two sites naming one shared quota draw from one bucket.
func TestSharedQuota(t *testing.T) {
	w := newWorld(t, func(c *gigyasim.Config) {
		c.SharedQuotas = map[string]gigyasim.Quota{"partner": {Rate: 1e-6, Burst: 3}}
		c.Sites[0].SharedQuota, c.Sites[1].SharedQuota = "partner", "partner"
	})
	var codes []int
	for i := range 6 {
		_, err := w.client(t, i%2, gigya.AuthSecret, "").NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "u" + strconv.Itoa(i)})
		code, _, _ := gigyaCode(err)
		codes = append(codes, code)
	}
	if want := []int{0, 0, 0, 403048, 403048, 403048}; fmtInts(codes) != fmtInts(want) {
		t.Errorf("codes alternating brand-a, brand-b = %v, want %v", codes, want)
	}
	if _, err := gigyasim.New(gigyasim.Config{Sites: []gigyasim.Site{{Name: "a", APIKey: "3_a", UserKey: "u", Secret: "c2VjcmV0", SharedQuota: "nope"}}}); err == nil || !strings.Contains(err.Error(), `SharedQuota "nope"`) {
		t.Errorf("unknown shared quota: err = %v", err)
	}
}

func fmtInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, " ")
}
