package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkatest"
	"github.com/regnotify/regnotify/worker/wait"
)

// mainUsageError runs Main with args in an environment of just env and
// fails the test unless it exits 2 (a usage error) with every string of
// want on stderr. It returns what Main wrote to stdout and stderr.
func mainUsageError(t *testing.T, args []string, env map[string]string, want []string) (stdout, stderr string) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code := Main(ctx, args, &out, &errOut); code != 2 {
		t.Fatalf("exit code = %d, want 2; stderr:\n%s", code, errOut.String())
	}
	for _, w := range want {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("stderr does not name %q:\n%s", w, errOut.String())
		}
	}
	return out.String(), errOut.String()
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a running
// command and the reads of a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clearEnv unsets every variable the commands read, so that the machine's
// environment cannot leak into a test.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range []string{"KAFKA_", "GIGYA_", "REGNOTIFY_", "GIGYASIM_"} {
			if strings.HasPrefix(k, p) {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
		}
	}
}

func TestRunConfigurationErrorsExit2NamingFlagAndVariable(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"run", "--brokers", "127.0.0.1:1", "--gigya-api-key", "3_k", "--gigya-user-key", "uk",
		"--gigya-secret", "c2VjcmV0", "--gigya-base-url", "http://127.0.0.1:1", "--gigya-partner-secret", "cGFydG5lcg==",
		"--http-addr", ""}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // all must appear in stderr
	}{
		{"no brokers", []string{"run", "--gigya-api-key", "k"}, nil, []string{"--brokers", "KAFKA_BROKERS"}},
		{"no api key", []string{"run", "--brokers", "127.0.0.1:1"}, nil, []string{"--gigya-api-key", "GIGYA_API_KEY"}},
		{"no user key", []string{"run", "--brokers", "127.0.0.1:1", "--gigya-api-key", "k"}, nil, []string{"--gigya-user-key", "GIGYA_USER_KEY"}},
		{"broker without port", append(base, "--brokers", "justahost"), nil, []string{"--brokers", "KAFKA_"}},
		{"zero concurrency", append(base, "--concurrency", "0"), nil, []string{"--concurrency", "REGNOTIFY_CONCURRENCY"}},
		{"concurrency from env", base, map[string]string{"REGNOTIFY_CONCURRENCY": "-3"}, []string{"--concurrency", "REGNOTIFY_CONCURRENCY"}},
		{"bad start offset", append(base, "--start-offset", "middle"), nil, []string{"--start-offset"}},
		{"bad auth mode", append(base, "--gigya-auth", "magic"), nil, []string{"--gigya-auth"}},
		{"secret and secret file", append(base, "--gigya-secret-file", secretFile), nil, []string{"--gigya-secret", "GIGYA_SECRET_FILE"}},
		{"missing secret file", base[:len(base)-0], map[string]string{"GIGYA_PARTNER_SECRET_FILE": "/nonexistent/partner"}, []string{"--gigya-partner-secret", "GIGYA_PARTNER_SECRET"}},
		{"dlq topic consumed", append(base, "--dlq-topic", "account.linked"), nil, []string{"--dlq-topic"}},
		{"plain http secret to remote host", append(base, "--gigya-base-url", "http://gigya.example.com", "--gigya-auth", "secret"), nil, []string{"--gigya-base-url", "GIGYA_BASE_URL"}},
		{"partner secret not base64", append(base, "--gigya-partner-secret", "%%%"), nil, []string{"--gigya-partner-secret", "GIGYA_PARTNER_SECRET"}},
		{"sasl password without mechanism", append(base, "--kafka-sasl-password", "pw"), nil, []string{"SASL", "KAFKA_"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut := mainUsageError(t, tt.args, tt.env, tt.want)
			for _, secret := range []string{"c2VjcmV0", "cGFydG5lcg==", "pw\n"} {
				if strings.Contains(out+errOut, secret) {
					t.Errorf("the output shows the secret %q:\nstdout %s\nstderr %s", secret, out, errOut)
				}
			}
		})
	}
}

