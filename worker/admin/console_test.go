package admin_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// browser is a cookie-keeping HTTP client that does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, tok := range []string{opToken, viewerToken} {
		if strings.Contains(string(b), tok) {
			t.Errorf("%s %s: a token appears in the page", method, u)
		}
	}
	return resp, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func signIn(t *testing.T, e *env, c *http.Client, token string) string {
	t.Helper()
	resp, _ := do(t, c, "POST", e.url+"/login", url.Values{"token": {token}}, map[string]string{"Origin": e.url, "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d, want 303", resp.StatusCode)
	}
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "regnotify_session" {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || strings.Contains(sc.Value, token) || sc.Secure {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Strict, not Secure over plain HTTP, no token in it", sc)
	}
	_, page := do(t, c, "GET", e.url+"/", nil, nil)
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("status page has no CSRF field")
	}
	return m[1]
}

func TestConsoleSecurity(t *testing.T) {
	e := newEnv(t)
	anon := browser(t)
	resp, _ := do(t, anon, "GET", e.url+"/", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("/ without a session: %d → %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q allows inline code", csp)
	}
	if resp, _ := do(t, anon, "POST", e.url+"/login", url.Values{"token": {"nope-nope-nope-nope"}}, nil); resp.StatusCode != 401 {
		t.Errorf("bad sign-in: %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(t, anon, "POST", e.url+"/login", url.Values{"token": {opToken}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != 403 {
		t.Errorf("cross-site sign-in: %d, want 403", resp.StatusCode)
	}

	op := browser(t)
	csrf := signIn(t, e, op, opToken)
	pause := e.url + "/sites/brand-a/pause"
	tests := []struct {
		name string
		form url.Values
		hdr  map[string]string
		want int
	}{
		{"no csrf field", url.Values{}, nil, 403},
		{"wrong csrf field", url.Values{"csrf": {strings.Repeat("0", len(csrf))}}, nil, 403},
		{"cross-site with the field", url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign origin", url.Values{"csrf": {csrf}}, map[string]string{"Origin": "https://evil.example"}, 403},
		{"same origin", url.Values{"csrf": {csrf}}, map[string]string{"Origin": e.url, "Sec-Fetch-Site": "same-origin"}, 303},
	}
	for _, tt := range tests {
		resp, _ := do(t, op, "POST", pause, tt.form, tt.hdr)
		if resp.StatusCode != tt.want {
			t.Errorf("pause, %s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
	if !e.ctl.Paused("brand-a") {
		t.Error("the accepted pause did not pause brand-a")
	}
	if logs := e.logs.String(); !strings.Contains(logs, `"msg":"admin audit","token":"alice","role":"operator","call":"pause","params":{"site":"brand-a"},"result":"ok"`) {
		t.Errorf("no audit line for the console's pause:\n%s", logs)
	}

	viewer := browser(t)
	vcsrf := signIn(t, e, viewer, viewerToken)
	if resp, _ := do(t, viewer, "POST", e.url+"/sites/brand-a/resume", url.Values{"csrf": {vcsrf}}, nil); resp.StatusCode != 403 {
		t.Errorf("viewer resume: %d, want 403", resp.StatusCode)
	}
	if _, page := do(t, viewer, "GET", e.url+"/", nil, nil); strings.Contains(page, "/sites/brand-a/") {
		t.Error("viewer's status page offers pause/resume")
	}
	// The session ends when its token leaves the tokens file.
	e.writeTokens("alice operator " + opToken + "\n")
	eventually(t, "viewer signed out", func() bool {
		resp, _ := do(t, viewer, "GET", e.url+"/", nil, nil)
		return resp.StatusCode == http.StatusSeeOther
	})
}

func TestConsolePages(t *testing.T) {
	e := newEnv(t)
	c := browser(t)
	csrf := signIn(t, e, c, opToken)
	pages := []struct {
		path string
		want []string
	}{
		{"/", []string{"brand-a", "brand-b", "Lanes", "Partitions", "<svg", "polyline", "bulk.account.linked"}},
		{"/status/live", []string{"brand-a", "Dead-letter writer"}},
		{"/dead-letters?site=brand-b&class=invalid_event", []string{"uid-07", "uid-01"}},
		{"/dead-letters?q=ev-05", []string{"uid-05"}},
		{"/static/app.js", []string{"setInterval"}},
		{"/static/app.css", []string{".badge"}},
	}
	for _, p := range pages {
		resp, body := do(t, c, "GET", e.url+p.path, nil, nil)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p.path, resp.StatusCode)
		}
		for _, w := range p.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", p.path, w)
			}
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") {
			t.Errorf("%s has inline script", p.path)
		}
	}
	_, body := do(t, c, "GET", e.url+"/dead-letters?q=ev-05", nil, nil)
	if strings.Contains(body, "uid-04") {
		t.Error("search for ev-05 lists uid-04")
	}
	link := regexp.MustCompile(`href="/dead-letters/(\d+)/(\d+)"`).FindStringSubmatch(body)
	if link == nil {
		t.Fatal("no link to the record")
	}
	_, detail := do(t, c, "GET", e.url+"/dead-letters/"+link[1]+"/"+link[2], nil, nil)
	for _, w := range []string{"regnotify.error.class", "traceparent", "&#34;eventId&#34;: &#34;ev-05&#34;"} {
		if !strings.Contains(detail, w) {
			t.Errorf("record page lacks %q (value pretty-printed)", w)
		}
	}
	// Dry run, then confirm exactly what it listed.
	same := map[string]string{"Origin": e.url}
	_, dry := do(t, c, "POST", e.url+"/replay", url.Values{"csrf": {csrf}, "offset": {link[1] + ":" + link[2]}}, same)
	if !strings.Contains(dry, "would be sent") || !strings.Contains(dry, `name="offset" value="`+link[1]+":"+link[2]+`"`) {
		t.Fatalf("dry-run page lacks the plan:\n%s", dry)
	}
	if n := len(e.kc.ReadAll(t, e.live)) + len(e.kc.ReadAll(t, e.reg)); n != 0 {
		t.Fatalf("the dry run sent %d copies", n)
	}
	_, done := do(t, c, "POST", e.url+"/replay", url.Values{"csrf": {csrf}, "offset": {link[1] + ":" + link[2]}, "confirm": {"yes"}}, same)
	if !strings.Contains(done, "<b>1</b> sent back") {
		t.Errorf("replay page: %s", done)
	}
	if n := len(e.kc.ReadAll(t, e.live)) + len(e.kc.ReadAll(t, e.reg)); n != 1 {
		t.Errorf("original topics hold %d copies, want 1", n)
	}
}
