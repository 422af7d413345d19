package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/cmd/internal/config"
	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker/kafkatest"
	"github.com/regnotify/regnotify/worker/wait"
)

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunConfigFileErrorsExit2 feeds run --config each kind of bad file
// and bad combination: each exits 2 with a message naming the key (and
// its line) or both flags, and never a secret.
func TestRunConfigFileErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	secretFile := writeFile(t, dir, "secret", "c2VjcmV0LWNvbmZpZw==\n")
	site := func(name, apiKey string) string {
		return fmt.Sprintf("  - name: %s\n    apiKey: %s\n    baseURL: http://127.0.0.1:1\n    userKey: uk\n    secretFile: %s\n", name, apiKey, secretFile)
	}
	topics := "topics:\n  - name: user.registered\n    site: brand-a\n"
	tests := []struct {
		name string
		file string
		args []string
		env  map[string]string
		want []string
	}{
		{"unknown key", "sites:\n" + site("brand-a", "3_a") + "    colour: blue\n" + topics, nil, nil, []string{"colour", "regnotify.yaml:7:"}},
		{"duplicate site", "sites:\n" + site("brand-a", "3_a") + site("brand-a", "3_b") + topics, nil, nil, []string{"duplicate site", "brand-a", "sites[1].name"}},
		{"literal secret", "sites:\n  - name: brand-a\n    apiKey: 3_a\n    baseURL: http://127.0.0.1:1\n    userKey: uk\n    secret: c2VjcmV0LWxpdGVyYWw=\n" + topics, nil, nil, []string{"sites[0].secret", "literal"}},
		{"unset variable", "sites:\n  - name: brand-a\n    apiKey: ${REGNOTIFY_TEST_UNSET_KEY}\n    baseURL: http://127.0.0.1:1\n    userKey: uk\n    secretFile: " + secretFile + "\n" + topics, nil, nil, []string{"REGNOTIFY_TEST_UNSET_KEY", "sites[0].apiKey"}},
		{"unknown site", "sites:\n" + site("brand-a", "3_a") + "topics:\n  - name: user.registered\n    site: brand-z\n", nil, nil, []string{"brand-z", "topics[0].site"}},
		{"unknown quota", "sites:\n" + site("brand-a", "3_a") + "    quota: nowhere\n" + topics, nil, nil, []string{"nowhere", "sites[0].quota"}},
		{"missing secret file", "sites:\n  - name: brand-a\n    apiKey: 3_a\n    baseURL: http://127.0.0.1:1\n    userKey: uk\n    secretFile: /nonexistent/secret\n" + topics, nil, nil, []string{"sites[0].secretFile", "/nonexistent/secret"}},
		{"secret file not base64", "sites:\n  - name: brand-a\n    apiKey: 3_a\n    baseURL: http://127.0.0.1:1\n    userKey: uk\n    secretFile: " + writeFile(t, dir, "bad-secret", "%%% not base64\n") + "\n" + topics, nil, nil, []string{"regnotify.yaml:2: sites[0].secretFile", "base64"}},
		{"bearer without a key", "sites:\n  - name: brand-a\n    apiKey: 3_a\n    baseURL: http://127.0.0.1:1\n    auth: bearer\n    userKey: uk\n    secretFile: " + secretFile + "\n" + topics, nil, nil, []string{"sites[0].privateKey", "bearer"}},
		{"avro without registry", "sites:\n" + site("brand-a", "3_a") + "topics:\n  - name: crm.customers\n    type: user.registered\n    format: avro\n    site: brand-a\n", nil, nil, []string{"crm.customers", "--schema-registry-url"}},
		{"with --topics", "sites:\n" + site("brand-a", "3_a") + topics, []string{"--topics", "x.user.registered"}, nil, []string{"--config", "--topics"}},
		{"with KAFKA_TOPICS", "sites:\n" + site("brand-a", "3_a") + topics, nil, map[string]string{"KAFKA_TOPICS": "x.user.registered"}, []string{"--config", "--topics (KAFKA_TOPICS)"}},
		{"with --gigya-api-key", "sites:\n" + site("brand-a", "3_a") + topics, []string{"--gigya-api-key", "3_x"}, nil, []string{"--config", "--gigya-api-key"}},
		{"with --rate-limit", "sites:\n" + site("brand-a", "3_a") + topics, []string{"--rate-limit", "5"}, nil, []string{"--config", "--rate-limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			path := writeFile(t, t.TempDir(), "regnotify.yaml", tt.file)
			args := append([]string{"run", "--brokers", "127.0.0.1:1", "--http-addr", "", "--config", path}, tt.args...)
			code, out, errOut := runMain(t, args...)
			if code != 2 {
				t.Fatalf("exit code = %d, want 2; stderr:\n%s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not name %q:\n%s", w, errOut)
				}
			}
			for _, s := range []string{"c2VjcmV0LWNvbmZpZw==", "c2VjcmV0LWxpdGVyYWw="} {
				if strings.Contains(out+errOut, s) {
					t.Errorf("output shows the secret %q:\n%s", s, errOut)
				}
			}
		})
	}
}