// TestRunFromEnvironment configures run through environment variables only
// (secrets through *_FILE), processes events against the in-process broker
// and the simulator, and shuts down cleanly on cancel.
func TestRunFromEnvironment(t *testing.T) {
	clearEnv(t)
	kc := kafkatest.Start(t)
	reg, link, dlq := kc.Topic("user.registered"), kc.Topic("account.linked"), kc.Topic("regnotify.dlq")
	kc.CreateTopics(t, reg, link, dlq)
	appSecret := base64.StdEncoding.EncodeToString([]byte("run-test-app-secret-7f3a"))
	partner := base64.StdEncoding.EncodeToString([]byte("run-test-partner-secret-c91e"))
	sim, err := gigyasim.New(gigyasim.Config{APIKey: "3_run", UserKey: "run-uk", Secret: appSecret, PartnerSecret: partner})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	group := kc.Group("run")
	for k, v := range map[string]string{
		"KAFKA_BROKERS": strings.Join(kc.Brokers, ","), "KAFKA_GROUP_ID": group,
		"KAFKA_TOPICS": reg + "," + link, "KAFKA_DLQ_TOPIC": dlq,
		"GIGYA_API_KEY": "3_run", "GIGYA_USER_KEY": "run-uk", "GIGYA_BASE_URL": srv.URL, "GIGYA_AUTH": "signed",
		"GIGYA_SECRET_FILE": write("secret", appSecret), "GIGYA_PARTNER_SECRET_FILE": write("partner", partner),
		"REGNOTIFY_HTTP_ADDR": "127.0.0.1:0", "REGNOTIFY_RETRY_INITIAL": "10ms", "REGNOTIFY_LOG_LEVEL": "info",
	} {
		t.Setenv(k, v)
	}
	var msgs []kafka.Message
	for i := range 20 {
		uid := fmt.Sprintf("_gid_env%02d", i)
		v, err := events.Encode(events.Event{EventID: fmt.Sprintf("e%d", i), Type: events.AccountLinked, UID: uid, SiteUID: fmt.Sprintf("site-%02d", i)})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: link, Key: []byte(uid), Value: v})
	}
	msgs = append(msgs, kafka.Message{Topic: reg, Key: []byte("x"), Value: []byte(`{"uid":"_gid_noid"}`)})
	kc.Produce(t, msgs...)

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"run"}, &out, &errOut) }()
	kc.WaitCaughtUp(t, 30*time.Second, group, reg, link)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code = %d, want 0; stderr:\n%s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop within 20s of cancel")
	}
	if got := sim.Stats().Linked; got != 20 {
		t.Errorf("simulator linked = %d, want 20", got)
	}
	if got := len(kc.ReadAll(t, dlq)); got != 1 {
		t.Errorf("dead letters = %d, want 1 (the event without eventId)", got)
	}
	logs := errOut.String()
	if !strings.Contains(logs, `"event dead-lettered"`) || !strings.Contains(logs, `eventId`) {
		t.Errorf("logs lack the dead-letter line naming the field:\n%s", logs)
	}
	for _, s := range []string{appSecret, partner, "run-test-app-secret", "run-test-partner-secret"} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain the secret %q", s)
		}
	}
}

// TestRunWithSASLNeverShowsThePassword runs the worker against a broker that
// requires SCRAM, with the password from a file and debug logs, and
// searches the logs and the /metrics body for the password in every form.
func TestRunWithSASLNeverShowsThePassword(t *testing.T) {
	clearEnv(t)
	const password = "run-kafka-pw-Hq7-must-never-leak"
	kc := kafkatest.Start(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "svc", password))
	k := kafkaio.Kafka{Brokers: kc.Brokers, SASLMechanism: "scram-sha-512", SASLUsername: "svc", SASLPassword: password}
	tr, err := k.Transport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reg, link, dlq := "user.registered", "account.linked", "regnotify.dlq"
	client := &kafka.Client{Addr: kafka.TCP(kc.Brokers...), Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: reg, NumPartitions: 2, ReplicationFactor: 1}, {Topic: link, NumPartitions: 2, ReplicationFactor: 1},
		{Topic: dlq, NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	for tp, err := range resp.Errors {
		if err != nil {
			t.Fatalf("create %s: %v", tp, err)
		}
	}
	appSecret := base64.StdEncoding.EncodeToString([]byte("run-sasl-app-secret"))
	partner := base64.StdEncoding.EncodeToString([]byte("run-sasl-partner-secret"))
	sim, err := gigyasim.New(gigyasim.Config{APIKey: "3_run", UserKey: "run-uk", Secret: appSecret, PartnerSecret: partner})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	const n = 10
	var msgs []kafka.Message
	for i := range n {
		uid := fmt.Sprintf("_gid_sasl%02d", i)
		v, err := events.Encode(events.Event{EventID: fmt.Sprintf("s%d", i), Type: events.AccountLinked, UID: uid, SiteUID: fmt.Sprintf("site-%02d", i)})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: link, Key: []byte(uid), Value: v})
	}
	msgs = append(msgs, kafka.Message{Topic: reg, Key: []byte("x"), Value: []byte(`{"uid":"_gid_noid"}`)})
	wr := &kafka.Writer{Addr: kafka.TCP(kc.Brokers...), Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := wr.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	wr.Close()

	pwFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, err := wait.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--brokers", strings.Join(kc.Brokers, ","), "--kafka-sasl-mechanism", "scram-sha-512",
		"--kafka-sasl-username", "svc", "--kafka-sasl-password-file", pwFile,
		"--gigya-api-key", "3_run", "--gigya-user-key", "run-uk", "--gigya-base-url", srv.URL, "--gigya-auth", "signed",
		"--gigya-secret", appSecret, "--gigya-partner-secret", partner, "--http-addr", httpAddr,
		"--retry-initial", "10ms", "--log-level", "debug"}
	runCtx, stop := context.WithCancel(ctx)
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- Main(runCtx, args, &out, &errOut) }()

	var metrics string
	for {
		r, err := http.Get("http://" + httpAddr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			metrics = string(b)
			if strings.Contains(metrics, `regnotify_events_total{outcome="notified",site="default",topic="account.linked"} 10`) &&
				strings.Contains(metrics, `outcome="dlq_invalid"`) {
				break
			}
		}
		if ctx.Err() != nil {
			stop()
			t.Fatalf("the worker did not process the events over SASL; stderr:\n%s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("exit code = %d, want 0; stderr:\n%s", code, errOut.String())
	}
	logs := errOut.String() + out.String()
	if !strings.Contains(logs, `user=\"svc\"`) || !strings.Contains(logs, "event dead-lettered") {
		t.Fatalf("the debug log lacks the Kafka user or the dead letter: the search below would prove little:\n%s", logs)
	}
	for _, form := range []string{password, base64.StdEncoding.EncodeToString([]byte(password)), url.QueryEscape(password), "Hq7-must-never"} {
		if strings.Contains(logs, form) {
			t.Errorf("logs contain the Kafka password (%q)", form)
		}
		if strings.Contains(metrics, form) {
			t.Errorf("/metrics contains the Kafka password (%q)", form)
		}
	}
}
