package deploy

import (
	"context"
	"encoding/base64"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads deploy/compose/compose.yaml as `docker compose` would
// (schema validation, interpolation, normalization), with the demo profile.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	return loadComposeProfiles(t, nil, "demo")
}

// loadComposeProfiles loads compose.yaml with the given variables and
// profiles.
func loadComposeProfiles(t *testing.T, env []string, profiles ...string) *types.Project {
	t.Helper()
	path, err := filepath.Abs("compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithWorkingDirectory(filepath.Dir(path)),
		cli.WithEnv(env), // nothing from the test's environment
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return s
}

// flagValue returns the value of --name in args (--name v or --name=v).
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

func TestComposeStack(t *testing.T) {
	p := loadCompose(t)

	// The regnotify image is built from deploy/Dockerfile; every service on
	// it runs a regnotify command with flags and variables that exist.
	regnotifyServices := 0
	for _, s := range p.Services {
		if s.Build == nil {
			if !strings.HasPrefix(s.Image, "apache/kafka:") {
				t.Errorf("service %s: image %q, want apache/kafka (official) or the regnotify build", s.Name, s.Image)
			}
			continue
		}
		regnotifyServices++
		if df := filepath.ToSlash(filepath.Join(s.Build.Context, s.Build.Dockerfile)); !strings.HasSuffix(df, "/deploy/Dockerfile") {
			t.Errorf("service %s builds %s in %s, want deploy/Dockerfile", s.Name, s.Build.Dockerfile, s.Build.Context)
		}
		stages := parseDockerfile(t).stages
		if s.Build.Target != "" && !slices.ContainsFunc(stages, func(st dockerStage) bool { return st.name == s.Build.Target }) {
			t.Errorf("service %s builds target %q, which the Dockerfile lacks", s.Name, s.Build.Target)
		}
		if len(s.Command) == 0 {
			t.Errorf("service %s: no command", s.Name)
			continue
		}
		cmd := cmdFor(t, s.Command[0])
		for _, a := range s.Command[1:] {
			if name, ok := strings.CutPrefix(a, "--"); ok {
				name, _, _ = strings.Cut(name, "=")
				if _, ok := cmd.flags[name]; !ok {
					t.Errorf("service %s: %s is not a flag of regnotify %s", s.Name, a, cmd.name)
				}
			}
		}
		for k := range s.Environment {
			// OTEL_* are the OpenTelemetry SDK's standard variables, not flags.
			if _, ok := cmd.byEnv[k]; !ok && !strings.HasPrefix(k, "OTEL_") {
				t.Errorf("service %s: %s is not a variable of regnotify %s", s.Name, k, cmd.name)
			}
		}
	}
	if regnotifyServices < 2 {
		t.Errorf("want the simulator and the worker built from deploy/Dockerfile; got %d services", regnotifyServices)
	}

	kafka := service(t, p, "kafka")
	id, err := base64.RawURLEncoding.DecodeString(derefEnv(kafka.Environment, "CLUSTER_ID"))
	if err != nil || len(id) != 16 {
		t.Errorf("kafka CLUSTER_ID %q: want 16 bytes in base64url without padding (%v)", derefEnv(kafka.Environment, "CLUSTER_ID"), err)
	}
	advertised := derefEnv(kafka.Environment, "KAFKA_ADVERTISED_LISTENERS")

	// The init container creates the topics the worker uses by default.
	initSvc := service(t, p, "kafka-init")
	script := strings.Join(append(slices.Clone(initSvc.Entrypoint), initSvc.Command...), " ")
	if !strings.Contains(script, "kafka-topics.sh") {
		t.Errorf("kafka-init does not run kafka-topics.sh: %s", script)
	}
	var topics []string
	for _, f := range []string{"topics", "bulk-topics", "dlq-topic"} {
		topics = append(topics, strings.Split(flagByName(t, "run", f).def, ",")...)
	}
	for _, topic := range topics {
		if !strings.Contains(script, topic) {
			t.Errorf("kafka-init does not create %s", topic)
		}
	}
	if d, ok := initSvc.DependsOn["kafka"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("kafka-init: want depends_on kafka: service_healthy")
	}

	// The worker reaches Kafka on an advertised listener and the simulator
	// on its port, with the simulator's credentials.
	sim := service(t, p, "gigya-sim")
	worker := service(t, p, "regnotify")
	if worker.Command[0] != "run" || sim.Command[0] != "gigya-sim" {
		t.Fatalf("regnotify runs %v and gigya-sim %v", worker.Command, sim.Command)
	}
	run := cmdFor(t, "run")
	env := func(flag string) string { return derefEnv(worker.Environment, flagByName(t, "run", flag).env) }
	for _, b := range strings.Split(env("brokers"), ",") {
		if !strings.Contains(advertised, "//"+b) {
			t.Errorf("worker broker %s is not an advertised listener of kafka (%s)", b, advertised)
		}
	}
	simAddr, ok := flagValue(sim.Command, "addr")
	if !ok {
		simAddr = flagByName(t, "gigya-sim", "addr").def
	}
	simHost, simPort, _ := net.SplitHostPort(simAddr)
	if ip := net.ParseIP(simHost); ip == nil || !ip.IsUnspecified() {
		t.Errorf("gigya-sim listens on %s: in compose it must listen on all interfaces (0.0.0.0)", simAddr)
	}
	u, err := url.Parse(env("gigya-base-url"))
	if err != nil || u.Hostname() != sim.Name || u.Port() != simPort {
		t.Errorf("worker %s=%q, want http://%s:%s", run.flags["gigya-base-url"].env, env("gigya-base-url"), sim.Name, simPort)
	}
	for workerFlag, simFlag := range map[string]string{
		"gigya-api-key": "api-key", "gigya-user-key": "user-key",
		"gigya-secret": "secret", "gigya-partner-secret": "partner-secret",
	} {
		want, ok := flagValue(sim.Command, simFlag)
		if !ok {
			want = flagByName(t, "gigya-sim", simFlag).def
		}
		if got := env(workerFlag); got != want {
			t.Errorf("worker %s=%q, simulator --%s %q: they must agree", flagByName(t, "run", workerFlag).env, got, simFlag, want)
		}
	}
	if u.Scheme == "http" && env("gigya-auth") != "signed" && env("gigya-auth") != "bearer" {
		t.Errorf("worker over plain http to %s: %s must be signed or bearer (the client never sends the secret in clear text)", u.Host, flagByName(t, "run", "gigya-auth").env)
	}
	for dep, cond := range map[string]string{"kafka-init": types.ServiceConditionCompletedSuccessfully, "gigya-sim": types.ServiceConditionHealthy} {
		if d, ok := worker.DependsOn[dep]; !ok || d.Condition != cond {
			t.Errorf("regnotify: want depends_on %s: %s", dep, cond)
		}
	}

	// Every service others wait for as healthy has a healthcheck; those on
	// the regnotify image probe paths the worker or simulator serves.
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionHealthy {
				if hc := service(t, p, dep).HealthCheck; hc == nil || len(hc.Test) == 0 {
					t.Errorf("%s waits for %s to be healthy, which has no healthcheck", s.Name, dep)
				}
			}
		}
	}
	if hc := worker.HealthCheck; hc == nil || !slices.ContainsFunc(hc.Test, func(s string) bool {
		return strings.HasSuffix(s, ":"+portOf(t, env("http-addr"), flagByName(t, "run", "http-addr").def)+"/readyz")
	}) {
		t.Errorf("regnotify healthcheck %v: want GET /readyz on the --http-addr port", worker.HealthCheck)
	} else if _, ok := workerEndpoints(t)["/readyz"]; !ok {
		t.Error("regnotify run does not serve /readyz")
	}
}

