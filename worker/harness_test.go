package worker_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

func TestMain(m *testing.M) { kafkatest.VerifyTestMain(m) }

var (
	testSecret  = base64.StdEncoding.EncodeToString([]byte("worker-test-app-secret"))
	testPartner = base64.StdEncoding.EncodeToString([]byte("worker-test-partner-secret"))
)

// harness is one test's world: a broker with the topics, the Gigya
// simulator behind real HTTP, a Gigya client in signed mode, and a worker
// configuration with short timings.
type harness struct {
	t       *testing.T
	kc      *kafkatest.Cluster
	sim     *gigyasim.Server
	srv     *httptest.Server
	reg     string // user.registered topic
	link    string // account.linked topic
	untyped string
	dlq     string
	cfg     worker.Config
	// log, if set, is the workers' logger (a test that reads the logs);
	// else warnings and errors go to the test log.
	log *zap.Logger
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	kc := kafkatest.Start(t)
	h := &harness{
		t: t, kc: kc,
		reg:     kc.Topic("user.registered"),
		link:    kc.Topic("account.linked"),
		untyped: kc.Topic("regnotify-test-untyped"),
		dlq:     kc.Topic("regnotify.dlq"),
	}
	kc.CreateTopics(t, h.reg, h.link, h.untyped, h.dlq)
	sim, err := gigyasim.New(gigyasim.Config{
		APIKey: "3_test", UserKey: "test-user-key", Secret: testSecret, PartnerSecret: testPartner, RecordCalls: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.sim = sim
	h.srv = httptest.NewServer(sim)
	t.Cleanup(h.srv.Close)
	h.cfg = worker.Config{
		Kafka:            kafkaio.Kafka{Brokers: kc.Brokers},
		Group:            kc.Group("regnotify"),
		Topics:           []string{h.reg, h.link},
		DLQTopic:         h.dlq,
		Concurrency:      64,
		RetryInitial:     5 * time.Millisecond,
		RetryMaxInterval: 50 * time.Millisecond,
		// Generous: a loaded 2-core machine under -race can stall the
		// simulator for seconds, and a valid event must not be dead-lettered
		// for it. Tests of exhaustion set their own short budget.
		RetryMaxElapsed:   30 * time.Second,
		ShutdownTimeout:   5 * time.Second,
		CommitInterval:    50 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		HeartbeatInterval: 500 * time.Millisecond,
		RebalanceTimeout:  10 * time.Second,
	}
	return h
}

func (h *harness) client(t *testing.T, metrics *worker.Metrics) *gigya.Client {
	t.Helper()
	opts := gigya.Options{
		APIKey: "3_test", BaseURL: h.srv.URL, Auth: gigya.AuthSigned, UserKey: "test-user-key",
		Secret: testSecret, PartnerSecret: testPartner, RequestTimeout: 10 * time.Second, MaxConns: 64,
	}
	if metrics != nil {
		opts.Observe = metrics.ObserveGigya
	}
	c, err := gigya.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// running is a worker started by start.
type running struct {
	w       *worker.Worker
	metrics *worker.Metrics
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
	err     error
}

// stop shuts the worker down and fails the test if Run returned an error or
// took longer than the shutdown bound.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(30 * time.Second):
			r.err = fmt.Errorf("worker did not stop within 30s")
		}
	})
	if r.err != nil {
		t.Fatalf("worker Run: %v", r.err)
	}
}

// start runs a worker with cfg (and the harness's Gigya client) until the
// test ends or stop is called.
func (h *harness) start(t *testing.T, cfg worker.Config) *running {
	t.Helper()
	return h.startWith(t, cfg, nil)
}

// startWith is start with setup called on the worker before it runs.
func (h *harness) startWith(t *testing.T, cfg worker.Config, setup func(*worker.Worker)) *running {
	t.Helper()
	m := worker.NewMetrics()
	dlq, err := worker.NewDeadLetterWriter(cfg.Kafka, cfg.DLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dlq.Close() })
	log := h.log
	if log == nil {
		log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	w, err := worker.New(cfg, h.client(t, m), dlq, m, log)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, metrics: m, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// linkedEvent returns an account.linked record for uid → siteUID.
func (h *harness) linkedEvent(id, uid, siteUID string) kafka.Message {
	v, err := events.Encode(events.Event{EventID: id, Type: events.AccountLinked, UID: uid, SiteUID: siteUID})
	if err != nil {
		h.t.Fatal(err)
	}
	return kafka.Message{Topic: h.link, Key: []byte(uid), Value: v}
}

// registeredEvent returns a user.registered record for uid.
func (h *harness) registeredEvent(id, uid string) kafka.Message {
	v, err := events.Encode(events.Event{EventID: id, Type: events.UserRegistered, UID: uid})
	if err != nil {
		h.t.Fatal(err)
	}
	return kafka.Message{Topic: h.reg, Key: []byte(uid), Value: v}
}

// waitDone waits until the group's commits cover every consumed topic.
func (h *harness) waitDone(t *testing.T, cfg worker.Config, timeout time.Duration) {
	t.Helper()
	h.kc.WaitCaughtUp(t, timeout, cfg.Group, cfg.Topics...)
}

func outcome(m *worker.Metrics, topic, outcome string) int {
	return int(metricVec(m, "regnotify_events_total", map[string]string{"topic": topic, "outcome": outcome}).value())
}

// metricVec finds one sample by gathering the registry: the tests read the
// metrics the way Prometheus would.
func metricVec(m *worker.Metrics, name string, labels map[string]string) *gathered {
	return &gathered{m: m, name: name, labels: labels}
}

type gathered struct {
	m      *worker.Metrics
	name   string
	labels map[string]string
}

func (g *gathered) value() float64 {
	mfs, err := g.m.Registry.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() != g.name {
			continue
		}
	metric:
		for _, mt := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range mt.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range g.labels {
				if have[k] != v {
					continue metric
				}
			}
			switch {
			case mt.GetCounter() != nil:
				return mt.GetCounter().GetValue()
			case mt.GetGauge() != nil:
				return mt.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// dlqHeaders returns the headers of a dead-letter record as a map.
func dlqHeaders(m kafka.Message) map[string]string {
	out := make(map[string]string)
	for _, hd := range m.Headers {
		out[hd.Key] = string(hd.Value)
	}
	return out
}

func uidOf(i int) string { return fmt.Sprintf("_gid_user%05d", i) }

func siteOf(i int) string { return fmt.Sprintf("customer-%05d", i) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
