package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/regnotify/regnotify/gigya/gigyasim"
)

var simListenRE = regexp.MustCompile(`listening on (http://\S+)`)

// waitSimAddress waits for the simulator command to print its address.
func waitSimAddress(t *testing.T, exit <-chan int, stdout, stderr *syncBuffer) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case code := <-exit:
			t.Fatalf("exited early with %d; stderr:\n%s", code, stderr.String())
		default:
		}
		if m := simListenRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address after 10s; stdout:\n%s", stdout.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGigyaSimServesAndShutsDown runs `regnotify gigya-sim` with its demo
// defaults, makes a real call, and checks that cancelling the context (what
// SIGINT does) shuts it down promptly with exit code 0.
func TestGigyaSimServesAndShutsDown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Setenv("GIGYASIM_LATENCY", "1ms") // flags read their variables
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exit := make(chan int, 1)
	go func() { exit <- Main(ctx, []string{"gigya-sim", "--addr", "127.0.0.1:0"}, &stdout, &stderr) }()

	base := waitSimAddress(t, exit, &stdout, &stderr)
	for _, want := range []string{simDemoAPIKey, simDemoUserKey, simDemoSecret, "latency=1ms"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, stdout.String())
		}
	}

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.PostForm(base+"/"+gigyasim.MethodNotifyRegistration, url.Values{
		"apiKey": {simDemoAPIKey}, "UID": {"u1"}, "userKey": {simDemoUserKey}, "secret": {simDemoSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ ErrorCode int }
	err = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if err != nil || answer.ErrorCode != 0 {
		t.Errorf("notify with the demo credentials: errorCode %d (%v), want 0", answer.ErrorCode, err)
	}
	resp, err = client.Get(base + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st gigyasim.Stats
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Registered != 1 {
		t.Errorf("stats = %+v (%v), want 1 registered", st, err)
	}

	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after cancel")
	}
}

func TestGigyaSimHelpListsEveryFlag(t *testing.T) {
	var stdout, stderr syncBuffer
	if code := Main(context.Background(), []string{"gigya-sim", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr: %s", code, stderr.String())
	}
	help := stdout.String()
	typ := reflect.TypeFor[gigyaSimCmd]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, env := f.Tag.Get("name"), f.Tag.Get("env")
		if name == "" || env == "" || f.Tag.Get("help") == "" {
			t.Errorf("field %s: want name, env and help tags", f.Name)
			continue
		}
		if !strings.HasPrefix(env, "GIGYASIM_") {
			t.Errorf("--%s reads %s, want a GIGYASIM_ variable", name, env)
		}
		if !strings.Contains(help, "--"+name) || !strings.Contains(help, "$"+env) {
			t.Errorf("help lacks --%s or $%s", name, env)
		}
	}
}

// TestGigyaSimDemoDefaults keeps the flag defaults and the constants the
// banner compares against in step.
func TestGigyaSimDemoDefaults(t *testing.T) {
	typ := reflect.TypeFor[gigyaSimCmd]()
	for field, want := range map[string]string{
		"APIKey": simDemoAPIKey, "UserKey": simDemoUserKey,
		"Secret": simDemoSecret, "PartnerSecret": simDemoPartnerSecret,
	} {
		f, _ := typ.FieldByName(field)
		if got := f.Tag.Get("default"); got != want {
			t.Errorf("%s default = %q, want %q", field, got, want)
		}
	}
}

func TestGigyaSimConfigFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := write("key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})))
	c := gigyaSimCmd{
		APIKey: "3_k", UserKey: "uk", Secret: simDemoSecret, PartnerSecret: simDemoPartnerSecret, Outage: "none",
		SecretFile:        write("secret", "c2VjcmV0\n"),
		PartnerSecretFile: write("partner", "cGFydG5lcg==\n"),
		PublicKeyFile:     keyFile,
		AccountsFile:      write("accounts", "# known\nuid-1\n\n  uid-2  \n"),
		Strict:            true,
	}
	cfg, err := c.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Secret != "c2VjcmV0" || cfg.PartnerSecret != "cGFydG5lcg==" {
		t.Errorf("secrets from files = %q, %q; want c2VjcmV0, cGFydG5lcg==", cfg.Secret, cfg.PartnerSecret)
	}
	if cfg.PublicKey == nil || !cfg.PublicKey.Equal(&key.PublicKey) {
		t.Error("public key: want the private key's public half")
	}
	if want := []string{"uid-1", "uid-2"}; !reflect.DeepEqual(cfg.Accounts, want) || !cfg.Strict {
		t.Errorf("accounts = %q, strict %v; want %q, true", cfg.Accounts, cfg.Strict, want)
	}
}

func TestGigyaSimBadConfig(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "not-a-key.pem")
	if err := os.WriteFile(notKey, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantMsg  string
	}{
		{"secret not base64", []string{"--secret", "not base64!"}, 2, "--secret"},
		{"partner secret not base64", []string{"--partner-secret", "%%%"}, 2, "--partner-secret"},
		{"secret and secret file", []string{"--secret", "c2VjcmV0", "--secret-file", notKey}, 2, "--secret-file"},
		{"no auth mode", []string{"--secret", ""}, 2, "--public-key-file"},
		{"unknown outage", []string{"--outage", "sometimes"}, 2, "--outage"},
		{"error rate above 1", []string{"--error-rate", "2"}, 2, "--error-rate"},
		{"negative latency", []string{"--latency", "-1s"}, 2, "--latency"},
		{"strict without accounts", []string{"--strict"}, 2, "--accounts-file"},
		{"missing accounts file", []string{"--accounts-file", filepath.Join(dir, "nope")}, 2, "--accounts-file"},
		{"not a key", []string{"--public-key-file", notKey}, 2, "--public-key-file"},
		{"cert without key", []string{"--tls-cert-file", notKey}, 2, "--tls-key-file"},
		{"bad address", []string{"--addr", "127.0.0.1:99999"}, 1, "listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := Main(context.Background(), append([]string{"gigya-sim"}, tt.args...), &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantMsg) {
				t.Errorf("exit %d, stderr %q; want exit %d naming %q", code, stderr.String(), tt.wantCode, tt.wantMsg)
			}
			if strings.Contains(stderr.String(), "not base64!") {
				t.Errorf("stderr echoes the secret: %q", stderr.String())
			}
		})
	}
}

