package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/regnotify/regnotify/worker/admin"
	"github.com/regnotify/regnotify/worker/control"
	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/kafkatest"
	"github.com/regnotify/regnotify/worker/status"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
		// chromedp's browser process reaper outlives a test by a moment.
		goleak.IgnoreAnyFunction("os/exec.(*Cmd).watchCtx"),
	)
}

// Tokens of the tests' tokens file. Long and distinctive, so that a search
// of logs and pages for them cannot miss.
const (
	opToken     = "op-TOKEN-3f9a1c7e5b2d4e6f8a0b"
	viewerToken = "viewer-TOKEN-7c1e9b3d5f2a4c6e"
)

var failedBase = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// fixture is one dead letter of the test topic, and what the tests expect
// of it.
type fixture struct {
	i                          int
	site, class, code, origTop string
	key, eventID               string
	at                         time.Time
}

var classes = []string{deadletter.ClassRejected, deadletter.ClassInvalidEvent, deadletter.ClassRetriesExhausted}

// fixtures are 12 dead letters: sites alternate, classes cycle, the
// original topic changes every two, one a minute from failedBase.
func fixtures(live, reg string) []fixture {
	var out []fixture
	for i := range 12 {
		f := fixture{i: i, site: "brand-a", class: classes[i%3], origTop: live, key: fmt.Sprintf("uid-%02d", i),
			eventID: fmt.Sprintf("ev-%02d", i), at: failedBase.Add(time.Duration(i) * time.Minute)}
		if i%2 == 1 {
			f.site = "brand-b"
		}
		if f.class == deadletter.ClassRejected {
			f.code = "403005"
		}
		if i%4 >= 2 {
			f.origTop = reg
		}
		out = append(out, f)
	}
	return out
}

func (f fixture) message(dlq string) kafka.Message {
	h := []kafka.Header{{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}}
	add := func(k, v string) { h = append(h, kafka.Header{Key: k, Value: []byte(v)}) }
	add(deadletter.HeaderErrorClass, f.class)
	if f.code != "" {
		add(deadletter.HeaderErrorCode, f.code)
	}
	add(deadletter.HeaderErrorMessage, "gigya said no ("+f.class+")")
	add(deadletter.HeaderOriginalTopic, f.origTop)
	add(deadletter.HeaderOriginalPartition, "0")
	add(deadletter.HeaderOriginalOffset, strconv.Itoa(100+f.i))
	add(deadletter.HeaderConsumerGroup, "regnotify")
	add("regnotify.site", f.site)
	add(deadletter.HeaderAttempts, "1")
	add(deadletter.HeaderFailedAt, f.at.Format(time.RFC3339Nano))
	val := fmt.Sprintf(`{"eventId":%q,"type":"account.linked","uid":%q,"siteUid":"cust-%d"}`, f.eventID, f.key, f.i)
	return kafka.Message{Topic: dlq, Key: []byte(f.key), Value: []byte(val), Headers: h, Time: f.at}
}

// syncBuffer is a log sink tests can read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) Sync() error { return nil }
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a running admin server over a DLQ topic with the fixtures, and a
// second control follower standing for another worker of the group.
type env struct {
	t          *testing.T
	kc         *kafkatest.Cluster
	dlq        string
	live, reg  string
	fx         []fixture
	url        string
	logs       *syncBuffer
	ctl, other *control.Control
	tokensFile string
	srv        *admin.Server
}

func startControl(t *testing.T, kc *kafkatest.Cluster, topic string, log *zap.Logger) *control.Control {
	t.Helper()
	tr := &kafka.Transport{}
	c, err := control.New(control.Config{Brokers: kc.Brokers, Transport: tr, Topic: topic, MaxWait: 100 * time.Millisecond, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.EnsureTopic(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Follow(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done; tr.CloseIdleConnections() })
	select {
	case <-c.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("control follower never ready")
	}
	return c
}

// fakeStatus is the worker's side for the tests: two sites whose state
// follows the control topic, like the worker's will.
func fakeStatus(ctl *control.Control) admin.StatusFunc {
	var n, notified, done, rejected, invalid float64
	var mu sync.Mutex
	return func() status.Doc {
		mu.Lock()
		n++
		// A daytime-like wave, so that the plots have something to show.
		notified += 40 + 25*math.Sin(n/6)
		done += 4 + 3*math.Sin(n/4)
		rejected += 1 + math.Sin(n/3)
		invalid += 0.5
		ev := map[string]int64{"notified": int64(notified), "already_done": int64(done), "dlq_rejected": int64(rejected), "dlq_invalid": int64(invalid)}
		lag := int64(300 + 250*math.Sin(n/7))
		mu.Unlock()
		d := status.Doc{
			Lanes:            []status.Lane{{Name: "live", Inflight: 12, Limit: 0}, {Name: "bulk", Inflight: 20, Limit: 32}},
			Partitions:       []status.Partition{{Topic: "account.linked", Partition: 0, Lag: lag, Committed: 1200}, {Topic: "account.linked", Partition: 1, Lag: 3, Committed: 1180}, {Topic: "bulk.account.linked", Partition: 0, Lag: 1523, Committed: 88000}},
			DeadLetterWriter: status.DeadLetterWriter{Failing: false},
			Events:           ev,
		}
		for _, s := range []string{"brand-a", "brand-b"} {
			st := "ok"
			if ctl.Paused(s) {
				st = "paused"
			}
			d.Sites = append(d.Sites, status.Site{Name: s, State: st, RateLimit: 150, Inflight: 16})
		}
		return d
	}
}

func newEnv(t *testing.T) *env {
	t.Helper()
	kc := kafkatest.Start(t)
	name := kc.Topic
	if kc.Fake != nil { // a broker of this test alone: the plain names read better in screenshots
		name = func(s string) string { return s }
	}
	e := &env{t: t, kc: kc, dlq: name("regnotify.dlq"), live: name("account.linked"), reg: name("user.registered"), logs: &syncBuffer{}}
	kc.CreateTopics(t, e.dlq, e.live, e.reg)
	e.fx = fixtures(e.live, e.reg)
	var msgs []kafka.Message
	for _, f := range e.fx {
		msgs = append(msgs, f.message(e.dlq))
	}
	kc.Produce(t, msgs...)
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), e.logs, zap.DebugLevel))
	e.ctl = startControl(t, kc, name("regnotify.control"), log)
	e.other = startControl(t, kc, name("regnotify.control"), zap.NewNop())
	e.tokensFile = filepath.Join(t.TempDir(), "tokens")
	e.writeTokens("# name role token\nalice operator " + opToken + "\nvictor viewer " + viewerToken + "\n")
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	srv, err := admin.New(admin.Options{Addr: "127.0.0.1:0", TokensFile: e.tokensFile, Status: fakeStatus(e.ctl), Control: e.ctl,
		Brokers: kc.Brokers, Transport: tr, DLQTopic: e.dlq, Log: log, SampleKeep: 60})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	e.srv = srv
	for i := range 40 {
		srv.Sample(failedBase.Add(time.Duration(i) * 2 * time.Second))
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	e.url = hs.URL
	return e
}

func (e *env) writeTokens(content string) {
	e.t.Helper()
	tmp := e.tokensFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, e.tokensFile); err != nil {
		e.t.Fatal(err)
	}
}

// call makes an API call and returns the status and body.
func (e *env) call(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, tok := range []string{opToken, viewerToken} {
		if strings.Contains(string(b), tok) {
			e.t.Errorf("%s %s: a token appears in the response", method, path)
		}
	}
	return resp.StatusCode, b
}

// eventually polls cond; the guard catches a change never seen, it is not
// a latency assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
