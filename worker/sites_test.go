package worker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/formats"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/admin"
	"github.com/regnotify/regnotify/worker/deadletter"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkatest"
	"github.com/regnotify/regnotify/worker/wait"
)

// simSite is one site of a multi-site test: its simulator site and the
// worker's client for it.
type simSite struct {
	name, apiKey, userKey, secret, partner string
	topic                                  string // its own topic (Topic.Site)
	client                                 *gigya.Client
}

// sitesWorld is a broker, one simulator serving several sites over HTTP,
// a Gigya client per site, and a worker configuration routing a topic to
// each site.
type sitesWorld struct {
	kc      *kafkatest.Cluster
	sim     *gigyasim.Server
	srv     *httptest.Server
	sites   map[string]*simSite
	dlq     string
	cfg     worker.Config
	metrics *worker.Metrics
	logs    *observer.ObservedLogs
	log     *zap.Logger
}

type worldOptions struct {
	names     []string
	noPartner bool                                    // sites without partner secret (sim and client)
	simCfg    func(*gigyasim.Config)                  // adjusts the simulator's config
	wrap      func(http.Handler) http.Handler         // wraps the simulator's handler
	baseURL   func(w *sitesWorld, site string) string // the client's base URL; default the server
}

func newSitesWorld(t *testing.T, o worldOptions) *sitesWorld {
	t.Helper()
	kc := kafkatest.Start(t)
	sw := &sitesWorld{kc: kc, sites: make(map[string]*simSite), dlq: kc.Topic("regnotify.dlq"), metrics: worker.NewMetrics()}
	topics := []string{sw.dlq}
	scfg := gigyasim.Config{RecordCalls: true}
	for i, name := range o.names {
		s := &simSite{
			name: name, apiKey: fmt.Sprintf("3_key_%s", name), userKey: "uk-" + name,
			secret: base64.StdEncoding.EncodeToString([]byte("secret-of-" + name)),
			topic:  kc.Topic(name + ".user.registered"),
		}
		if !o.noPartner {
			s.partner = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("partner-%d-%s", i, name)))
		}
		sw.sites[name] = s
		topics = append(topics, s.topic)
		scfg.Sites = append(scfg.Sites, gigyasim.Site{Name: name, APIKey: s.apiKey, UserKey: s.userKey, Secret: s.secret, PartnerSecret: s.partner})
	}
	if o.simCfg != nil {
		o.simCfg(&scfg)
	}
	sim, err := gigyasim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	sw.sim = sim
	var h http.Handler = sim
	if o.wrap != nil {
		h = o.wrap(sim)
	}
	sw.srv = httptest.NewServer(h)
	t.Cleanup(sw.srv.Close)
	kc.CreateTopics(t, topics...)
	core, logs := observer.New(zapcore.InfoLevel)
	sw.logs, sw.log = logs, zap.New(core)
	sw.cfg = worker.Config{
		Kafka: kafkaio.Kafka{Brokers: kc.Brokers}, Group: kc.Group("regnotify"), DLQTopic: sw.dlq,
		Concurrency: 16, RetryInitial: 5 * time.Millisecond, RetryMaxInterval: 50 * time.Millisecond,
		RetryMaxElapsed: 30 * time.Second, ShutdownTimeout: 5 * time.Second, CommitInterval: 50 * time.Millisecond,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 500 * time.Millisecond, RebalanceTimeout: 10 * time.Second,
		SiteProbeInterval: 200 * time.Millisecond,
		TopicConfig:       make(map[string]worker.Topic),
	}
	for _, name := range o.names {
		s := sw.sites[name]
		base := sw.srv.URL
		if o.baseURL != nil {
			base = o.baseURL(sw, name)
		}
		c, err := gigya.New(gigya.Options{
			APIKey: s.apiKey, BaseURL: base, Auth: gigya.AuthSigned, UserKey: s.userKey, Secret: s.secret,
			PartnerSecret: s.partner, RequestTimeout: 5 * time.Second, MaxConns: 16, Observe: sw.metrics.ObserveGigya,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		s.client = c
		sw.cfg.Sites = append(sw.cfg.Sites, worker.Site{Name: name, APIKey: s.apiKey, Gigya: c})
		sw.cfg.Topics = append(sw.cfg.Topics, s.topic)
		sw.cfg.TopicConfig[s.topic] = worker.Topic{Site: name}
	}
	return sw
}

// addTopic creates a further consumed topic with its routing.
func (sw *sitesWorld) addTopic(t *testing.T, name string, tc worker.Topic) string {
	t.Helper()
	topic := sw.kc.Topic(name)
	sw.kc.CreateTopics(t, topic)
	sw.cfg.Topics = append(sw.cfg.Topics, topic)
	sw.cfg.TopicConfig[topic] = tc
	return topic
}

// start runs a worker with cfg until the test ends.
func (sw *sitesWorld) start(t *testing.T, cfg worker.Config) *running {
	t.Helper()
	dlq, err := worker.NewDeadLetterWriter(cfg.Kafka, cfg.DLQTopic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dlq.Close() })
	w, err := worker.New(cfg, nil, dlq, sw.metrics, sw.log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, metrics: sw.metrics, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (sw *sitesWorld) waitDone(t *testing.T, timeout time.Duration) {
	t.Helper()
	sw.kc.WaitCaughtUp(t, timeout, sw.cfg.Group, sw.cfg.Topics...)
}

func regRecord(t *testing.T, topic, id, uid string) kafka.Message {
	t.Helper()
	v, err := events.Encode(events.Event{EventID: id, Type: events.UserRegistered, UID: uid})
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Topic: topic, Key: []byte(uid), Value: v}
}

func siteOutcome(m *worker.Metrics, site, topic, outcome string) int {
	return int(metricVec(m, "regnotify_events_total", map[string]string{"site": site, "topic": topic, "outcome": outcome}).value())
}

func siteState(m *worker.Metrics, site, state string) float64 {
	return metricVec(m, "regnotify_site_state", map[string]string{"site": site, "state": state}).value()
}

func readyz(r *running) int {
	rec := httptest.NewRecorder()
	r.w.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return rec.Code
}

// okCalls is how many notifyRegistration calls the site answered 0.
func okCalls(sw *sitesWorld, site string) int {
	st, _ := sw.sim.SiteStats(site)
	return st.Calls[gigyasim.MethodNotifyRegistration]["0"]
}

// Records reach the site their topic names, the site a header names (by
// name or apiKey), or the site a JSON field names; a missing or unknown
// value is an invalid_event dead letter naming the header or field and the
// value, and every dead letter of a routed record carries regnotify.site.
func TestRoutingByTopicHeaderAndField(t *testing.T) {
	sw := newSitesWorld(t, worldOptions{names: []string{"brand-a", "brand-b"}})
	a, b := sw.sites["brand-a"], sw.sites["brand-b"]
	byHeader := sw.addTopic(t, "crm.user.registered", worker.Topic{SiteFrom: worker.SiteFrom{Header: "brand"}})
	dec, err := formats.New(formats.Spec{Format: formats.FormatJSON, Type: events.UserRegistered, Fields: map[string]string{"uid": "/data/uid"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	byField := sw.addTopic(t, "shop.customers", worker.Topic{SiteFrom: worker.SiteFrom{Field: "/data/brand"}, Decoder: dec})
	withHeader := func(m kafka.Message, v string) kafka.Message {
		m.Headers = []kafka.Header{{Key: "brand", Value: []byte(v)}}
		return m
	}
	fieldRecord := func(id, uid string, brand any) kafka.Message {
		data := map[string]any{"uid": uid}
		if brand != nil {
			data["brand"] = brand
		}
		v, _ := json.Marshal(map[string]any{"eventId": id, "data": data})
		return kafka.Message{Topic: byField, Key: []byte(uid), Value: v}
	}
	sw.kc.Produce(t,
		regRecord(t, a.topic, "t-a", "_gid_topic_a"),
		regRecord(t, b.topic, "t-b", "_gid_topic_b"),
		kafka.Message{Topic: a.topic, Key: []byte("k"), Value: []byte("{not json")}, // invalid, routed to brand-a
		withHeader(regRecord(t, byHeader, "h-name", "_gid_header_name"), "brand-a"),
		withHeader(regRecord(t, byHeader, "h-key", "_gid_header_key"), b.apiKey),
		withHeader(regRecord(t, byHeader, "h-unknown", "_gid_header_unknown"), "brand-zz"),
		regRecord(t, byHeader, "h-missing", "_gid_header_missing"),
		fieldRecord("f-name", "_gid_field_name", "brand-b"),
		fieldRecord("f-key", "_gid_field_key", a.apiKey),
		fieldRecord("f-unknown", "_gid_field_unknown", "nobody"),
		fieldRecord("f-missing", "_gid_field_missing", nil),
		fieldRecord("f-number", "_gid_field_number", 42),
	)
	r := sw.start(t, sw.cfg)
	sw.waitDone(t, 60*time.Second)

	for _, tt := range []struct{ site, uid string }{
		{"brand-a", "_gid_topic_a"}, {"brand-b", "_gid_topic_b"},
		{"brand-a", "_gid_header_name"}, {"brand-b", "_gid_header_key"},
		{"brand-b", "_gid_field_name"}, {"brand-a", "_gid_field_key"},
	} {
		other := "brand-a"
		if tt.site == "brand-a" {
			other = "brand-b"
		}
		if n := len(sw.sim.CallsAt(tt.site, tt.uid)); n != 1 {
			t.Errorf("%s: %d calls at %s, want 1", tt.uid, n, tt.site)
		}
		if n := len(sw.sim.CallsAt(other, tt.uid)); n != 0 {
			t.Errorf("%s: %d calls at %s, want 0", tt.uid, n, other)
		}
	}
	for _, tt := range []struct {
		site, topic string
		want        int
	}{{"brand-a", a.topic, 1}, {"brand-b", b.topic, 1}, {"brand-a", byHeader, 1}, {"brand-b", byHeader, 1}, {"brand-a", byField, 1}, {"brand-b", byField, 1}} {
		if got := siteOutcome(r.metrics, tt.site, tt.topic, worker.OutcomeNotified); got != tt.want {
			t.Errorf("regnotify_events_total{site=%q,topic=%q,outcome=notified} = %d, want %d", tt.site, tt.topic, got, tt.want)
		}
	}
	checkRoutingDeadLetters(t, sw)
}

// checkRoutingDeadLetters checks the dead letters of
// TestRoutingByTopicHeaderAndField, by record key.
func checkRoutingDeadLetters(t *testing.T, sw *sitesWorld) {
	t.Helper()
	want := map[string]struct{ site, msg string }{ // by the record's eventId or key
		"k":                   {"brand-a", "invalid"},
		"_gid_header_unknown": {"", `header "brand" (siteFrom) is "brand-zz"`},
		"_gid_header_missing": {"", `no header "brand"`},
		"_gid_field_unknown":  {"", `field /data/brand (siteFrom) is "nobody"`},
		"_gid_field_missing":  {"", `field /data/brand (siteFrom) is missing`},
		"_gid_field_number":   {"", `field /data/brand (siteFrom) is not a string`},
	}
	dead := sw.kc.ReadAll(t, sw.dlq)
	if len(dead) != len(want) {
		t.Errorf("dead letters = %d, want %d", len(dead), len(want))
	}
	for _, m := range dead {
		hd := dlqHeaders(m)
		w, ok := want[string(m.Key)]
		if !ok {
			t.Errorf("unexpected dead letter with key %q: %v", m.Key, hd)
			continue
		}
		if hd[deadletter.HeaderErrorClass] != deadletter.ClassInvalidEvent || !strings.Contains(hd[deadletter.HeaderErrorMessage], w.msg) {
			t.Errorf("%s: class %q, message %q; want invalid_event naming %q", m.Key, hd[deadletter.HeaderErrorClass], hd[deadletter.HeaderErrorMessage], w.msg)
		}
		if site, has := hd[deadletter.HeaderSite]; site != w.site || has != (w.site != "") {
			t.Errorf("%s: regnotify.site = %q (present %v), want %q", m.Key, site, has, w.site)
		}
	}
}

// Each site-wide answer marks the site misconfigured instead of
// dead-lettering: no dead letter, /readyz 503, the state metric, one error
// line naming the code and the setting; the other site keeps working; the
// probe resumes the site by itself once the fault is cleared.
func TestMisconfiguredSiteWaitsAndResumes(t *testing.T) {
	sw := newSitesWorld(t, worldOptions{names: []string{"brand-a", "brand-b"}})
	a, b := sw.sites["brand-a"], sw.sites["brand-b"]
	r := sw.start(t, sw.cfg)
	setting := map[int]string{400093: "apiKey", 403003: "secret", 403006: "https", 403007: "permissions", 403010: "secretFile"}
	for round, code := range []int{400093, 403003, 403006, 403007, 403010} {
		if err := sw.sim.SetSiteFaults(a.name, gigyasim.SiteFaults{Code: code}); err != nil {
			t.Fatal(err)
		}
		const n = 20
		var msgs []kafka.Message
		for i := range n {
			msgs = append(msgs, regRecord(t, a.topic, fmt.Sprintf("m%d-%d", code, i), fmt.Sprintf("_gid_m%d_%d", code, i)),
				regRecord(t, b.topic, fmt.Sprintf("b%d-%d", code, i), fmt.Sprintf("_gid_b%d_%d", code, i)))
		}
		sw.kc.Produce(t, msgs...)
		wait.Eventually(t, 20*time.Second, fmt.Sprintf("%d: site misconfigured", code), func() bool {
			return siteState(r.metrics, a.name, worker.StateMisconfigured) == 1
		})
		if got := readyz(r); got != http.StatusServiceUnavailable {
			t.Errorf("%d: /readyz = %d while misconfigured, want 503", code, got)
		}
		if got := siteState(r.metrics, a.name, worker.StateOK); got != 0 {
			t.Errorf("%d: site_state{state=ok} = %v while misconfigured, want 0", code, got)
		}
		wait.Eventually(t, 20*time.Second, fmt.Sprintf("%d: brand-b's events while brand-a is misconfigured", code), func() bool {
			return siteOutcome(r.metrics, b.name, b.topic, worker.OutcomeNotified) == (round+1)*n
		})
		lines := sw.logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet(fmt.Sprintf("errorCode %d", code)).All()
		if len(lines) != 1 || !strings.Contains(lines[0].Message, setting[code]) {
			t.Errorf("%d: error lines naming the code = %d (%v), want 1 naming %q", code, len(lines), lines, setting[code])
		}
		if d := sw.kc.ReadAll(t, sw.dlq); len(d) != 0 {
			t.Fatalf("%d: %d dead letters, want 0 (first: %v)", code, len(d), dlqHeaders(d[0]))
		}
		if err := sw.sim.SetSiteFaults(a.name, gigyasim.SiteFaults{}); err != nil {
			t.Fatal(err)
		}
		wait.Eventually(t, 30*time.Second, fmt.Sprintf("%d: brand-a's events after the fix", code), func() bool {
			return siteOutcome(r.metrics, a.name, a.topic, worker.OutcomeNotified) == (round+1)*n
		})
		if got := siteState(r.metrics, a.name, worker.StateOK); got != 1 {
			t.Errorf("%d: site_state{state=ok} = %v after the fix, want 1", code, got)
		}
		if got := readyz(r); got != http.StatusOK {
			t.Errorf("%d: /readyz = %d after the fix, want 200", code, got)
		}
	}
	if d := sw.kc.ReadAll(t, sw.dlq); len(d) != 0 {
		t.Errorf("%d dead letters, want 0", len(d))
	}
}

// With a probe interval far beyond the test, SiteChanged (a rewritten
// secret file) probes at once and resumes the site.
func TestSiteChangedProbesAtOnce(t *testing.T) {
	sw := newSitesWorld(t, worldOptions{names: []string{"brand-a"}})
	a := sw.sites["brand-a"]
	sw.cfg.SiteProbeInterval = time.Hour
	if err := sw.sim.SetSiteFaults(a.name, gigyasim.SiteFaults{Code: 403010}); err != nil {
		t.Fatal(err)
	}
	r := sw.start(t, sw.cfg)
	sw.kc.Produce(t, regRecord(t, a.topic, "e1", "_gid_changed_1"), regRecord(t, a.topic, "e2", "_gid_changed_2"))
	wait.Eventually(t, 20*time.Second, "site misconfigured", func() bool {
		return siteState(r.metrics, a.name, worker.StateMisconfigured) == 1
	})
	r.w.SiteChanged(a.name) // still wrong: stays misconfigured
	time.Sleep(200 * time.Millisecond)
	if got := siteState(r.metrics, a.name, worker.StateMisconfigured); got != 1 {
		t.Fatalf("site_state{misconfigured} = %v after a probe with the fault still on, want 1", got)
	}
	if err := sw.sim.SetSiteFaults(a.name, gigyasim.SiteFaults{}); err != nil {
		t.Fatal(err)
	}
	r.w.SiteChanged(a.name)
	r.w.SiteChanged("no-such-site") // ignored
	sw.waitDone(t, 20*time.Second)
	if got := siteOutcome(r.metrics, a.name, a.topic, worker.OutcomeNotified); got != 2 {
		t.Errorf("notified = %d, want 2", got)
	}
	if d := sw.kc.ReadAll(t, sw.dlq); len(d) != 0 {
		t.Errorf("%d dead letters, want 0", len(d))
	}
}

// A site set up in the wrong data center is answered 301001 with the right
// apiDomain: the client moves there (one warning), and no event fails.
func TestWrongDataCenterFollowed(t *testing.T) {
	var usHandler, euHandler atomic.Pointer[http.Handler]
	serve := func(p *atomic.Pointer[http.Handler]) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*p.Load()).ServeHTTP(w, r) }))
		t.Cleanup(s.Close)
		return s
	}
	us, eu := serve(&usHandler), serve(&euHandler)
	sw := newSitesWorld(t, worldOptions{
		names: []string{"brand-a"},
		simCfg: func(c *gigyasim.Config) {
			c.DataCenters = []gigyasim.DataCenter{{Name: "us1", Domain: us.Listener.Addr().String()}, {Name: "eu1", Domain: eu.Listener.Addr().String()}}
			c.Sites[0].DataCenter = "eu1"
		},
		baseURL: func(*sitesWorld, string) string { return us.URL },
	})
	for name, p := range map[string]*atomic.Pointer[http.Handler]{"us1": &usHandler, "eu1": &euHandler} {
		h, err := sw.sim.DataCenter(name)
		if err != nil {
			t.Fatal(err)
		}
		p.Store(&h)
	}
	a := sw.sites["brand-a"]
	const n = 30
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, regRecord(t, a.topic, fmt.Sprintf("dc-%d", i), fmt.Sprintf("_gid_dc_%d", i)))
	}
	sw.kc.Produce(t, msgs...)
	r := sw.start(t, sw.cfg)
	sw.waitDone(t, 30*time.Second)
	if got := siteOutcome(r.metrics, a.name, a.topic, worker.OutcomeNotified); got != n {
		t.Errorf("notified = %d, want %d", got, n)
	}
	if d := sw.kc.ReadAll(t, sw.dlq); len(d) != 0 {
		t.Errorf("%d dead letters, want 0 (first %v)", len(d), dlqHeaders(d[0]))
	}
	if got := a.client.BaseURL(); got != eu.URL {
		t.Errorf("client base URL = %q, want the eu1 data center %q", got, eu.URL)
	}
	st, _ := sw.sim.SiteStats(a.name)
	if st.Errors["301001"] == 0 {
		t.Errorf("no 301001 answered: the test did not set up its case (stats %+v)", st.Errors)
	}
	if got := sw.logs.FilterMessageSnippet("fix the site's dataCenter").Len(); got != 1 {
		t.Errorf("dataCenter warnings = %d, want 1", got)
	}
}