// TestGigyaSimNeverPrintsGivenSecrets: secrets given by flag, variable or
// file are never printed, neither in the banner nor in the debug log of
// calls that fail on them (a wrong secret, a wrong UIDSig).
func TestGigyaSimNeverPrintsGivenSecrets(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString([]byte("sim-given-app-secret-Xq7+/must-not-print"))
	partner := base64.StdEncoding.EncodeToString([]byte("sim-given-partner-secret-9Kd/must-not-print"))
	partnerFile := filepath.Join(t.TempDir(), "partner")
	if err := os.WriteFile(partnerFile, []byte(partner+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIGYASIM_SECRET", secret)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- Main(ctx, []string{"gigya-sim", "--addr", "127.0.0.1:0", "--log-level", "debug",
			"--partner-secret-file", partnerFile}, &stdout, &stderr)
	}()
	base := waitSimAddress(t, exit, &stdout, &stderr)
	if n := strings.Count(stdout.String(), "(set; not printed)"); n != 2 {
		t.Errorf("banner shows %d secrets as \"(set; not printed)\", want 2:\n%s", n, stdout.String())
	}

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for _, form := range []url.Values{
		{"apiKey": {simDemoAPIKey}, "UID": {"u1"}, "userKey": {simDemoUserKey}, "secret": {secret}},
		{"apiKey": {simDemoAPIKey}, "UID": {"u2"}, "userKey": {simDemoUserKey}, "secret": {secret + "x"}},
		{"apiKey": {simDemoAPIKey}, "UID": {"u3"}, "userKey": {simDemoUserKey}, "secret": {secret},
			"siteUID": {"s3"}, "UIDTimestamp": {"1700000000"}, "UIDSig": {"AAAA"}},
	} {
		resp, err := client.PostForm(base+"/"+gigyasim.MethodNotifyRegistration, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after cancel")
	}
	out := stdout.String() + stderr.String()
	if !strings.Contains(stderr.String(), "u2") {
		t.Errorf("the debug log does not mention the calls; the search would prove nothing:\n%s", stderr.String())
	}
	for _, s := range []string{secret, partner, url.QueryEscape(secret), url.QueryEscape(partner),
		"sim-given-app-secret", "sim-given-partner-secret"} {
		if strings.Contains(out, s) {
			t.Errorf("the output shows a secret (%q):\n%s", s, out)
		}
	}
}