// twoSites is a simulator with two sites (brand-a: secret auth, brand-b:
// signed auth), and their secret files.
type twoSites struct {
	sim                *gigyasim.Server
	url                string
	secretA, secretB   string // file paths
	partnerA, partnerB string
}

var (
	testSecretA  = base64.StdEncoding.EncodeToString([]byte("two-sites-secret-a"))
	testSecretB  = base64.StdEncoding.EncodeToString([]byte("two-sites-secret-b"))
	testPartnerA = base64.StdEncoding.EncodeToString([]byte("two-sites-partner-a"))
	testPartnerB = base64.StdEncoding.EncodeToString([]byte("two-sites-partner-b"))
)

func startTwoSites(t *testing.T, faults map[string]gigyasim.SiteFaults) *twoSites {
	t.Helper()
	sim, err := gigyasim.New(gigyasim.Config{Sites: []gigyasim.Site{
		{Name: "brand-a", APIKey: "3_brand-a", UserKey: "uk-a", Secret: testSecretA, PartnerSecret: testPartnerA, Faults: faults["brand-a"]},
		{Name: "brand-b", APIKey: "3_brand-b", UserKey: "uk-b", Secret: testSecretB, PartnerSecret: testPartnerB, Faults: faults["brand-b"]},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	return &twoSites{
		sim: sim, url: srv.URL,
		secretA: writeFile(t, dir, "secret-a", testSecretA+"\n"), secretB: writeFile(t, dir, "secret-b", testSecretB+"\n"),
		partnerA: writeFile(t, dir, "partner-a", testPartnerA+"\n"), partnerB: writeFile(t, dir, "partner-b", testPartnerB+"\n"),
	}
}

// config returns a configuration file for both sites and topics.
func (ts *twoSites) config(t *testing.T, topics string) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "regnotify.yaml", fmt.Sprintf(`sites:
  - name: brand-a
    apiKey: 3_brand-a
    baseURL: %[1]s
    auth: secret
    userKey: uk-a
    secretFile: %[2]s
    partnerSecretFile: %[3]s
    rateLimit: 0
  - name: brand-b
    apiKey: 3_brand-b
    baseURL: %[1]s
    auth: signed
    userKey: uk-b
    secretFile: %[4]s
    partnerSecretFile: %[5]s
    rateLimit: 0
topics:
%[6]s`, ts.url, ts.secretA, ts.partnerA, ts.secretB, ts.partnerB, topics))
}

// TestRunConfigTwoSitesRouted runs a two-site configuration end to end:
// one topic per site, and a json topic routed per record by a header. Each
// event is notified on its own site of the simulator; a record whose
// header names no site is dead-lettered.
func TestRunConfigTwoSitesRouted(t *testing.T) {
	clearEnv(t)
	kc := kafkatest.Start(t)
	ta, tb, tc, dlq := kc.Topic("a.account.linked"), kc.Topic("b.account.linked"), kc.Topic("crm.customers"), kc.Topic("regnotify.dlq")
	kc.CreateTopics(t, ta, tb, tc, dlq)
	ts := startTwoSites(t, nil)
	path := ts.config(t, fmt.Sprintf(`  - name: %s
    site: brand-a
  - name: %s
    site: brand-b
  - name: %s
    type: account.linked
    format: json
    fields: {eventId: /id, uid: /data/gigyaUid, siteUid: /data/customerNo}
    siteFrom: {header: brand}
`, ta, tb, tc))
	var msgs []kafka.Message
	link := func(topic, uid, siteUID string) kafka.Message {
		v, _ := events.Encode(events.Event{EventID: "e-" + uid, Type: events.AccountLinked, UID: uid, SiteUID: siteUID})
		return kafka.Message{Topic: topic, Key: []byte(uid), Value: v}
	}
	for i := range 5 {
		msgs = append(msgs, link(ta, fmt.Sprintf("_gid_a%d", i), fmt.Sprintf("cust-a%d", i)), link(tb, fmt.Sprintf("_gid_b%d", i), fmt.Sprintf("cust-b%d", i)))
		for _, brand := range []string{"brand-a", "3_brand-b"} {
			uid := fmt.Sprintf("_gid_h%s%d", brand, i)
			msgs = append(msgs, kafka.Message{Topic: tc, Key: []byte(uid), Headers: []kafka.Header{{Key: "brand", Value: []byte(brand)}},
				Value: fmt.Appendf(nil, `{"id":"h-%s","data":{"gigyaUid":"%s","customerNo":"cust-h-%s"}}`, uid, uid, uid)})
		}
	}
	msgs = append(msgs, kafka.Message{Topic: tc, Key: []byte("nobody"), Headers: []kafka.Header{{Key: "brand", Value: []byte("brand-z")}},
		Value: []byte(`{"id":"z","data":{"gigyaUid":"_gid_z","customerNo":"cust-z"}}`)})
	kc.Produce(t, msgs...)

	group := kc.Group("two-sites")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--brokers", strings.Join(kc.Brokers, ","), "--group", group, "--dlq-topic", dlq,
			"--config", path, "--http-addr", "127.0.0.1:0", "--retry-initial", "10ms"}, &out, &errOut)
	}()
	kc.WaitCaughtUp(t, 60*time.Second, group, ta, tb, tc)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code = %d, want 0; stderr:\n%s", code, errOut.String())
	}
	for i := range 5 {
		for _, c := range []struct{ site, siteUID string }{
			{"brand-a", fmt.Sprintf("cust-a%d", i)}, {"brand-b", fmt.Sprintf("cust-b%d", i)},
			{"brand-a", fmt.Sprintf("cust-h-_gid_hbrand-a%d", i)}, {"brand-b", fmt.Sprintf("cust-h-_gid_h3_brand-b%d", i)},
		} {
			if _, ok := ts.sim.LinkedAt(c.site, c.siteUID); !ok {
				t.Errorf("%s not linked on site %s", c.siteUID, c.site)
			}
			other := map[string]string{"brand-a": "brand-b", "brand-b": "brand-a"}[c.site]
			if _, ok := ts.sim.LinkedAt(other, c.siteUID); ok {
				t.Errorf("%s linked on the wrong site %s too", c.siteUID, other)
			}
		}
	}
	dls := kc.ReadAll(t, dlq)
	if len(dls) != 1 {
		t.Fatalf("dead letters = %d, want 1 (the record for brand-z)", len(dls))
	}
	var msg string
	for _, h := range dls[0].Headers {
		if h.Key == "regnotify.error.message" {
			msg = string(h.Value)
		}
	}
	if !strings.Contains(msg, "brand") || !strings.Contains(msg, "brand-z") {
		t.Errorf("dead letter message = %q, want it to name the header and the value", msg)
	}
}