// While one of two sites is down, the other keeps at least 80 % of its
// throughput (measured against a run of the same size before the outage,
// both paced by the site's rate limit), and the down site's events wait:
// no dead letters, nothing lost, per-key order kept.
func TestOneSiteOutageLeavesTheOtherFlowing(t *testing.T) {
	sw := newSitesWorld(t, worldOptions{names: []string{"brand-a", "brand-b"}})
	a, b := sw.sites["brand-a"], sw.sites["brand-b"]
	sw.cfg.Concurrency = 8               // a's waiting events would take every slot if they held them
	sw.cfg.Sites[1].RateLimit = 60       // paces both runs: the ratio measures slots, not the CPU
	sw.cfg.RetryMaxElapsed = time.Second // far shorter than the outage
	r := sw.start(t, sw.cfg)
	const nb = 90
	bEvents := func(phase string) []kafka.Message {
		var msgs []kafka.Message
		for i := range nb {
			msgs = append(msgs, regRecord(t, b.topic, fmt.Sprintf("%s-%d", phase, i), fmt.Sprintf("_gid_%s_%d", phase, i)))
		}
		return msgs
	}
	measure := func(phase string, want int) time.Duration {
		start := time.Now()
		sw.kc.Produce(t, bEvents(phase)...)
		wait.Eventually(t, 60*time.Second, phase+": brand-b's events", func() bool {
			return siteOutcome(r.metrics, b.name, b.topic, worker.OutcomeNotified) == want
		})
		return time.Since(start)
	}
	wait.Eventually(t, 30*time.Second, "worker ready", func() bool { return readyz(r) == http.StatusOK })
	base := measure("before", nb)

	if err := sw.sim.SetSiteFaults(a.name, gigyasim.SiteFaults{Outage: gigyasim.OutageError}); err != nil {
		t.Fatal(err)
	}
	const users, perUser = 40, 3
	var aMsgs []kafka.Message
	for i := range users * perUser {
		u := i % users
		aMsgs = append(aMsgs, regRecord(t, a.topic, fmt.Sprintf("a-%d-%03d", u, i/users), fmt.Sprintf("_gid_a_%d", u)))
	}
	sw.kc.Produce(t, aMsgs...)
	wait.Eventually(t, 20*time.Second, "brand-a in outage", func() bool {
		return siteState(r.metrics, a.name, worker.StateOutage) == 1
	})
	if got := metricVec(r.metrics, "regnotify_gigya_outage", nil).value(); got != 1 {
		t.Errorf("regnotify_gigya_outage = %v while brand-a is down, want 1", got)
	}
	during := measure("during", 2*nb)
	ratio := float64(base) / float64(during)
	t.Logf("brand-b: %v before, %v during brand-a's outage: %.0f %%", base, during, 100*ratio)
	if ratio < 0.8 {
		t.Errorf("brand-b's throughput during brand-a's outage is %.0f %% of before (%v vs %v), want >= 80 %%", 100*ratio, during, base)
	}
	if got := siteState(r.metrics, a.name, worker.StateOutage); got != 1 {
		t.Fatalf("brand-a recovered during the measurement: the test did not measure an outage")
	}
	if err := sw.sim.SetSiteFaults(a.name, gigyasim.SiteFaults{}); err != nil {
		t.Fatal(err)
	}
	sw.waitDone(t, 60*time.Second)
	if got := siteOutcome(r.metrics, a.name, a.topic, worker.OutcomeNotified); got != users*perUser {
		t.Errorf("brand-a notified = %d, want %d", got, users*perUser)
	}
	if d := sw.kc.ReadAll(t, sw.dlq); len(d) != 0 {
		t.Errorf("%d dead letters, want 0 (first %v)", len(d), dlqHeaders(d[0]))
	}
	for u := range users {
		var got []string
		for _, c := range sw.sim.CallsAt(a.name, fmt.Sprintf("_gid_a_%d", u)) {
			if c.Code == 0 && (len(got) == 0 || got[len(got)-1] != c.Context) {
				got = append(got, c.Context)
			}
		}
		want := []string{fmt.Sprintf("a-%d-000", u), fmt.Sprintf("a-%d-001", u), fmt.Sprintf("a-%d-002", u)}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("user %d: successful calls in order %v, want %v", u, got, want)
		}
	}
	if got := metricVec(r.metrics, "regnotify_gigya_outage", nil).value(); got != 0 {
		t.Errorf("regnotify_gigya_outage = %v after recovery, want 0", got)
	}
}

