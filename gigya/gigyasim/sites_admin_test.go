package gigyasim_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
)

func adminDo(t *testing.T, method, rawURL, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestAdminSiteEndpoints drives per-site faults, quota and stats over HTTP.
func TestAdminSiteEndpoints(t *testing.T) {
	w := newWorld(t, nil)
	base := w.dcs["eu1"].URL // the admin endpoints answer on every data center
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantIn                   string
	}{
		{"set a fault", http.MethodPut, "/_sim/faults?site=brand-a", `{"code":403010}`, 200, `"code":403010`},
		{"partial update keeps the code", http.MethodPost, "/_sim/faults?site=brand-a", `{"lostRate":0.5}`, 200, `"code":403010,"apiDomain":"","lostRate":0.5,"lost":"drop"`},
		{"read it back", http.MethodGet, "/_sim/faults?site=brand-a", "", 200, `"code":403010`},
		{"the other site is untouched", http.MethodGet, "/_sim/faults?site=brand-b", "", 200, `"code":0`},
		{"a code that is no site-wide fault", http.MethodPut, "/_sim/faults?site=brand-a", `{"code":500001}`, 400, "code 500001"},
		{"an unknown field", http.MethodPut, "/_sim/faults?site=brand-a", `{"cod":1}`, 400, "unknown field"},
		{"an unknown site", http.MethodGet, "/_sim/faults?site=brand-z", "", 404, `no site \"brand-z\"`},
		{"set a quota", http.MethodPut, "/_sim/quota?site=brand-b", `{"rate":120,"burst":12}`, 200, `{"rate":120,"burst":12}`},
		{"a negative quota", http.MethodPut, "/_sim/quota?site=brand-b", `{"rate":-1}`, 400, "rate"},
		{"the global faults keep their shape", http.MethodGet, "/_sim/faults", "", 200, `"outage":"none"`},
		{"sites, no secrets", http.MethodGet, "/_sim/sites", "", 200, `"name":"brand-b","apiKey":"3_brand-b","userKey":"uk-b","secret":true,"bearer":true,"partnerSecret":true,"dataCenter":"eu1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := adminDo(t, tt.method, base+tt.path, tt.body)
			if status != tt.wantStatus || !strings.Contains(body, tt.wantIn) {
				t.Errorf("%s %s: %d %s; want %d containing %s", tt.method, tt.path, status, body, tt.wantStatus, tt.wantIn)
			}
		})
	}
	if f, _ := w.sim.SiteFaults("brand-a"); f.Code != 403010 || f.LostRate != 0.5 {
		t.Errorf("SiteFaults(brand-a) = %+v after the admin calls", f)
	}
	_, err := w.client(t, 0, gigya.AuthSecret, "").NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "u1"})
	if code, _, _ := gigyaCode(err); code != 403010 {
		t.Errorf("brand-a after PUT code 403010: %v", err)
	}
	if _, err := w.client(t, 1, gigya.AuthSecret, "").GetUserInfo(t.Context(), "nobody"); err == nil {
		t.Errorf("getUserInfo of an unknown UID succeeded")
	}
	_, body := adminDo(t, http.MethodGet, base+"/_sim/stats?site=brand-a", "")
	var st gigyasim.SiteStats
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Errors["403010"] != 1 || st.Calls[gigyasim.MethodNotifyRegistration]["403010"] != 1 || st.RateWindow != "5s" {
		t.Errorf("stats?site=brand-a = %s (%v); want one 403010 and rateWindow 5s", body, err)
	}
	_, body = adminDo(t, http.MethodGet, base+"/_sim/stats", "")
	var all gigyasim.Stats
	if err := json.Unmarshal([]byte(body), &all); err != nil || all.Sites["brand-b"].Calls[gigyasim.MethodGetUserInfo]["403005"] != 1 || all.Sites["brand-a"].Total != 1 {
		t.Errorf("stats = %s (%v); want per-site counts", body, err)
	}
	_, body = adminDo(t, http.MethodGet, base+"/_sim/sites", "")
	for _, s := range w.sites {
		for _, secret := range []string{s.secret, s.partner} {
			if strings.Contains(body, secret) {
				t.Errorf("/_sim/sites shows a secret of %s", s.name)
			}
		}
	}
}

// TestSitesConfigErrors checks New's refusals; none quotes a secret.
func TestSitesConfigErrors(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString([]byte("never-in-an-error"))
	site := func(name, key string) gigyasim.Site {
		return gigyasim.Site{Name: name, APIKey: key, UserKey: "uk", Secret: secret}
	}
	tests := []struct {
		name string
		cfg  gigyasim.Config
		want string
	}{
		{"nothing", gigyasim.Config{}, "APIKey is required"},
		{"duplicate name", gigyasim.Config{Sites: []gigyasim.Site{site("a", "3_a"), site("a", "3_b")}}, `site "a": duplicate name`},
		{"duplicate apiKey", gigyasim.Config{Sites: []gigyasim.Site{site("a", "3_a"), site("b", "3_a")}}, `site "b": duplicate APIKey`},
		{"default and a site named default", gigyasim.Config{APIKey: "3_x", UserKey: "uk", Secret: secret, Sites: []gigyasim.Site{site("default", "3_a")}}, `site "default": duplicate name`},
		{"unknown data center", gigyasim.Config{Sites: []gigyasim.Site{func() gigyasim.Site { s := site("a", "3_a"); s.DataCenter = "eu1"; return s }()}}, `DataCenter "eu1" is not in`},
		{"bad fault code", gigyasim.Config{Sites: []gigyasim.Site{func() gigyasim.Site { s := site("a", "3_a"); s.Faults.Code = 123; return s }()}}, "code 123"},
		{"301001 without apiDomain", gigyasim.Config{Sites: []gigyasim.Site{func() gigyasim.Site { s := site("a", "3_a"); s.Faults.Code = 301001; return s }()}}, "needs apiDomain"},
		{"two faults at once", gigyasim.Config{Sites: []gigyasim.Site{func() gigyasim.Site {
			s := site("a", "3_a")
			s.Faults = gigyasim.SiteFaults{Code: 403010, HTTPStatus: 503}
			return s
		}()}}, "at most one"},
		{"bad partner secret", gigyasim.Config{Sites: []gigyasim.Site{func() gigyasim.Site { s := site("a", "3_a"); s.PartnerSecret = secret + "!"; return s }()}}, "PartnerSecret is not valid base64"},
		{"data center without domain", gigyasim.Config{DataCenters: []gigyasim.DataCenter{{Name: "us1"}}, Sites: []gigyasim.Site{site("a", "3_a")}}, "Name and Domain are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gigyasim.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes the secret: %v", err)
			}
		})
	}
	sim, err := gigyasim.New(gigyasim.Config{APIKey: "3_x", UserKey: "uk", Secret: secret, Sites: []gigyasim.Site{site("b", "3_b")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sim.SiteNames(), ","); got != "default,b" {
		t.Errorf("SiteNames = %s, want default,b", got)
	}
	if _, err := sim.DataCenter("us1"); err == nil {
		t.Errorf("DataCenter of an unknown name: no error")
	}
}
