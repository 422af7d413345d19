package worker

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/regnotify/regnotify/gigya"
)

// Outcomes of an event, the values of the outcome label.
const (
	OutcomeNotified     = "notified"
	OutcomeAlreadyDone  = "already_done"
	OutcomeDLQInvalid   = "dlq_invalid"
	OutcomeDLQRejected  = "dlq_rejected"
	OutcomeDLQExhausted = "dlq_exhausted"
)

// Metrics are the worker's Prometheus metrics, named by the contract. They
// live in their own registry so that two workers in one process (tests) do
// not collide.
type Metrics struct {
	Registry        *prometheus.Registry
	events          *prometheus.CounterVec
	gigyaRequests   *prometheus.CounterVec
	gigyaDuration   *prometheus.HistogramVec
	retries         prometheus.Counter
	inflight        prometheus.Gauge
	lag             *prometheus.GaugeVec
	outage          prometheus.Gauge
	dlqWriteFailing prometheus.Gauge
	commits         *prometheus.CounterVec
	rateLimit       *rateCollector // regnotify_rate_limit{site}, from the worker's budgets
	siteState       *prometheus.GaugeVec
	decodeWaiting   prometheus.Gauge
}

// NewMetrics creates the metrics in a new registry, with the Go runtime and
// process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regnotify_events_total", Help: "Events that ended, by site (\"\" = routed to none), topic and outcome.",
		}, []string{"site", "topic", "outcome"}),
		gigyaRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regnotify_gigya_requests_total", Help: "Gigya HTTP requests by method and errorCode (or transport, http_NNN, invalid_response).",
		}, []string{"method", "code"}),
		gigyaDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "regnotify_gigya_request_duration_seconds", Help: "Gigya HTTP request latency.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "regnotify_retries_total", Help: "Gigya calls repeated after a transient failure.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "regnotify_inflight_events", Help: "Events taken from Kafka and not yet ended.",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "regnotify_consumer_lag", Help: "Messages between the last fetched one and the partition's high-water mark.",
		}, []string{"topic", "partition"}),
		outage: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "regnotify_gigya_outage", Help: "1 while any site is in outage (its Gigya failing as a whole).",
		}),
		dlqWriteFailing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "regnotify_dlq_write_failing", Help: "1 while writes to the dead-letter topic fail.",
		}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "regnotify_offset_commits_total", Help: "Offset commits by result (ok, error).",
		}, []string{"result"}),
		siteState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "regnotify_site_state", Help: "1 for a site's current state (ok, outage, misconfigured, paused), 0 for the others.",
		}, []string{"site", "state"}),
		decodeWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "regnotify_decode_waiting", Help: "Events waiting to be decoded again because their decoder cannot decide now (schema registry unreachable).",
		}),
		rateLimit: newRateCollector(),
	}
	m.Registry.MustRegister(m.events, m.gigyaRequests, m.gigyaDuration, m.retries, m.inflight, m.lag,
		m.outage, m.dlqWriteFailing, m.commits, m.siteState, m.decodeWaiting, m.rateLimit,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveGigya records one Gigya HTTP attempt; it fits gigya.Options.Observe.
// An errorCode outside the code table is counted as "other", so that the
// code label stays bounded whatever Gigya (or a proxy) answers.
func (m *Metrics) ObserveGigya(method, code string, d time.Duration) {
	m.gigyaRequests.WithLabelValues(method, boundedCode(code)).Inc()
	m.gigyaDuration.WithLabelValues(method).Observe(d.Seconds())
}

// boundedCode is code, or "other" for an errorCode outside the code table.
// The client's other outcomes ("transport", "invalid_response", http_5xx)
// are bounded already.
func boundedCode(code string) string {
	n, err := strconv.Atoi(code)
	if err != nil {
		if strings.HasPrefix(code, "http_") || code == "transport" || code == "invalid_response" {
			return code
		}
		return "other"
	}
	if !gigya.KnownCode(n) {
		return "other"
	}
	return code
}

// Snapshot is a point-in-time reading of the worker's counters, for
// summaries (regnotify dev) and tests.
type Snapshot struct {
	Events     map[string]int // outcome → events, all topics
	GigyaCalls int
	Retries    int
}

// Total is the number of events that ended.
func (s Snapshot) Total() int {
	n := 0
	for _, v := range s.Events {
		n += v
	}
	return n
}

// Snapshot reads the counters.
func (m *Metrics) Snapshot() Snapshot {
	s := Snapshot{Events: make(map[string]int)}
	mfs, err := m.Registry.Gather()
	if err != nil {
		return s
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			v := int(mt.GetCounter().GetValue())
			switch mf.GetName() {
			case "regnotify_events_total":
				for _, l := range mt.GetLabel() {
					if l.GetName() == "outcome" {
						s.Events[l.GetValue()] += v
					}
				}
			case "regnotify_gigya_requests_total":
				s.GigyaCalls += v
			case "regnotify_retries_total":
				s.Retries += v
			}
		}
	}
	return s
}