// TestRunSecretRotationHeals starts a site with a wrong secret in its
// file: its events wait (site misconfigured, nothing dead-lettered). After
// the file is rewritten with the right secret, with no restart, every
// event is notified and there are still no dead letters.
func TestRunSecretRotationHeals(t *testing.T) {
	clearEnv(t)
	kc := kafkatest.Start(t)
	ta, dlq := kc.Topic("a.user.registered"), kc.Topic("regnotify.dlq")
	kc.CreateTopics(t, ta, dlq)
	ts := startTwoSites(t, nil)
	wrong := base64.StdEncoding.EncodeToString([]byte("not-the-secret"))
	if err := os.WriteFile(ts.secretA, []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := ts.config(t, fmt.Sprintf("  - name: %s\n    site: brand-a\n", ta))
	var msgs []kafka.Message
	for i := range 10 {
		uid := fmt.Sprintf("_gid_rot%d", i)
		v, _ := events.Encode(events.Event{EventID: "r-" + uid, Type: events.UserRegistered, UID: uid})
		msgs = append(msgs, kafka.Message{Topic: ta, Key: []byte(uid), Value: v})
	}
	kc.Produce(t, msgs...)
	group := kc.Group("rotate")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--brokers", strings.Join(kc.Brokers, ","), "--group", group, "--dlq-topic", dlq,
			"--config", path, "--http-addr", "127.0.0.1:0", "--retry-initial", "10ms", "--site-probe-interval", "1h"}, &out, &errOut)
	}()
	// Wait until the site has been refused at least once.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := ts.sim.SiteStats("brand-a")
		if st.Total > st.OK {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("the site was never called with the wrong secret; stderr:\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.WriteFile(ts.secretA, []byte(testSecretA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kc.WaitCaughtUp(t, 60*time.Second, group, ta)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code = %d, want 0; stderr:\n%s", code, errOut.String())
	}
	if st, _ := ts.sim.SiteStats("brand-a"); st.OK < 10 {
		t.Errorf("brand-a answered OK %d times, want at least 10 (every event notified after the rotation)", st.OK)
	}
	if n := len(kc.ReadAll(t, dlq)); n != 0 {
		t.Errorf("dead letters = %d, want 0 (a misconfigured site never dead-letters)", n)
	}
	if logs := errOut.String(); strings.Contains(logs, testSecretA) || strings.Contains(logs, wrong) {
		t.Errorf("logs contain a secret:\n%s", logs)
	}
}

