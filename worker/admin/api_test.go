package admin_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regnotify/regnotify/worker/admin"
	"github.com/regnotify/regnotify/worker/control"
	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/kafkatest"
	"github.com/regnotify/regnotify/worker/status"
)

func TestAuthMatrix(t *testing.T) {
	e := newEnv(t)
	calls := []struct {
		method, path string
		body         any
		operator     bool
	}{
		{"GET", "/api/v1/status", nil, false},
		{"GET", "/api/v1/dead-letters", nil, false},
		{"POST", "/api/v1/replays", map[string]any{"dryRun": true}, true},
		{"POST", "/api/v1/sites/brand-a/pause", nil, true},
		{"POST", "/api/v1/sites/brand-a/resume", nil, true},
	}
	callers := []struct {
		name, token string
		want        func(operatorCall bool) int
	}{
		{"none", "", func(bool) int { return 401 }},
		{"bad", "not-a-token-at-all-xxxxxxxx", func(bool) int { return 401 }},
		{"viewer", viewerToken, func(op bool) int {
			if op {
				return 403
			}
			return 200
		}},
		{"operator", opToken, func(bool) int { return 200 }},
	}
	for _, c := range calls {
		for _, who := range callers {
			got, body := e.call(c.method, c.path, who.token, c.body)
			if want := who.want(c.operator); got != want {
				t.Errorf("%s %s as %s: status %d, want %d (%s)", c.method, c.path, who.name, got, want, body)
			}
		}
	}
	// Case-insensitive scheme, and a lookalike prefix is not a token.
	if got, _ := e.call("GET", "/api/v1/status", opToken[:len(opToken)-1], nil); got != 401 {
		t.Errorf("token minus its last character: status %d, want 401", got)
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	code, body := e.call("GET", "/api/v1/status", viewerToken, nil)
	if code != 200 {
		t.Fatalf("status: %d %s", code, body)
	}
	var doc struct {
		Sites []struct {
			Name, State string
			RateLimit   float64
			Inflight    int
		}
		Lanes      []map[string]any
		Partitions []struct {
			Topic          string
			Partition      int
			Lag, Committed int64
		}
		DeadLetterWriter *struct{ Failing bool }
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Sites) != 2 || doc.Sites[0].Name != "brand-a" || doc.Sites[0].State != "ok" || doc.Sites[0].RateLimit != 150 {
		t.Errorf("sites = %+v, want brand-a and brand-b, ok, 150/s", doc.Sites)
	}
	if len(doc.Partitions) != 3 || doc.Partitions[2].Lag != 1523 || doc.DeadLetterWriter == nil || len(doc.Lanes) != 2 {
		t.Errorf("status document = %s, want the fake's partitions, lanes and deadLetterWriter", body)
	}
}

// keysOf lists the keys of a dead-letter page.
func keysOf(t *testing.T, body []byte) ([]string, string) {
	t.Helper()
	var page struct {
		Records []struct {
			Partition int
			Offset    int64
			Key       string
			Value     string
			Headers   map[string]string
		}
		Cursor string
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("page %s: %v", body, err)
	}
	keys := []string{}
	for _, r := range page.Records {
		keys = append(keys, r.Key)
	}
	return keys, page.Cursor
}

func TestDeadLetterFilters(t *testing.T) {
	e := newEnv(t)
	// want: the fixtures a filter selects, newest first, by the fixture's
	// own attributes (not by the code under test).
	want := func(keep func(fixture) bool) []string {
		out := []string{}
		for i := len(e.fx) - 1; i >= 0; i-- {
			if keep(e.fx[i]) {
				out = append(out, e.fx[i].key)
			}
		}
		return out
	}
	at := func(i int) string { return failedBase.Add(time.Duration(i) * time.Minute).Format(time.RFC3339) }
	tests := []struct {
		name  string
		query url.Values
		keep  func(fixture) bool
	}{
		{"all", url.Values{}, func(fixture) bool { return true }},
		{"site", url.Values{"site": {"brand-b"}}, func(f fixture) bool { return f.site == "brand-b" }},
		{"class", url.Values{"class": {deadletter.ClassInvalidEvent}}, func(f fixture) bool { return f.class == deadletter.ClassInvalidEvent }},
		{"code", url.Values{"code": {"403005"}}, func(f fixture) bool { return f.code == "403005" }},
		{"topic", url.Values{"topic": {e.reg}}, func(f fixture) bool { return f.origTop == e.reg }},
		{"since until", url.Values{"since": {at(3)}, "until": {at(7)}}, func(f fixture) bool { return f.i >= 3 && f.i < 7 }},
		{"site and class", url.Values{"site": {"brand-a"}, "class": {deadletter.ClassRejected}}, func(f fixture) bool { return f.site == "brand-a" && f.class == deadletter.ClassRejected }},
		{"q uid (key)", url.Values{"q": {"uid-05"}}, func(f fixture) bool { return f.i == 5 }},
		{"q eventId (value)", url.Values{"q": {"ev-08"}}, func(f fixture) bool { return f.i == 8 }},
		{"q header value", url.Values{"q": {"brand-b"}}, func(f fixture) bool { return f.site == "brand-b" }},
		{"q nothing", url.Values{"q": {"ev-99"}}, func(fixture) bool { return false }},
	}
	for _, tt := range tests {
		code, body := e.call("GET", "/api/v1/dead-letters?"+tt.query.Encode(), viewerToken, nil)
		if code != 200 {
			t.Errorf("%s: status %d %s", tt.name, code, body)
			continue
		}
		got, cursor := keysOf(t, body)
		if w := want(tt.keep); !slices.Equal(got, w) {
			t.Errorf("%s: keys %v, want %v", tt.name, got, w)
		}
		if cursor != "" {
			t.Errorf("%s: cursor %q on a complete answer, want none", tt.name, cursor)
		}
	}
	for _, bad := range []string{"since=yesterday", "limit=0", "limit=100000", "cursor=%21%21"} {
		if code, _ := e.call("GET", "/api/v1/dead-letters?"+bad, viewerToken, nil); code != 400 {
			t.Errorf("%s: status %d, want 400", bad, code)
		}
	}
}

func TestDeadLetterPaging(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		limit  int
		filter string
	}{{1, ""}, {5, ""}, {2, "&site=brand-a"}, {12, ""}} {
		var all []string
		cursor, pages := "", 0
		for {
			path := "/api/v1/dead-letters?limit=" + strconv.Itoa(tc.limit) + tc.filter
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			code, body := e.call("GET", path, viewerToken, nil)
			if code != 200 {
				t.Fatalf("limit %d: status %d %s", tc.limit, code, body)
			}
			keys, next := keysOf(t, body)
			if len(keys) > tc.limit {
				t.Fatalf("limit %d: page of %d", tc.limit, len(keys))
			}
			all = append(all, keys...)
			pages++
			if next == "" || pages > 20 {
				break
			}
			cursor = next
		}
		var want []string
		for i := len(e.fx) - 1; i >= 0; i-- {
			if tc.filter == "" || e.fx[i].site == "brand-a" {
				want = append(want, e.fx[i].key)
			}
		}
		if !slices.Equal(all, want) {
			t.Errorf("limit %d%s: pages gave %v, want %v", tc.limit, tc.filter, all, want)
		}
	}
}