// Without a partner secret, links are sent without UIDTimestamp and UIDSig
// (Gigya requires them only from client side) and succeed.
func TestNoPartnerSecretSendsNoUIDSig(t *testing.T) {
	var withSig, withSiteUID atomic.Int64
	sw := newSitesWorld(t, worldOptions{names: []string{"brand-a"}, noPartner: true, wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err == nil {
				if r.PostForm.Has("UIDSig") || r.PostForm.Has("UIDTimestamp") {
					withSig.Add(1)
				}
				if r.PostForm.Has("siteUID") {
					withSiteUID.Add(1)
				}
			}
			h.ServeHTTP(w, r)
		})
	}})
	a := sw.sites["brand-a"]
	link := sw.addTopic(t, "account.linked", worker.Topic{Site: a.name})
	const n = 10
	var msgs []kafka.Message
	for i := range n {
		v, err := events.Encode(events.Event{EventID: fmt.Sprintf("l-%d", i), Type: events.AccountLinked, UID: uidOf(i), SiteUID: siteOf(i)})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: link, Key: []byte(uidOf(i)), Value: v})
	}
	sw.kc.Produce(t, msgs...)
	r := sw.start(t, sw.cfg)
	sw.waitDone(t, 30*time.Second)
	if got := siteOutcome(r.metrics, a.name, link, worker.OutcomeNotified); got != n {
		t.Errorf("notified = %d, want %d", got, n)
	}
	if withSiteUID.Load() < n {
		t.Fatalf("%d requests carried a siteUID, want >= %d: the test did not link", withSiteUID.Load(), n)
	}
	if got := withSig.Load(); got != 0 {
		t.Errorf("%d requests carried UIDSig/UIDTimestamp without a partner secret, want 0", got)
	}
	for i := range n {
		if _, ok := sw.sim.LinkedAt(a.name, siteOf(i)); !ok {
			t.Errorf("%s not linked", siteOf(i))
		}
	}
}