// TestGigyaSimSeveralSites runs `regnotify gigya-sim` with two data centers
// and two --site sites (secrets inline and from a file): each site answers
// on its own data center, a call on the wrong one gets 301001 whose
// apiDomain is the listener where the same call succeeds, a site's fault
// stays its own, and no given secret is printed.
func TestGigyaSimSeveralSites(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	secretA := base64.StdEncoding.EncodeToString([]byte("cli-site-a-secret/must-not-print"))
	secretB := base64.StdEncoding.EncodeToString([]byte("cli-site-b-secret/must-not-print"))
	partnerB := base64.StdEncoding.EncodeToString([]byte("cli-site-b-partner/must-not-print"))
	fileB := filepath.Join(t.TempDir(), "b.secret")
	if err := os.WriteFile(fileB, []byte(secretB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- Main(ctx, []string{"gigya-sim", "--addr", "127.0.0.1:0", "--api-key", "",
			"--data-center", "us1=127.0.0.1:0", "--data-center", "eu1=127.0.0.1:0",
			"--site", "name=brand-a,apiKey=3_a,userKey=uk-a,secret=" + secretA + ",dataCenter=us1,rate=1000,burst=50",
			"--site", "name=brand-b,apiKey=3_b,userKey=uk-b,secretFile=" + fileB + ",partnerSecret=" + partnerB + ",dataCenter=eu1",
			"--site", "name=brand-c,apiKey=3_c,userKey=uk-c,secret=" + secretA + ",fault=403007,sharedQuota=partner",
			"--shared-quota", "partner=0.000001/1",
		}, &stdout, &stderr)
	}()
	waitSimAddress(t, exit, &stdout, &stderr)
	dcs := map[string]string{}
	for _, m := range regexp.MustCompile(`data center\s+(\S+) at (http://\S+)`).FindAllStringSubmatch(stdout.String(), -1) {
		dcs[m[1]] = m[2]
	}
	if len(dcs) != 2 {
		t.Fatalf("banner lists data centers %v, want us1 and eu1:\n%s", dcs, stdout.String())
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	call := func(base, apiKey, userKey, secret string) (code int, apiDomain string) {
		t.Helper()
		resp, err := client.PostForm(base+"/"+gigyasim.MethodNotifyRegistration, url.Values{
			"apiKey": {apiKey}, "UID": {"u1"}, "userKey": {userKey}, "secret": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a struct {
			ErrorCode int
			APIDomain string `json:"apiDomain"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
		return a.ErrorCode, a.APIDomain
	}
	tests := []struct {
		name, base, apiKey, userKey, secret string
		want                                int
	}{
		{"brand-a on us1", dcs["us1"], "3_a", "uk-a", secretA, 0},
		{"brand-b on eu1", dcs["eu1"], "3_b", "uk-b", secretB, 0},
		{"brand-b on us1", dcs["us1"], "3_b", "uk-b", secretB, 301001},
		{"brand-c anywhere: its fault", dcs["eu1"], "3_c", "uk-c", secretA, 403007},
		{"brand-a's secret for brand-b", dcs["eu1"], "3_b", "uk-b", secretA, 403010},
		{"brand-c again: its shared quota of one call is used", dcs["eu1"], "3_c", "uk-c", secretA, 403048},
	}
	for _, tt := range tests {
		code, apiDomain := call(tt.base, tt.apiKey, tt.userKey, tt.secret)
		if code != tt.want {
			t.Errorf("%s: errorCode %d, want %d", tt.name, code, tt.want)
		}
		if tt.want == 301001 {
			if "http://"+apiDomain != dcs["eu1"] {
				t.Errorf("%s: apiDomain %q, want eu1's listener %s", tt.name, apiDomain, dcs["eu1"])
			}
			if code, _ := call("http://"+apiDomain, tt.apiKey, tt.userKey, tt.secret); code != 0 {
				t.Errorf("%s: following apiDomain: errorCode %d, want 0", tt.name, code)
			}
		}
	}
	resp, err := client.Get(dcs["us1"] + "/_sim/stats?site=brand-a")
	if err != nil {
		t.Fatal(err)
	}
	var st gigyasim.SiteStats
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.OK != 1 || st.Quota != (gigyasim.Quota{Rate: 1000, Burst: 50}) {
		t.Errorf("stats?site=brand-a = %+v (%v), want 1 ok and quota 1000/50", st, err)
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after cancel")
	}
	if n := strings.Count(stdout.String(), "(set; not printed)"); n != 4 {
		t.Errorf("banner shows %d secrets as \"(set; not printed)\", want 4:\n%s", n, stdout.String())
	}
	for _, s := range []string{secretA, secretB, partnerB, "must-not-print"} {
		if strings.Contains(stdout.String()+stderr.String(), s) {
			t.Errorf("the output shows a secret (%q)", s)
		}
	}
}

func TestGigyaSimBadSites(t *testing.T) {
	const secret = "c2VjcmV0LW5ldmVyLWVjaG9lZA==" // base64 of "secret-never-echoed"
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"missing name", []string{"--site", "apiKey=3_a,userKey=u,secret=" + secret}, "name, apiKey and userKey are required"},
		{"unknown key", []string{"--site", "name=a,apiKey=3_a,userKey=u,secret=" + secret + ",colour=red"}, "colour=red: unknown key"},
		{"not key=value", []string{"--site", "name=a,apiKey"}, `"apiKey": want key=value`},
		{"bad secret", []string{"--site", "name=a,apiKey=3_a,userKey=u,secret=not-base64!"}, "not valid base64"},
		{"no auth", []string{"--site", "name=a,apiKey=3_a,userKey=u"}, "no authentication mode"},
		{"bad fault", []string{"--site", "name=a,apiKey=3_a,userKey=u,secret=" + secret + ",fault=500001"}, "code 500001"},
		{"bad rate", []string{"--site", "name=a,apiKey=3_a,userKey=u,secret=" + secret + ",rate=fast"}, "rate=fast: invalid syntax"},
		{"unknown data center", []string{"--site", "name=a,apiKey=3_a,userKey=u,secret=" + secret + ",dataCenter=mars"}, `DataCenter "mars"`},
		{"duplicate site", []string{"--site", "name=a,apiKey=3_a,userKey=u,secret=" + secret, "--site", "name=a,apiKey=3_b,userKey=u,secret=" + secret}, "duplicate name"},
		{"bad data center", []string{"--data-center", "us1"}, "--data-center"},
		{"bad shared quota", []string{"--shared-quota", "p=lots"}, "--shared-quota"},
		{"unknown shared quota", []string{"--site", "name=a,apiKey=3_a,userKey=u,secret=" + secret + ",sharedQuota=p"}, `SharedQuota "p"`},
		{"no site at all", []string{"--api-key", ""}, "--api-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := Main(context.Background(), append([]string{"gigya-sim", "--addr", "127.0.0.1:0"}, tt.args...), &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tt.wantMsg) {
				t.Errorf("exit %d, stderr %q; want exit 2 naming %q", code, stderr.String(), tt.wantMsg)
			}
			if strings.Contains(stderr.String()+stdout.String(), secret) || strings.Contains(stderr.String(), "not-base64!") {
				t.Errorf("output echoes a secret: %q", stderr.String())
			}
		})
	}
}
