package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"golang.org/x/sync/errgroup"

	"github.com/regnotify/regnotify/events/formats"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/control"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/tracing"
)

// Demo credentials of the dev setup. They exist only inside the dev process
// and its simulator; they are printed on purpose.
const (
	devSiteA    = "brand-a" // bearer auth
	devSiteB    = "brand-b" // signed auth
	devAPIKeyA  = "3_regnotify-dev-brand-a"
	devAPIKeyB  = "3_regnotify-dev-brand-b"
	devUserKeyA = "regnotify-dev-brand-a-user-key"
	devUserKeyB = "regnotify-dev-brand-b-user-key"
	devDLQTopic = "regnotify.dlq"
)

var (
	devPartnerSecretA = base64.StdEncoding.EncodeToString([]byte("regnotify-dev-brand-a-partner-secret"))
	devPartnerSecretB = base64.StdEncoding.EncodeToString([]byte("regnotify-dev-brand-b-partner-secret"))
	devSecretB        = base64.StdEncoding.EncodeToString([]byte("regnotify-dev-brand-b-app-secret"))
)

type devCmd struct {
	KafkaAddr    string        `name:"kafka-addr" env:"REGNOTIFY_DEV_KAFKA_ADDR" default:"127.0.0.1:9092" help:"Address of the embedded Kafka-protocol broker."`
	SimAddr      string        `name:"sim-addr" env:"REGNOTIFY_DEV_SIM_ADDR" default:"127.0.0.1:8081" help:"Address of the Gigya simulator."`
	HTTPAddr     string        `name:"http-addr" env:"REGNOTIFY_DEV_HTTP_ADDR" default:"127.0.0.1:8080" help:"Address of the worker's /metrics, /healthz, /readyz."`
	AdminAddr    string        `name:"admin-addr" env:"REGNOTIFY_DEV_ADMIN_ADDR" default:"127.0.0.1:8090" help:"Address of the admin API and console (empty: off); a dev operator token is printed on stderr."`
	Partitions   int           `name:"partitions" env:"REGNOTIFY_DEV_PARTITIONS" default:"4" help:"Partitions per topic."`
	Demo         int           `name:"demo" env:"REGNOTIFY_DEV_DEMO" default:"0" help:"Produce N sample events (every format, both sites; valid, invalid, rejected, redelivered) and print a summary."`
	ExitWhenDone bool          `name:"exit-when-done" env:"REGNOTIFY_DEV_EXIT_WHEN_DONE" help:"With --demo: exit after the summary instead of staying up."`
	Concurrency  int           `name:"concurrency" env:"REGNOTIFY_DEV_CONCURRENCY" default:"64" help:"Events in flight."`
	Latency      time.Duration `name:"sim-latency" env:"REGNOTIFY_DEV_SIM_LATENCY" default:"5ms" help:"Simulated Gigya latency."`
	OTelConsole  bool          `name:"otel-console" env:"REGNOTIFY_DEV_OTEL_CONSOLE" help:"Print trace spans on stdout (as OTEL_TRACES_EXPORTER=console does)."`
	// dev talks to a person: readable and quiet unless asked otherwise.
	LogLevel  string `name:"log-level" env:"REGNOTIFY_DEV_LOG_LEVEL" default:"warn" enum:"debug,info,warn,error" help:"Log level: debug, info, warn, error."`
	LogFormat string `name:"log-format" env:"REGNOTIFY_DEV_LOG_FORMAT" default:"console" enum:"json,console" help:"Log format: json or console."`
}

// devWorld is everything dev runs besides the worker.
type devWorld struct {
	broker   *kfake.Cluster
	registry *srfake.Registry
	reg      *formats.SchemaRegistry
	sim      *gigyasim.Server
	simLn    net.Listener
	clients  []*gigya.Client
	ids      devSchemaIDs
}

func (d *devWorld) close() {
	for _, c := range d.clients {
		c.Close()
	}
	if d.reg != nil {
		d.reg.Close()
	}
	if d.registry != nil {
		d.registry.Close()
	}
	if d.simLn != nil {
		d.simLn.Close()
	}
	if d.broker != nil {
		d.broker.Close()
	}
}

