package deploy

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// ruleFile is the Prometheus rule-file format, strictly: an unknown or
// misspelt field fails. (Prometheus' own rulefmt pulls in the whole query
// engine and TSDB; the format is small enough to model here, and
// promql/parser does the part that matters.)
type ruleFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval,omitempty"`
		Rules    []struct {
			Alert         string            `json:"alert,omitempty"`
			Record        string            `json:"record,omitempty"`
			Expr          string            `json:"expr"`
			For           string            `json:"for,omitempty"`
			KeepFiringFor string            `json:"keep_firing_for,omitempty"`
			Labels        map[string]string `json:"labels,omitempty"`
			Annotations   map[string]string `json:"annotations,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

// Series the rules may use that the worker does not export: Prometheus'
// own scrape health and kube-state-metrics.
var externalMetrics = []string{"up", "kube_deployment_status_replicas_available", "kube_deployment_spec_replicas"}

// Labels every scraped series carries (Prometheus and the Prometheus
// Operator's ServiceMonitor add them).
var targetLabels = []string{"job", "instance", "namespace", "pod", "service", "container", "endpoint"}

// checkPromQL parses expr and checks every metric and label it names
// against the worker's metrics (worker/metrics.go).
func checkPromQL(t *testing.T, where, expr string) []string {
	t.Helper()
	metrics, outcomes := workerMetrics(t)
	known := map[string]metricInfo{}
	for name, mi := range metrics {
		known[name] = mi
		if mi.kind == "Histogram" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				mi2 := mi
				if suffix == "_bucket" {
					mi2.labels = append(slices.Clone(mi.labels), "le")
				}
				known[name+suffix] = mi2
			}
		}
	}
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: PromQL does not parse: %v\n%s", where, err, expr)
		return nil
	}
	var used []string
	var usedLabels []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := n.Name
			used = append(used, name)
			mi, ours := known[name]
			if !ours {
				if !slices.Contains(externalMetrics, name) {
					t.Errorf("%s: metric %q is not registered by the worker (worker/metrics.go) nor a known external series", where, name)
				}
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					continue
				}
				if !slices.Contains(mi.labels, m.Name) && !slices.Contains(targetLabels, m.Name) {
					t.Errorf("%s: %s has no label %q (labels %v)", where, name, m.Name, mi.labels)
				}
				if m.Name == "outcome" && !slices.ContainsFunc(outcomes, m.Matches) {
					t.Errorf("%s: outcome matcher %s matches none of the worker's outcomes %v", where, m, outcomes)
				}
			}
			usedLabels = append(usedLabels, mi.labels...)
		case *parser.AggregateExpr:
			for _, g := range n.Grouping {
				usedLabels = append(usedLabels, "?"+g)
			}
		}
		return nil
	})
	// Grouping labels must exist on some selected series.
	for _, l := range usedLabels {
		if g, ok := strings.CutPrefix(l, "?"); ok && !slices.Contains(usedLabels, g) && !slices.Contains(targetLabels, g) && g != "le" {
			t.Errorf("%s: groups by %q, which none of its metrics has", where, g)
		}
	}
	return used
}

// promTemplateHeader is what Prometheus prepends to alert templates.
const promTemplateHeader = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

// promTemplateFuncs stands in for Prometheus' template functions, so that
// annotation templates can be parsed.
var promTemplateFuncs = template.FuncMap{}

func init() {
	for _, f := range []string{"humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "humanizeTimestamp",
		"toUpper", "toLower", "title", "first", "label", "value", "query", "args", "reReplaceAll", "match",
		"safeHtml", "stripPort", "stripDomain", "graphLink", "tableLink", "sortByLabel", "externalURL", "pathPrefix", "parseDuration", "toTime", "urlQueryEscape"} {
		promTemplateFuncs[f] = func(...any) any { return nil }
	}
}

func TestAlertRules(t *testing.T) {
	var rf ruleFile
	if err := yaml.UnmarshalStrict(readFile(t, "monitoring/alerts.yaml"), &rf); err != nil {
		t.Fatalf("alerts.yaml is not a strict Prometheus rule file: %v", err)
	}
	if len(rf.Groups) == 0 {
		t.Fatal("alerts.yaml: no groups")
	}
	seen := map[string]bool{}
	used := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: want a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			where := "alert " + r.Alert
			if (r.Alert == "") == (r.Record == "") {
				t.Errorf("%s/%s: want exactly one of alert and record", g.Name, r.Alert+r.Record)
				continue
			}
			if r.Record != "" {
				where = "record " + r.Record
			}
			if seen[where] {
				t.Errorf("%s defined twice", where)
			}
			seen[where] = true
			for _, d := range []string{r.For, r.KeepFiringFor} {
				if d != "" {
					if _, err := model.ParseDuration(d); err != nil {
						t.Errorf("%s: duration %q: %v", where, d, err)
					}
				}
			}
			for _, m := range checkPromQL(t, where, r.Expr) {
				used[m] = true
			}
			if r.Alert != "" {
				if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
					t.Errorf("%s: severity %q, want warning or critical", where, sev)
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("%s: want summary and description annotations", where)
				}
			}
			for k, v := range r.Annotations {
				if _, err := template.New(k).Funcs(promTemplateFuncs).Parse(promTemplateHeader + v); err != nil {
					t.Errorf("%s: annotation %s: template: %v", where, k, err)
				}
			}
		}
	}
	// The alerts the issue asks for, by what they watch.
	for _, want := range []string{"regnotify_events_total", "regnotify_consumer_lag", "regnotify_gigya_outage", "regnotify_dlq_write_failing", "up",
		"regnotify_site_state", "regnotify_topic_missing"} {
		if !used[want] {
			t.Errorf("no alert uses %s", want)
		}
	}
	// Site health: one alert per state that needs a person, per site.
	for _, state := range []string{"misconfigured", "outage"} {
		if !alertSelects(rf, "regnotify_site_state", "state", state, "site") {
			t.Errorf("no alert on regnotify_site_state{state=%q} that keeps the site label", state)
		}
	}
}

// alertSelects reports whether an alert's expression selects metric with
// label=value and keeps the label by in its result (grouping by it).
func alertSelects(rf ruleFile, metric, label, value, by string) bool {
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			e, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
			if err != nil {
				continue
			}
			selects, keeps := false, false
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				switch n := n.(type) {
				case *parser.VectorSelector:
					if n.Name != metric {
						return nil
					}
					for _, m := range n.LabelMatchers {
						if m.Name == label && m.Matches(value) && m.Value == value {
							selects = true
						}
					}
				case *parser.AggregateExpr:
					keeps = keeps || (!n.Without && slices.Contains(n.Grouping, by))
				}
				return nil
			})
			if selects && keeps {
				return true
			}
		}
	}
	return false
}

// grafanaDashboard is the part of a Grafana dashboard JSON the test reads.
type grafanaDashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Type    string `json:"type"`
		GridPos struct {
			H, W, X, Y int
		} `json:"gridPos"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// grafanaVarRE matches Grafana's interval variables, which PromQL cannot parse.
var grafanaVarRE = regexp.MustCompile(`\$__(rate_)?interval|\$__range`)

func TestGrafanaDashboard(t *testing.T) {
	var d grafanaDashboard
	if err := json.NewDecoder(bytes.NewReader(readFile(t, "monitoring/dashboard.json"))).Decode(&d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard.json: want a title, a uid and panels")
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if q, ok := v.Query.(string); ok && strings.HasPrefix(q, "label_values(") {
			metric, _, _ := strings.Cut(strings.TrimPrefix(q, "label_values("), ",")
			checkPromQL(t, "variable "+v.Name, metric)
		}
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside Grafana's 24 columns", p.Title, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range regexp.MustCompile(`\$(\w+)`).FindAllStringSubmatch(tg.Expr, -1) {
				if !strings.HasPrefix(m[1], "__") && !vars[m[1]] {
					t.Errorf("panel %q uses $%s, which is not a dashboard variable", p.Title, m[1])
				}
			}
			for _, m := range checkPromQL(t, "panel "+p.Title, grafanaVarRE.ReplaceAllString(tg.Expr, "5m")) {
				used[strings.TrimSuffix(m, "_bucket")] = true
			}
		}
	}
	// Every metric the worker exports has a panel.
	metrics, _ := workerMetrics(t)
	for name := range metrics {
		if !used[name] {
			t.Errorf("no dashboard panel shows %s", name)
		}
	}
}

// TestWorkerMetricsAreServed cross-checks the metric list read from
// worker/metrics.go with a running worker's /metrics: every regnotify_
// family the binary serves (those without labels are always there) must be
// in the list, or the list reader is broken.
func TestWorkerMetricsAreServed(t *testing.T) {
	body, ok := workerEndpoints(t)["/metrics"]
	if !ok {
		t.Fatal("regnotify run does not serve /metrics")
	}
	metrics, _ := workerMetrics(t)
	served := 0
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (regnotify_\w+) `).FindAllStringSubmatch(body, -1) {
		served++
		if _, ok := metrics[m[1]]; !ok {
			t.Errorf("/metrics serves %s, which the reader of worker/metrics.go did not find", m[1])
		}
	}
	if served == 0 {
		t.Errorf("/metrics serves no regnotify_ family:\n%s", body)
	}
}