// TestRunAdminAndTracingFlagsExit2 checks the admin and tracing settings
// that run refuses: each exits 2 naming the flag or variable.
func TestRunAdminAndTracingFlagsExit2(t *testing.T) {
	base := []string{"run", "--brokers", "127.0.0.1:1", "--gigya-api-key", "3_k", "--gigya-user-key", "uk",
		"--gigya-secret", "c2VjcmV0", "--gigya-base-url", "http://127.0.0.1:1", "--http-addr", ""}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"admin on all interfaces without tokens", append(base, "--admin-addr", ":0"), nil, []string{"--admin-tokens-file", "REGNOTIFY_ADMIN_TOKENS_FILE"}},
		{"tokens file without admin addr", append(base, "--admin-tokens-file", "/nonexistent/tokens"), nil, []string{"--admin-addr", "REGNOTIFY_ADMIN_ADDR"}},
		{"unreadable tokens file", append(base, "--admin-addr", "127.0.0.1:0", "--admin-tokens-file", "/nonexistent/tokens"), nil, []string{"--admin-tokens-file"}},
		{"bad traces exporter", base, map[string]string{"OTEL_TRACES_EXPORTER": "carrier-pigeon"}, []string{"OTEL_TRACES_EXPORTER"}},
		{"zero probe interval", append(base, "--site-probe-interval", "0s"), nil, []string{"--site-probe-interval", "REGNOTIFY_SITE_PROBE_INTERVAL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, _, errOut := runMain(t, tt.args...)
			if code != 2 {
				t.Fatalf("exit code = %d, want 2; stderr:\n%s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not name %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestRunAdminPausesASite runs two sites with the admin API on loopback
// and a tokens file: status needs a token and lists both sites; an
// operator's pause of brand-b reaches the worker through the control topic
// and shows as state "paused"; the token never appears in the logs.
func TestRunAdminPausesASite(t *testing.T) {
	clearEnv(t)
	kc := kafkatest.Start(t)
	ta, tb, dlq := kc.Topic("a.user.registered"), kc.Topic("b.user.registered"), kc.Topic("regnotify.dlq")
	kc.CreateTopics(t, ta, tb, dlq)
	ts := startTwoSites(t, nil)
	path := ts.config(t, fmt.Sprintf("  - name: %s\n    site: brand-a\n  - name: %s\n    site: brand-b\n", ta, tb))
	const token = "admin-test-token-0123456789abcdef"
	tokens := writeFile(t, t.TempDir(), "tokens", "alice operator "+token+"\n")
	addr, err := wait.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--brokers", strings.Join(kc.Brokers, ","), "--group", kc.Group("admin"), "--dlq-topic", dlq,
			"--config", path, "--http-addr", "", "--admin-addr", addr, "--admin-tokens-file", tokens, "--log-level", "info"}, &out, &errOut)
	}()
	call := func(method, path, tok string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	stateOf := func(body, site string) string {
		var doc struct {
			Sites []struct{ Name, State string } `json:"sites"`
		}
		_ = json.Unmarshal([]byte(body), &doc)
		for _, s := range doc.Sites {
			if s.Name == site {
				return s.State
			}
		}
		return ""
	}
	deadline := time.Now().Add(30 * time.Second)
	var code int
	var body string
	for time.Now().Before(deadline) {
		if code, body = call(http.MethodGet, "/api/v1/status", token); code == http.StatusOK && stateOf(body, "brand-b") != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != http.StatusOK || stateOf(body, "brand-a") == "" || stateOf(body, "brand-b") == "" {
		cancel()
		<-done
		t.Fatalf("status = %d %s, want 200 with both sites; stderr:\n%s", code, body, errOut.String())
	}
	if c, _ := call(http.MethodGet, "/api/v1/status", ""); c != http.StatusUnauthorized {
		t.Errorf("status without a token = %d, want 401", c)
	}
	// A second worker of the group without the admin API: the pause must
	// reach it too, through the control topic.
	addrB, err := wait.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	var outB, errB syncBuffer
	doneB := make(chan int, 1)
	go func() {
		doneB <- Main(ctx, []string{"run", "--brokers", strings.Join(kc.Brokers, ","), "--group", kc.Group("admin"), "--dlq-topic", dlq,
			"--config", path, "--http-addr", addrB, "--log-level", "info"}, &outB, &errB)
	}()
	siteStateB := func(state string) bool {
		resp, err := http.Get("http://" + addrB + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `regnotify_site_state{site="brand-b",state="`+state+`"} 1`)
	}
	wait.Eventually(t, 20*time.Second, "the second worker serves brand-b", func() bool { return siteStateB("ok") })
	if c, b := call(http.MethodPost, "/api/v1/sites/brand-b/pause", token); c != http.StatusOK {
		t.Fatalf("pause = %d %s, want 200", c, b)
	}
	wait.Eventually(t, 10*time.Second, "the worker without the admin API sees the pause", func() bool { return siteStateB("paused") })
	var state string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, body = call(http.MethodGet, "/api/v1/status", token)
		if state = stateOf(body, "brand-b"); state == "paused" {
			break
		}
	}
	if state != "paused" {
		t.Errorf("brand-b state after pause = %q, want paused (%s); stderr:\n%s", state, body, errOut.String())
	}
	if s := stateOf(body, "brand-a"); s == "paused" {
		t.Errorf("brand-a paused too")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code = %d, want 0; stderr:\n%s", code, errOut.String())
	}
	if code := <-doneB; code != 0 {
		t.Fatalf("second worker's exit code = %d, want 0; stderr:\n%s", code, errB.String())
	}
	if strings.Contains(errOut.String()+out.String(), token) {
		t.Error("the admin token appears in the output")
	}
	if !strings.Contains(errOut.String(), `"admin audit"`) {
		t.Errorf("no audit line for the pause:\n%s", errOut.String())
	}
}

// TestDeployConfigFileExampleParses keeps deploy's configuration file
// example (a ConfigMap) valid: its regnotify.yaml parses without error.
func TestDeployConfigFileExampleParses(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/k8s/base/config-file.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatalf("config-file.example.yaml: %v", err)
	}
	file, ok := cm.Data["regnotify.yaml"]
	if !ok {
		t.Fatal("config-file.example.yaml has no data key regnotify.yaml")
	}
	f, err := config.Parse([]byte(file), "config-file.example.yaml", nil)
	if err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	if len(f.Sites) < 2 || len(f.Topics) == 0 {
		t.Errorf("the example has %d sites and %d topics, want several sites and some topics", len(f.Sites), len(f.Topics))
	}
}