func (c *devCmd) Run(e *env) error {
	log, err := logFlags{LogLevel: c.LogLevel, LogFormat: c.LogFormat}.logger(e)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // best effort on exit
	if c.Demo < 0 || c.Partitions < 1 {
		return usagef("--demo must be >= 0 and --partitions >= 1")
	}
	if c.OTelConsole {
		// dev is a one-off process for a person: the standard variable
		// is the one switch tracing.Setup knows.
		os.Setenv("OTEL_TRACES_EXPORTER", "console") //nolint:errcheck // cannot fail for a valid name
	}
	tr, err := tracing.Setup(e.ctx, tracing.Options{Version: version, Stdout: e.stdout})
	if err != nil {
		return usagef("tracing: %v", err)
	}
	metrics := worker.NewMetrics()
	metrics.Registry.MustRegister(tr.Collector())
	d := &devWorld{}
	defer d.close()
	if err := c.start(d, gigya.Options{Observe: metrics.ObserveGigya, Logger: log.Named("gigya"), TracerProvider: tr.TracerProvider()}); err != nil {
		return err
	}
	brokers := d.broker.ListenAddrs()
	cfg, err := c.config(d, brokers, tr)
	if err != nil {
		return err
	}
	dlq, err := worker.NewDeadLetterWriter(cfg.Kafka, cfg.DLQTopic)
	if err != nil {
		return err
	}
	defer kafkaio.CloseBounded(log, "dead-letter writer", dlq.Close, 5*time.Second)
	w, err := worker.New(cfg, d.clients[0], dlq, metrics, log)
	if err != nil {
		return usagef("%v", err)
	}
	adm, err := newAdmin(e, adminFlags{AdminAddr: c.AdminAddr}, cfg, w, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = tr.Shutdown(sctx)
	}()
	c.banner(e, d, brokers, adm)
	return c.serve(e, d, w, adm, brokers, cfg, metrics)
}

// start starts the broker (with every topic), the schema registry and the
// simulator, and makes the sites' clients.
func (c *devCmd) start(d *devWorld, base gigya.Options) error {
	var err error
	topics := append(devTopicNames(), devDLQTopic, control.DefaultTopic)
	if d.broker, err = c.broker(topics); err != nil {
		return err
	}
	d.registry = srfake.New()
	if d.ids, err = seedDevSchemas(d.registry); err != nil {
		return err
	}
	if d.reg, err = formats.NewRegistry(d.registry.URL(), "", "", nil); err != nil {
		return fmt.Errorf("schema registry client: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate demo key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	d.sim, err = gigyasim.New(gigyasim.Config{
		Sites: []gigyasim.Site{
			{Name: devSiteA, APIKey: devAPIKeyA, UserKey: devUserKeyA, PublicKey: &key.PublicKey, PartnerSecret: devPartnerSecretA},
			{Name: devSiteB, APIKey: devAPIKeyB, UserKey: devUserKeyB, Secret: devSecretB, PartnerSecret: devPartnerSecretB},
		},
		Faults: gigyasim.Faults{Latency: c.Latency, Jitter: c.Latency / 2},
	})
	if err != nil {
		return fmt.Errorf("gigya simulator: %w", err)
	}
	if d.simLn, err = net.Listen("tcp", c.SimAddr); err != nil {
		return fmt.Errorf("listen %s for the Gigya simulator: %w", c.SimAddr, err)
	}
	simURL := "http://" + d.simLn.Addr().String()
	for _, o := range []gigya.Options{
		{APIKey: devAPIKeyA, BaseURL: simURL, Auth: gigya.AuthBearer, UserKey: devUserKeyA, PrivateKeyPEM: keyPEM, PartnerSecret: devPartnerSecretA},
		{APIKey: devAPIKeyB, BaseURL: simURL, Auth: gigya.AuthSigned, UserKey: devUserKeyB, Secret: devSecretB, PartnerSecret: devPartnerSecretB},
	} {
		o.MaxConns, o.Observe, o.Logger, o.TracerProvider = c.Concurrency, base.Observe, base.Logger, base.TracerProvider
		cl, err := gigya.New(o)
		if err != nil {
			return fmt.Errorf("gigya client: %w", err)
		}
		d.clients = append(d.clients, cl)
	}
	return nil
}

// config is the worker's configuration: both sites, a topic per site and
// per format, the bulk lane.
func (c *devCmd) config(d *devWorld, brokers []string, tr *tracing.Tracing) (worker.Config, error) {
	cfg := worker.Config{
		Kafka: kafkaio.Kafka{Brokers: brokers}, Group: "regnotify", DLQTopic: devDLQTopic,
		Concurrency: c.Concurrency, HTTPAddr: c.HTTPAddr, ShutdownTimeout: 5 * time.Second,
		RetryInitial: 100 * time.Millisecond, RetryMaxInterval: 2 * time.Second, RetryMaxElapsed: 30 * time.Second,
		SiteProbeInterval: 5 * time.Second, Tracing: tr, TopicConfig: map[string]worker.Topic{},
	}
	cfg.Sites = []worker.Site{
		{Name: devSiteA, APIKey: devAPIKeyA, Gigya: d.clients[0]},
		{Name: devSiteB, APIKey: devAPIKeyB, Gigya: d.clients[1]},
	}
	for _, t := range devTopics {
		var dec formats.Decoder
		if t.spec.Format != "" {
			var err error
			if dec, err = formats.New(t.spec, d.reg); err != nil {
				return cfg, fmt.Errorf("dev topic %s: %w", t.name, err)
			}
		}
		cfg.TopicConfig[t.name] = worker.Topic{Site: t.site, SiteFrom: worker.SiteFrom{Header: t.header}, Lane: t.lane, Decoder: dec}
		if t.lane == "bulk" {
			cfg.BulkTopics = append(cfg.BulkTopics, t.name)
		} else {
			cfg.Topics = append(cfg.Topics, t.name)
		}
	}
	return cfg, nil
}