// The link is made but its answer lost (connection dropped, or 504002):
// the retry is told the UID is unknown, and the getUserInfo confirmation
// makes the event already_done, not a dead letter.
func TestAnswerLostIsAlreadyDone(t *testing.T) {
	for _, lost := range []string{gigyasim.LostDrop, gigyasim.LostTimeout} {
		t.Run(lost, func(t *testing.T) {
			sw := newSitesWorld(t, worldOptions{names: []string{"brand-a"}})
			a := sw.sites["brand-a"]
			sw.cfg.OutageThreshold = 1000 // every answer lost: not an outage here
			link := sw.addTopic(t, "account.linked", worker.Topic{Site: a.name})
			if err := sw.sim.SetSiteFaults(a.name, gigyasim.SiteFaults{LostRate: 1, Lost: lost}); err != nil {
				t.Fatal(err)
			}
			const n = 8
			var msgs []kafka.Message
			for i := range n {
				v, _ := events.Encode(events.Event{EventID: fmt.Sprintf("l-%d", i), Type: events.AccountLinked, UID: uidOf(i), SiteUID: siteOf(i)})
				msgs = append(msgs, kafka.Message{Topic: link, Key: []byte(uidOf(i)), Value: v})
			}
			sw.kc.Produce(t, msgs...)
			r := sw.start(t, sw.cfg)
			sw.waitDone(t, 30*time.Second)
			if got := siteOutcome(r.metrics, a.name, link, worker.OutcomeAlreadyDone); got != n {
				t.Errorf("already_done = %d, want %d", got, n)
			}
			if d := sw.kc.ReadAll(t, sw.dlq); len(d) != 0 {
				t.Errorf("%d dead letters, want 0 (first %v)", len(d), dlqHeaders(d[0]))
			}
			if st, _ := sw.sim.SiteStats(a.name); st.Lost < n {
				t.Errorf("lost answers = %d, want >= %d: the test did not lose answers", st.Lost, n)
			}
		})
	}
}

