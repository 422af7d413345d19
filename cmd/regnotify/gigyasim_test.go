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