type replayResult struct {
	Matched, Replayed, WouldReplay, AlreadyReplayed int
	Records                                         []struct {
		Partition   int
		Offset      int64
		Topic, Key  string
		ReplayCount string
	}
}

func (e *env) replay(body map[string]any) replayResult {
	e.t.Helper()
	code, b := e.call("POST", "/api/v1/replays", opToken, body)
	if code != 200 {
		e.t.Fatalf("replay %v: status %d %s", body, code, b)
	}
	var r replayResult
	if err := json.Unmarshal(b, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func TestReplay(t *testing.T) {
	e := newEnv(t)
	rejected := 0
	for _, f := range e.fx {
		if f.class == deadletter.ClassRejected {
			rejected++
		}
	}
	// Dry run: what would be sent, nothing sent.
	dry := e.replay(map[string]any{"class": deadletter.ClassRejected, "dryRun": true})
	if dry.Matched != rejected || dry.Replayed != 0 || dry.WouldReplay != rejected || len(dry.Records) != rejected {
		t.Fatalf("dry run = %+v, want %d matched, 0 replayed, %d listed", dry, rejected, rejected)
	}
	for _, r := range dry.Records {
		if r.ReplayCount != "1" || (r.Topic != e.live && r.Topic != e.reg) {
			t.Errorf("dry run lists %+v, want replay count 1 to an original topic", r)
		}
	}
	if n := len(e.kc.ReadAll(t, e.live)) + len(e.kc.ReadAll(t, e.reg)); n != 0 {
		t.Fatalf("dry run wrote %d records to the original topics, want 0", n)
	}
	// Real: copies land on the original topics.
	got := e.replay(map[string]any{"class": []string{deadletter.ClassRejected}})
	if got.Matched != rejected || got.Replayed != rejected {
		t.Fatalf("replay = %+v, want %d matched and replayed", got, rejected)
	}
	copies := append(e.kc.ReadAll(t, e.live), e.kc.ReadAll(t, e.reg)...)
	var keys []string
	for _, m := range copies {
		keys = append(keys, string(m.Key))
		if n, _ := deadletter.Header(m.Headers, deadletter.HeaderReplayCount); n != "1" {
			t.Errorf("copy %s: replay count %q, want 1", m.Key, n)
		}
		if _, has := deadletter.Header(m.Headers, deadletter.HeaderErrorClass); has {
			t.Errorf("copy %s keeps %s", m.Key, deadletter.HeaderErrorClass)
		}
		if tp, _ := deadletter.Header(m.Headers, "traceparent"); tp == "" {
			t.Errorf("copy %s lost its traceparent", m.Key)
		}
	}
	slices.Sort(keys)
	wantKeys := []string{}
	for _, f := range e.fx {
		if f.class == deadletter.ClassRejected {
			wantKeys = append(wantKeys, f.key)
		}
	}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("copies %v, want %v", keys, wantKeys)
	}
	// Never twice: the same request replays nothing, on this worker and
	// on another worker's view of the group's state.
	again := e.replay(map[string]any{"class": deadletter.ClassRejected})
	if again.Replayed != 0 || again.AlreadyReplayed != rejected {
		t.Errorf("second replay = %+v, want 0 replayed, %d already replayed", again, rejected)
	}
	eventually(t, "replayed marks on the other worker", func() bool {
		return e.other.Replayed(e.dlq, dry.Records[0].Partition, dry.Records[0].Offset)
	})
}

func TestReplayByOffset(t *testing.T) {
	e := newEnv(t)
	recs := e.list(t)
	one := recs[0]
	offs := []map[string]any{{"partition": one.p, "offset": one.o}, {"partition": 0, "offset": 99999}}
	if r := e.replay(map[string]any{"offsets": offs, "dryRun": true}); r.Matched != 1 || r.WouldReplay != 1 || r.Replayed != 0 {
		t.Errorf("dry run by offset = %+v, want matched 1, would replay 1, replayed 0", r)
	}
	if r := e.replay(map[string]any{"offsets": offs}); r.Matched != 1 || r.Replayed != 1 {
		t.Errorf("replay by offset = %+v, want 1 matched and replayed", r)
	}
	if r := e.replay(map[string]any{"offsets": offs, "dryRun": true}); r.WouldReplay != 0 || r.AlreadyReplayed != 1 {
		t.Errorf("dry run of a replayed offset = %+v, want would replay 0, already replayed 1", r)
	}
	if r := e.replay(map[string]any{"offsets": offs}); r.Replayed != 0 {
		t.Errorf("second replay by offset = %+v, want 0 replayed", r)
	}
	if r := e.replay(map[string]any{"offsets": offs, "force": true}); r.Replayed != 1 {
		t.Errorf("forced replay = %+v, want 1 replayed", r)
	}
	copies := append(e.kc.ReadAll(t, e.live), e.kc.ReadAll(t, e.reg)...)
	if len(copies) != 2 || string(copies[0].Key) != string(copies[1].Key) {
		t.Errorf("original topics hold %d copies, want 2 of the one record", len(copies))
	}
	for _, bad := range []string{`{"clas":"rejected"}`, `{"since":"nope"}`, `not json`} {
		code, _ := e.rawReplay(bad)
		if code != 400 {
			t.Errorf("replay body %s: status %d, want 400", bad, code)
		}
	}
}

type fixtureAt struct {
	p     int
	o     int64
	class string
}

func (e *env) list(t *testing.T) []fixtureAt {
	_, body := e.call("GET", "/api/v1/dead-letters?limit=100", viewerToken, nil)
	var page struct {
		Records []struct {
			Partition int
			Offset    int64
			Headers   map[string]string
		}
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	var out []fixtureAt
	for _, r := range page.Records {
		out = append(out, fixtureAt{r.Partition, r.Offset, r.Headers[deadletter.HeaderErrorClass]})
	}
	return out
}

func (e *env) rawReplay(body string) (int, []byte) {
	req, _ := http.NewRequest("POST", e.url+"/api/v1/replays", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+opToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestPauseResumeAcrossWorkers(t *testing.T) {
	e := newEnv(t)
	if code, b := e.call("POST", "/api/v1/sites/brand-b/pause", opToken, nil); code != 200 {
		t.Fatalf("pause: %d %s", code, b)
	}
	eventually(t, "pause on both workers", func() bool { return e.ctl.Paused("brand-b") && e.other.Paused("brand-b") })
	if e.other.Paused("brand-a") {
		t.Error("brand-a paused too")
	}
	_, body := e.call("GET", "/api/v1/status", viewerToken, nil)
	if !strings.Contains(string(body), `"name":"brand-b","state":"paused"`) {
		t.Errorf("status after pause: %s, want brand-b paused", body)
	}
	if code, b := e.call("POST", "/api/v1/sites/brand-b/resume", opToken, nil); code != 200 {
		t.Fatalf("resume: %d %s", code, b)
	}
	eventually(t, "resume on both workers", func() bool { return !e.ctl.Paused("brand-b") && !e.other.Paused("brand-b") })
	if code, _ := e.call("POST", "/api/v1/sites/no-such-site/pause", opToken, nil); code != 404 {
		t.Errorf("pause of an unknown site: %d, want 404", code)
	}
}

func TestAuditAndNoTokensInLogs(t *testing.T) {
	e := newEnv(t)
	e.call("POST", "/api/v1/sites/brand-a/pause", opToken, nil)
	e.call("POST", "/api/v1/replays", opToken, map[string]any{"site": "brand-a", "dryRun": true})
	e.call("POST", "/api/v1/replays", viewerToken, map[string]any{})
	e.call("GET", "/api/v1/status", "wrong-"+opToken, nil)
	logs := e.logs.String()
	type line struct {
		Msg, Token, Call, Result string
		Params                   json.RawMessage
	}
	var audits []line
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var x line
		if json.Unmarshal([]byte(l), &x) == nil && x.Msg == "admin audit" {
			audits = append(audits, x)
		}
	}
	want := []struct{ token, call, params, result string }{
		{"alice", "pause", `"site":"brand-a"`, "ok"},
		{"alice", "replay", `"site":["brand-a"]`, "ok: matched 6, replayed 0, would replay 6"},
		{"victor", "POST /api/v1/replays", "", "forbidden"},
	}
	if len(audits) != len(want) {
		t.Fatalf("audit lines: %+v, want %d", audits, len(want))
	}
	for i, w := range want {
		a := audits[i]
		if a.Token != w.token || a.Call != w.call || !strings.Contains(string(a.Params), w.params) || !strings.HasPrefix(a.Result, w.result) {
			t.Errorf("audit line %d = %+v, want token %s, call %s, params with %s, result %s…", i, a, w.token, w.call, w.params, w.result)
		}
	}
	for _, tok := range []string{opToken, viewerToken} {
		if strings.Contains(logs, tok) {
			t.Errorf("a token appears in the logs:\n%s", logs)
		}
	}
}

func TestTokensFileReload(t *testing.T) {
	e := newEnv(t)
	const newToken = "rotated-TOKEN-55aa11bb22cc33dd"
	e.writeTokens("alice operator " + newToken + "\n# victor removed\n")
	eventually(t, "new token accepted", func() bool {
		code, _ := e.call("GET", "/api/v1/status", newToken, nil)
		return code == 200
	})
	for _, tok := range []string{opToken, viewerToken} {
		if code, _ := e.call("GET", "/api/v1/status", tok, nil); code != 401 {
			t.Errorf("removed token: status %d, want 401", code)
		}
	}
	// A broken edit keeps the last good tokens.
	e.writeTokens("alice operator\n")
	if code, _ := e.call("GET", "/api/v1/status", newToken, nil); code != 200 {
		t.Errorf("after an invalid edit: status %d, want 200 (previous tokens kept)", code)
	}
	if !strings.Contains(e.logs.String(), "cannot reload") {
		t.Error("an invalid tokens file is not logged")
	}
	if strings.Contains(e.logs.String(), newToken) {
		t.Error("a token appears in the logs")
	}
}

func TestConfig(t *testing.T) {
	kc := kafkatest.Start(t)
	ctl, err := control.New(control.Config{Brokers: kc.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	st := admin.StatusFunc(func() status.Doc { return status.Doc{} })
	for _, addr := range []string{":8090", "0.0.0.0:8090", "10.1.2.3:8090", "[::]:8090", "example.com:80"} {
		_, err := admin.New(admin.Options{Addr: addr, Status: st, Control: ctl, Brokers: kc.Brokers})
		var ce *admin.ConfigError
		if !errors.As(err, &ce) || ce.Flag != "--admin-tokens-file" {
			t.Errorf("addr %s without tokens file: err %v, want a ConfigError naming --admin-tokens-file", addr, err)
		}
	}
	_, err = admin.New(admin.Options{Addr: "127.0.0.1:8090", TokensFile: "/nonexistent/tokens", Status: st, Control: ctl, Brokers: kc.Brokers})
	var ce *admin.ConfigError
	if !errors.As(err, &ce) {
		t.Errorf("missing tokens file: err %v, want a ConfigError", err)
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:8090", "[::1]:8090"} {
		var stderr bytes.Buffer
		srv, err := admin.New(admin.Options{Addr: addr, Status: st, Control: ctl, Brokers: kc.Brokers, Stderr: &stderr})
		if err != nil {
			t.Errorf("loopback %s without tokens file: %v", addr, err)
			continue
		}
		_ = srv.Close()
		out := stderr.String()
		i := strings.LastIndex(out, ": ")
		if strings.Count(out, "\n") != 1 || i < 0 || !strings.HasPrefix(out[i+2:], "rna_") {
			t.Errorf("loopback %s: stderr %q, want one line ending in the token", addr, out)
		}
	}
}