// banner tells the person what runs where.
func (c *devCmd) banner(e *env, d *devWorld, brokers []string, adm *adminServer) {
	simAddr := d.simLn.Addr().String()
	var b strings.Builder
	fmt.Fprintf(&b, "regnotify dev: everything in one process (Ctrl-C to stop)\n")
	fmt.Fprintf(&b, "  Kafka broker     %s\n", brokers[0])
	fmt.Fprintf(&b, "  Gigya simulator  http://%s   (stats: http://%s/_sim/stats)\n", simAddr, simAddr)
	fmt.Fprintf(&b, "    site %s  apiKey %s  (bearer auth)\n    site %s  apiKey %s  (signed auth)\n", devSiteA, devAPIKeyA, devSiteB, devAPIKeyB)
	fmt.Fprintf(&b, "  Schema Registry  %s   (in process)\n", d.registry.URL())
	fmt.Fprintf(&b, "  Worker           http://%s/metrics  /healthz  /readyz\n", c.HTTPAddr)
	if adm != nil && adm.Addr() != "" {
		fmt.Fprintf(&b, "  Admin console    http://%s/   (sign in with the operator token printed on stderr)\n", adm.Addr())
	}
	fmt.Fprintf(&b, "  Topics (topic → site, format):\n")
	for _, t := range devTopics {
		site := t.site
		if t.header != "" {
			site = "header " + t.header
		}
		fmt.Fprintf(&b, "    %-26s → %s, %s%s\n", t.name, site, orDefault(t.spec.Format, "regnotify"), pick(t.lane == "bulk", " (bulk lane)", ""))
	}
	fmt.Fprintf(&b, `Produce an event:
  echo '{"eventId":"e-1","uid":"_gid_demo","siteUid":"customer-1"}' | kcat -P -b %s -t account.linked -k _gid_demo
  echo '{"id":"c-1","data":{"gigyaUid":"_gid_demo2","customerNo":"c-2"}}' | kcat -P -b %s -t crm.customers -H brand=brand-b
Read dead letters:
  kcat -C -b %s -t %s -f '%%k %%s\n%%h\n' -e

`, brokers[0], brokers[0], brokers[0], devDLQTopic)
	fmt.Fprint(e.stdout, b.String())
}

func orDefault(s, def string) string { return pick(s != "", s, def) }

// broker starts the embedded Kafka-protocol broker with topics.
func (c *devCmd) broker(topics []string) (*kfake.Cluster, error) {
	_, portStr, err := net.SplitHostPort(c.KafkaAddr)
	if err != nil {
		return nil, usagef("--kafka-addr %q: %v", c.KafkaAddr, err)
	}
	port, _ := strconv.Atoi(portStr)
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(int32(c.Partitions), topics...))
	if err != nil {
		return nil, fmt.Errorf("start embedded Kafka on %s (is the port free?): %w", c.KafkaAddr, err)
	}
	return broker, nil
}

// serve runs the simulator, the worker, the admin server and the demo
// until e.ctx ends (or the demo is done, with --exit-when-done).
func (c *devCmd) serve(e *env, d *devWorld, w *worker.Worker, adm *adminServer, brokers []string, cfg worker.Config, metrics *worker.Metrics) error {
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	simSrv := &http.Server{Handler: d.sim, ReadHeaderTimeout: 5 * time.Second}
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		if err := simSrv.Serve(d.simLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("gigya simulator: %w", err)
		}
		return nil
	})
	eg.Go(func() error {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		if simSrv.Shutdown(sctx) != nil {
			// Connections dialled but never used count as busy for 5 s.
			simSrv.Close()
		}
		return nil
	})
	eg.Go(func() error { return runAll(ctx, w, nil, adm) })
	if c.Demo > 0 {
		eg.Go(func() error {
			err := runDemo(ctx, e.stdout, c.Demo, brokers, cfg, metrics, d.ids)
			if err == nil && c.ExitWhenDone {
				cancel()
			}
			return err
		})
	}
	if err := eg.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