// PauseSite pauses one site's events (state paused, no calls, /readyz
// still 200, the other site flowing) and resumes them; an unknown site is
// an error.
func TestPauseSite(t *testing.T) {
	sw := newSitesWorld(t, worldOptions{names: []string{"brand-a", "brand-b"}})
	a, b := sw.sites["brand-a"], sw.sites["brand-b"]
	r := sw.start(t, sw.cfg)
	if err := r.w.PauseSite("nope", true); err == nil {
		t.Error("PauseSite(unknown) = nil, want an error")
	}
	if err := r.w.PauseSite(a.name, true); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, regRecord(t, a.topic, fmt.Sprintf("pa-%d", i), fmt.Sprintf("_gid_pa_%d", i)),
			regRecord(t, b.topic, fmt.Sprintf("pb-%d", i), fmt.Sprintf("_gid_pb_%d", i)))
	}
	sw.kc.Produce(t, msgs...)
	wait.Eventually(t, 30*time.Second, "brand-b's events", func() bool {
		return siteOutcome(r.metrics, b.name, b.topic, worker.OutcomeNotified) == n
	})
	if got := okCalls(sw, a.name); got != 0 {
		t.Errorf("%d calls for the paused site, want 0", got)
	}
	if got := siteState(r.metrics, a.name, worker.StatePaused); got != 1 {
		t.Errorf("site_state{paused} = %v, want 1", got)
	}
	if got := readyz(r); got != http.StatusOK {
		t.Errorf("/readyz = %d while a site is paused, want 200 (paused on purpose)", got)
	}
	st := r.w.Status()
	if len(st.Sites) != 2 || st.Sites[0].Name != a.name || st.Sites[0].State != worker.StatePaused || st.Sites[0].Inflight == 0 || st.Sites[1].State != worker.StateOK {
		t.Errorf("Status().Sites = %+v, want brand-a paused with events in flight, brand-b ok", st.Sites)
	}
	if len(st.Partitions) == 0 || st.Events[worker.OutcomeNotified] != n {
		t.Errorf("Status(): %d partitions, events %v; want the assigned partitions and %d notified", len(st.Partitions), st.Events, n)
	}
	if err := r.w.PauseSite(a.name, false); err != nil {
		t.Fatal(err)
	}
	sw.waitDone(t, 30*time.Second)
	if got := siteOutcome(r.metrics, a.name, a.topic, worker.OutcomeNotified); got != n {
		t.Errorf("brand-a notified = %d after resuming, want %d", got, n)
	}
	if got := siteState(r.metrics, a.name, worker.StateOK); got != 1 {
		t.Errorf("site_state{ok} = %v after resuming, want 1", got)
	}
}