func derefEnv(m types.MappingWithEquals, k string) string {
	if v, ok := m[k]; ok && v != nil {
		return *v
	}
	return ""
}

func portOf(t *testing.T, addr, def string) string {
	t.Helper()
	if addr == "" {
		addr = def
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	return p
}

// TestComposeTracingProfile: the tracing profile adds a collector that
// forwards to Jaeger, the worker's tracing stays off without the endpoint
// and, with it, reaches the collector's OTLP/HTTP receiver.
func TestComposeTracingProfile(t *testing.T) {
	if p := loadCompose(t); slices.ContainsFunc(p.ServiceNames(), func(n string) bool { return n == "otel-collector" || n == "jaeger" }) {
		t.Errorf("services %v: collector and Jaeger must be only in the tracing profile", p.ServiceNames())
	}
	if got := derefEnv(service(t, loadCompose(t), "regnotify").Environment, "OTEL_EXPORTER_OTLP_ENDPOINT"); got != "" {
		t.Errorf("regnotify OTEL_EXPORTER_OTLP_ENDPOINT = %q without the variable, want empty (tracing off)", got)
	}
	p := loadComposeProfiles(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318"}, "tracing")
	col, jaeger := service(t, p, "otel-collector"), service(t, p, "jaeger")
	for _, s := range []types.ServiceConfig{col, jaeger} {
		if !strings.HasPrefix(s.Image, "otel/opentelemetry-collector:") && !strings.HasPrefix(s.Image, "jaegertracing/jaeger:") {
			t.Errorf("service %s: image %q, want the official collector or Jaeger image", s.Name, s.Image)
		}
	}
	u, err := url.Parse(derefEnv(service(t, p, "regnotify").Environment, "OTEL_EXPORTER_OTLP_ENDPOINT"))
	if err != nil || u.Hostname() != col.Name || u.Port() != "4318" {
		t.Errorf("regnotify OTEL_EXPORTER_OTLP_ENDPOINT = %v, want http://%s:4318", u, col.Name)
	}
	if len(col.Configs) != 1 {
		t.Fatalf("otel-collector configs = %v, want one", col.Configs)
	}
	cfg := p.Configs[col.Configs[0].Source].Content
	for _, want := range []string{"endpoint: 0.0.0.0:4318", "endpoint: " + jaeger.Name + ":4317", "exporters: [otlp/jaeger]"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("collector config lacks %q:\n%s", want, cfg)
		}
	}
	if !slices.Contains(col.Command, "--config="+col.Configs[0].Target) {
		t.Errorf("collector command %v does not read its config %s", col.Command, col.Configs[0].Target)
	}
}
