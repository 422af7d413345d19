package e2e_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/cmd/internal/e2e"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker/deadletter"
)

// TestSecrets runs a worker at debug level into everything that writes
// errors (a wrong partner secret: 403003, which makes the site
// misconfigured; random 500001s; invalid events) with distinctive secrets,
// and searches every log line, /metrics body and dead-letter record for
// them in any form. Every other scenario runs the same search at its end.
func TestSecrets(t *testing.T) {
	w := newWorld(t, e2e.EnvConfig{Sim: gigyasim.Config{Faults: gigyasim.Faults{ErrorRate: 0.3}}})
	wrong := w.Credentials
	wrong.PartnerSecret = base64.StdEncoding.EncodeToString([]byte("e2e-WRONG-PARTNER-SECRET-p4Zs-must-never-leak"))
	var msgs []kafka.Message
	for i := range 50 {
		msgs = append(msgs,
			w.Registered(fmt.Sprintf("%sr-%d", validPrefix, i), uidOf(i)),
			w.Linked(fmt.Sprintf("%sl-%d", validPrefix, i), uidOf(100+i), siteOf(100+i)),
			kafka.Message{Topic: w.LinkedTopic, Key: []byte("bad"), Value: []byte(`{"eventId":"bad","uid":"u","siteUid":"u"}`)})
	}
	w.produce(msgs...)
	// Not WaitReady: a misconfigured site makes /readyz 503, maybe before the
	// first poll.
	p := w.startNoWait(e2e.WorkerOptions{LogLevel: "debug", Credentials: &wrong})
	// 403003 concerns the site, not the event: the site goes misconfigured
	// and its events wait (no rejections); the invalid events read so far
	// are dead-lettered (the partitions wait behind the site's events).
	err := poll(w, time.Minute, func() bool {
		m, err := w.scrape(p)
		if err != nil {
			return false
		}
		mis, _ := m.Value("regnotify_site_state", "site", "default", "state", "misconfigured")
		invalid, _ := m.Value("regnotify_events_total", "outcome", "dlq_invalid")
		return mis == 1 && invalid > 0
	})
	if err != nil {
		t.Fatalf("the site never went misconfigured with invalid events dead-lettered: %v", err)
	}
	st, err := p.Stop(20 * time.Second)
	if err != nil || st.Code != 0 {
		t.Errorf("SIGTERM: %+v, %v; want exit 0", st, err)
	}
	classes := map[string]int{}
	for _, d := range w.dlq() {
		c, _ := e2e.Header(d, deadletter.HeaderErrorClass)
		classes[c]++
	}
	if len(classes) != 1 || classes[deadletter.ClassInvalidEvent] == 0 {
		t.Errorf("dead letters by class %v, want invalid_event only (403003 pauses the site: no rejected)", classes)
	}
	// The search below is only worth something if the failures were logged.
	logs, err := p.Logs()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"403003", "500001", "invalid event", "misconfigured"} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("the debug log never mentions %q: the secrets search covers less than it claims", want)
		}
	}
	forms := append(w.Credentials.SecretForms(), wrong.SecretForms()...)
	w.checkNoSecretsForms(forms)
}

// TestSecretOverPlainHTTPRefused: the application secret with --gigya-auth
// secret to a plain-HTTP, non-loopback URL stops the worker at start with
// exit code 2 and a message naming the setting, without the secret.
func TestSecretOverPlainHTTPRefused(t *testing.T) {
	creds := e2e.DistinctiveCredentials()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(creds.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{"http://192.0.2.10:8080", "http://gigya.example.com"} {
		ctx, cancel := ctxTimeout(30 * time.Second)
		code, out, err := e2e.RunCommand(ctx, bin,
			[]string{"GIGYA_SECRET_FILE=" + secretFile, "GIGYA_PARTNER_SECRET=" + creds.PartnerSecret},
			"run", "--brokers", "127.0.0.1:1", "--gigya-api-key", creds.APIKey, "--gigya-user-key", creds.UserKey,
			"--gigya-base-url", url, "--gigya-auth", "secret", "--http-addr", "127.0.0.1:0")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if code != 2 {
			t.Errorf("%s: exit code %d, want 2; output:\n%s", url, code, out)
		}
		if !strings.Contains(out, "--gigya-") || !strings.Contains(out, "GIGYA_") || !strings.Contains(out, "plain http") {
			t.Errorf("%s: message does not name the setting and the reason:\n%s", url, out)
		}
		for _, f := range creds.SecretForms() {
			if strings.Contains(out, f) {
				t.Errorf("%s: the refusal message contains a secret", url)
			}
		}
		t.Logf("%s: exit %d: %s", url, code, strings.TrimSpace(out))
	}
}