// Gigya codes outside the code table share one "other" series: 300 random
// codes do not make 300 series.
func TestGigyaCodeLabelBounded(t *testing.T) {
	m := worker.NewMetrics()
	seen := map[int]bool{}
	for i := 0; len(seen) < 300; i++ {
		code := 100000 + (i*7919)%800000
		if gigya.KnownCode(code) {
			continue
		}
		seen[code] = true
		m.ObserveGigya("socialize.notifyRegistration", fmt.Sprint(code), time.Millisecond)
	}
	m.ObserveGigya("socialize.notifyRegistration", "403005", time.Millisecond)
	m.ObserveGigya("socialize.notifyRegistration", "transport", time.Millisecond)
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "regnotify_gigya_requests_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "code" {
					got[l.GetValue()] = mt.GetCounter().GetValue()
				}
			}
		}
	}
	want := map[string]float64{"other": 300, "403005": 1, "transport": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("code series = %v, want %v", got, want)
	}
}

// A record whose decoder cannot decide now (the schema registry answers
// 503) waits and is decoded again: no dead letter, regnotify_decode_waiting
// shows it, and it is notified once the registry answers. The registry is
// an httptest stand-in speaking its REST API (GET /schemas/ids/{id}); no
// real one runs here.
func TestDecodeWaitsForSchemaRegistry(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error_code":50301,"message":"service unavailable"}`)
			return
		}
		if r.URL.Path != "/schemas/ids/7" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error_code":40403,"message":"not found"}`)
			return
		}
		fmt.Fprint(w, `{"schemaType":"JSON","schema":"{\"type\":\"object\",\"required\":[\"eventId\",\"uid\"]}"}`)
	}))
	t.Cleanup(reg.Close)
	registry, err := formats.NewRegistry(reg.URL, "", "", nil, formats.WithRegistryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(registry.Close)
	dec, err := formats.New(formats.Spec{Format: formats.FormatJSONSchema, Type: events.UserRegistered}, registry)
	if err != nil {
		t.Fatal(err)
	}
	sw := newSitesWorld(t, worldOptions{names: []string{"brand-a"}})
	a := sw.sites["brand-a"]
	topic := sw.addTopic(t, "schema.user.registered", worker.Topic{Site: a.name, Decoder: dec})
	const n = 5
	var msgs []kafka.Message
	for i := range n {
		payload := fmt.Sprintf(`{"eventId":"s-%d","uid":"_gid_schema_%d"}`, i, i)
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: append([]byte{0, 0, 0, 0, 7}, payload...)})
	}
	sw.kc.Produce(t, msgs...)
	r := sw.start(t, sw.cfg)
	waiting := metricVec(r.metrics, "regnotify_decode_waiting", nil)
	wait.Eventually(t, 20*time.Second, "events waiting for the registry", func() bool { return waiting.value() > 0 })
	time.Sleep(300 * time.Millisecond) // many retry delays long
	if d := sw.kc.ReadAll(t, sw.dlq); len(d) != 0 {
		t.Fatalf("%d dead letters while the registry is down, want 0 (first %v)", len(d), dlqHeaders(d[0]))
	}
	down.Store(false)
	sw.waitDone(t, 30*time.Second)
	if got := siteOutcome(r.metrics, a.name, topic, worker.OutcomeNotified); got != n {
		t.Errorf("notified = %d, want %d", got, n)
	}
	if got := waiting.value(); got != 0 {
		t.Errorf("regnotify_decode_waiting = %v after the registry came back, want 0", got)
	}
}

