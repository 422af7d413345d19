package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := Main(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestOperatorCommands drives bulk-link and replay end to end through Main.
func TestOperatorCommands(t *testing.T) {
	kc := kafkatest.Start(t)
	link, dlq := kc.Topic("account.linked"), kc.Topic("regnotify.dlq")
	kc.CreateTopics(t, link, dlq)
	brokers := "--brokers=" + strings.Join(kc.Brokers, ",")

	file := filepath.Join(t.TempDir(), "accounts.csv")
	if err := os.WriteFile(file, []byte("uid,siteUid\n_gid_a,cust-a\n_gid_b,_gid_b\n_gid_c,cust-c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runMain(t, "bulk-link", brokers, "--file", file, "--topic", link)
	if code != 0 || !strings.Contains(out, "produced 2, rejected 1") {
		t.Fatalf("bulk-link: exit %d, stdout %q, stderr %s; want exit 0 and produced 2, rejected 1", code, out, errOut)
	}

	kc.Produce(t, kafka.Message{Topic: dlq, Key: []byte("_gid_a"), Value: []byte(`{}`), Headers: []kafka.Header{
		{Key: deadletter.HeaderErrorClass, Value: []byte(deadletter.ClassRejected)},
		{Key: deadletter.HeaderOriginalTopic, Value: []byte(link)},
		{Key: deadletter.HeaderFailedAt, Value: []byte(time.Now().UTC().Format(time.RFC3339))},
	}})
	group := "--group=" + kc.Group("replay")
	code, out, errOut = runMain(t, "replay", brokers, group, "--dlq-topic", dlq, "--dry-run", "--since", "1h ago")
	if code != 0 || !strings.Contains(out, "would replay 1") || !strings.Contains(out, link) {
		t.Fatalf("replay --dry-run: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "replay", brokers, group, "--dlq-topic", dlq)
	if code != 0 || !strings.Contains(out, "replayed 1,") {
		t.Fatalf("replay: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if n := len(kc.ReadAll(t, link)); n != 3 {
		t.Errorf("records on %s: got %d, want 2 linked + 1 replayed", link, n)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", brokers, "--class", "nope"}, "--class"},
		{[]string{"replay", brokers, "--since", "yesterday"}, "--since"},
		{[]string{"replay", brokers, "--dry-run", "--follow"}, "exclude"},
		{[]string{"bulk-link", brokers, "--file", filepath.Join(t.TempDir(), "missing.csv")}, "--file"},
	} {
		code, _, errOut := runMain(t, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %s", tt.args, code, errOut, tt.want)
		}
	}
}

// TestOperatorCommandsWrongPassword: every command that talks to Kafka
// fails fast and clearly on a refused login, without showing the password.
func TestOperatorCommandsWrongPassword(t *testing.T) {
	kc := kafkatest.Start(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "ops", "right"))
	file := filepath.Join(t.TempDir(), "accounts.csv")
	if err := os.WriteFile(file, []byte("uid,siteUid\n_gid_a,cust-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--brokers=" + strings.Join(kc.Brokers, ","), "--kafka-sasl-mechanism=scram-sha-256", "--kafka-sasl-username=ops", "--kafka-sasl-password=hunter2"}
	for _, args := range [][]string{
		append([]string{"replay"}, common...),
		append([]string{"bulk-link", "--file", file}, common...),
		append([]string{"run", "--gigya-api-key=3_k", "--gigya-user-key=u", "--gigya-secret=c2VjcmV0",
			"--gigya-partner-secret=cA==", "--gigya-base-url=http://127.0.0.1:1", "--http-addr="}, common...),
	} {
		start := time.Now()
		code, out, errOut := runMain(t, args...)
		if code != 1 || !strings.Contains(errOut, `SASL authentication failed for user "ops"`) {
			t.Errorf("%s with a wrong password: exit %d, stderr %q; want exit 1 and a clear SASL message", args[0], code, errOut)
		}
		if strings.Contains(out+errOut, "hunter2") {
			t.Errorf("%s with a wrong password: the output shows the password:\nstdout %q\nstderr %q", args[0], out, errOut)
		}
		// runMain's context ends at 30 s: a command that retried the login
		// instead of failing would run into it. The bound only tells the
		// two apart (a loaded machine must not fail a fast failure).
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("%s with a wrong password took %v, want a fast failure, not retries until the deadline", args[0], took)
		}
	}
}

// TestOperatorCommandsPasswordNeverShown runs bulk-link and replay against a
// broker that requires SCRAM, with the right password (once by flag, once
// by file) and debug logs, and checks that their output never shows it.
func TestOperatorCommandsPasswordNeverShown(t *testing.T) {
	const password = "op-pw-Zq81-must-never-leak"
	kc := kafkatest.Start(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "ops", password))
	link, dlq := kc.Topic("account.linked"), kc.Topic("regnotify.dlq")
	k := kafkaio.Kafka{Brokers: kc.Brokers, SASLMechanism: "scram-sha-256", SASLUsername: "ops", SASLPassword: password}
	tr, err := k.Transport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(kc.Brokers...), Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: link, NumPartitions: 1, ReplicationFactor: 1}, {Topic: dlq, NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	for tp, err := range resp.Errors {
		if err != nil {
			t.Fatalf("create %s: %v", tp, err)
		}
	}
	w := &kafka.Writer{Addr: kafka.TCP(kc.Brokers...), Topic: dlq, Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	err = w.WriteMessages(ctx, kafka.Message{Key: []byte("_gid_a"), Value: []byte(`{}`), Headers: []kafka.Header{
		{Key: deadletter.HeaderErrorClass, Value: []byte(deadletter.ClassRejected)},
		{Key: deadletter.HeaderOriginalTopic, Value: []byte(link)},
		{Key: deadletter.HeaderFailedAt, Value: []byte(time.Now().UTC().Format(time.RFC3339))},
	}})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("write a dead letter: %v", err)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "accounts.csv")
	if err := os.WriteFile(file, []byte("uid,siteUid\n_gid_a,cust-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--brokers=" + strings.Join(kc.Brokers, ","), "--kafka-sasl-mechanism=scram-sha-256",
		"--kafka-sasl-username=ops", "--log-level=debug"}
	forms := []string{password, base64.StdEncoding.EncodeToString([]byte(password)), url.QueryEscape(password)}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{append([]string{"bulk-link", "--file", file, "--topic", link, "--kafka-sasl-password=" + password}, common...), "produced 1, rejected 0"},
		{append([]string{"replay", "--group=" + kc.Group("replay"), "--dlq-topic", dlq, "--kafka-sasl-password-file=" + pwFile}, common...), "replayed 1,"},
	} {
		code, out, errOut := runMain(t, tt.args...)
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %s; want exit 0 and %q", tt.args[0], code, out, errOut, tt.want)
		}
		if errOut == "" {
			t.Errorf("%s: no log output at debug level; the search would prove nothing", tt.args[0])
		}
		for _, f := range forms {
			if strings.Contains(out+errOut, f) {
				t.Errorf("%s: the output shows the SASL password (form %q):\nstdout %s\nstderr %s", tt.args[0], f, out, errOut)
			}
		}
	}
}