// Events of one key queued behind one that waits for its site hold slots;
// when the site resumes, the waiting one must still get to run (not wait
// for a slot that only the events behind it could free), and the key's
// order is kept. Two slots, one hot key, several outages.
func TestHotKeyResumesAfterOutage(t *testing.T) {
	sw := newSitesWorld(t, worldOptions{names: []string{"brand-a"}})
	a := sw.sites["brand-a"]
	sw.cfg.Concurrency = 2
	sw.cfg.OutageThreshold, sw.cfg.OutageMinUsers = 1, 1
	r := sw.start(t, sw.cfg)
	const rounds, per = 3, 6
	for round := range rounds {
		if err := sw.sim.SetSiteFaults(a.name, gigyasim.SiteFaults{Outage: gigyasim.OutageError}); err != nil {
			t.Fatal(err)
		}
		var msgs []kafka.Message
		for i := range per {
			msgs = append(msgs, regRecord(t, a.topic, fmt.Sprintf("hot-%d-%d", round, i), "_gid_hot"))
		}
		sw.kc.Produce(t, msgs...)
		wait.Eventually(t, 20*time.Second, "brand-a in outage", func() bool { return siteState(r.metrics, a.name, worker.StateOutage) == 1 })
		if err := sw.sim.SetSiteFaults(a.name, gigyasim.SiteFaults{}); err != nil {
			t.Fatal(err)
		}
		wait.Eventually(t, 30*time.Second, fmt.Sprintf("round %d: every event of the hot key", round), func() bool {
			return siteOutcome(r.metrics, a.name, a.topic, worker.OutcomeNotified) == (round+1)*per
		})
	}
	var got []string
	for _, c := range sw.sim.CallsAt(a.name, "_gid_hot") {
		if c.Code == 0 {
			got = append(got, c.Context)
		}
	}
	var want []string
	for round := range rounds {
		for i := range per {
			want = append(want, fmt.Sprintf("hot-%d-%d", round, i))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("successful calls %v, want %v", got, want)
	}
}

// The worker is the admin server's status source.
var _ admin.StatusSource = (*worker.Worker)(nil)
