package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/alecthomas/kong"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/regnotify/regnotify/events/field"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/tracing"
)

// gigyaFlags configure the Gigya client.
type gigyaFlags struct {
	GigyaAPIKey            string        `field:"APIKey" name:"gigya-api-key" env:"GIGYA_API_KEY" help:"Site API key (required)."`
	GigyaDataCenter        string        `field:"DataCenter" name:"gigya-data-center" env:"GIGYA_DATA_CENTER" default:"us1.gigya.com" help:"Data center: us1.gigya.com, eu1.gigya.com, au1.gigya.com, eu2.gigya.com, global.gigya.com, cn1.sapcdm.cn."`
	GigyaBaseURL           string        `field:"BaseURL" name:"gigya-base-url" env:"GIGYA_BASE_URL" help:"Override the base URL derived from the data center (e.g. the simulator: http://127.0.0.1:8081)." placeholder:"URL"`
	GigyaAuth              string        `field:"Auth" name:"gigya-auth" env:"GIGYA_AUTH" enum:",bearer,secret,signed" default:"" help:"Request authentication: bearer, secret or signed (default: bearer if a private key is set, else secret)."`
	GigyaUserKey           string        `field:"UserKey" name:"gigya-user-key" env:"GIGYA_USER_KEY" help:"Application key (userKey) (required)."`
	GigyaSecret            string        `field:"Secret" name:"gigya-secret" env:"GIGYA_SECRET" help:"Application secret, base64, for secret/signed auth (prefer the _FILE form)."`
	GigyaSecretFile        string        `name:"gigya-secret-file" env:"GIGYA_SECRET_FILE" help:"File holding the application secret." placeholder:"FILE"`
	GigyaPrivateKeyFile    string        `field:"PrivateKeyPEM" name:"gigya-private-key-file" env:"GIGYA_PRIVATE_KEY_FILE" help:"RSA private key (PEM, PKCS#1 or #8) for bearer auth." placeholder:"FILE"`
	GigyaPartnerSecret     string        `field:"PartnerSecret" name:"gigya-partner-secret" env:"GIGYA_PARTNER_SECRET" help:"Partner secret, base64; signs siteUIDs (UIDSig) (prefer the _FILE form)."`
	GigyaPartnerSecretFile string        `name:"gigya-partner-secret-file" env:"GIGYA_PARTNER_SECRET_FILE" help:"File holding the partner secret." placeholder:"FILE"`
	RateLimit              float64       `name:"rate-limit" env:"GIGYA_RATE_LIMIT" default:"100" help:"Gigya calls per second for the site across the whole consumer group: all replicas together, each running at its partitions' share (0 = no limit)."`
	RequestTimeout         time.Duration `name:"request-timeout" env:"GIGYA_REQUEST_TIMEOUT" default:"10s" help:"Timeout of one Gigya HTTP request."`
}

func (f gigyaFlags) options(maxConns int) (gigya.Options, error) {
	if f.GigyaAPIKey == "" {
		return gigya.Options{}, usagef("--gigya-api-key (GIGYA_API_KEY) is required")
	}
	if f.GigyaUserKey == "" {
		return gigya.Options{}, usagef("--gigya-user-key (GIGYA_USER_KEY) is required")
	}
	sec, err := secret(f.GigyaSecret, f.GigyaSecretFile, "--gigya-secret", "GIGYA_SECRET")
	if err != nil {
		return gigya.Options{}, err
	}
	partner, err := secret(f.GigyaPartnerSecret, f.GigyaPartnerSecretFile, "--gigya-partner-secret", "GIGYA_PARTNER_SECRET")
	if err != nil {
		return gigya.Options{}, err
	}
	if err := checkGigyaFlags(f); err != nil {
		return gigya.Options{}, err
	}
	var key []byte
	if f.GigyaPrivateKeyFile != "" {
		if key, err = os.ReadFile(f.GigyaPrivateKeyFile); err != nil {
			return gigya.Options{}, usagef("--gigya-private-key-file (GIGYA_PRIVATE_KEY_FILE): cannot read %s", f.GigyaPrivateKeyFile)
		}
	}
	return gigya.Options{
		APIKey: f.GigyaAPIKey, DataCenter: f.GigyaDataCenter, BaseURL: f.GigyaBaseURL,
		Auth: gigya.AuthMode(f.GigyaAuth), UserKey: f.GigyaUserKey, Secret: sec, PrivateKeyPEM: key,
		PartnerSecret: partner, RequestTimeout: f.RequestTimeout, MaxConns: maxConns,
	}, nil
}

// workerFlags are the worker's own settings.
type workerFlags struct {
	Group            string        `name:"group" env:"KAFKA_GROUP_ID" default:"regnotify" help:"Consumer group."`
	Topics           []string      `name:"topics" env:"KAFKA_TOPICS" sep:"," default:"user.registered,account.linked" help:"Topics to consume, comma-separated."`
	BulkTopics       []string      `name:"bulk-topics" env:"KAFKA_BULK_TOPICS" sep:"," default:"bulk.account.linked" help:"Bulk-lane topics, comma-separated: their events get the quota live events leave (bulk-link writes to bulk.account.linked)."`
	BulkConcurrency  int           `name:"bulk-concurrency" env:"REGNOTIFY_BULK_CONCURRENCY" default:"0" help:"Most concurrency slots bulk events may hold (0 = half of --concurrency)."`
	DLQTopic         string        `name:"dlq-topic" env:"KAFKA_DLQ_TOPIC" default:"regnotify.dlq" help:"Dead-letter topic."`
	StartOffset      string        `name:"start-offset" env:"KAFKA_START_OFFSET" enum:"earliest,latest" default:"earliest" help:"Where a new group begins: earliest or latest."`
	Concurrency      int           `field:"Concurrency,MaxConns" name:"concurrency" env:"REGNOTIFY_CONCURRENCY" default:"64" help:"Events in flight."`
	RetryInitial     time.Duration `name:"retry-initial" env:"REGNOTIFY_RETRY_INITIAL" default:"500ms" help:"First retry delay."`
	RetryMaxInterval time.Duration `name:"retry-max-interval" env:"REGNOTIFY_RETRY_MAX_INTERVAL" default:"30s" help:"Longest retry delay."`
	RetryMaxElapsed  time.Duration `name:"retry-max-elapsed" env:"REGNOTIFY_RETRY_MAX_ELAPSED" default:"2m" help:"Retry budget of an event (Gigya outage time excluded); then it is dead-lettered."`
	HTTPAddr         string        `name:"http-addr" env:"REGNOTIFY_HTTP_ADDR" default:":8080" help:"Address of /metrics, /healthz, /readyz (empty: none)."`
	ShutdownTimeout  time.Duration `name:"shutdown-timeout" env:"REGNOTIFY_SHUTDOWN_TIMEOUT" default:"30s" help:"How long in-flight events may finish on SIGTERM."`
}

func (f workerFlags) config(k kafkaio.Kafka, rateLimit float64) (worker.Config, error) {
	cfg := worker.Config{
		Kafka: k, Group: f.Group, Topics: splitComma(f.Topics), DLQTopic: f.DLQTopic, StartOffset: f.StartOffset,
		Concurrency: f.Concurrency, RateLimit: rateLimit,
		BulkTopics: splitComma(f.BulkTopics), BulkConcurrency: f.BulkConcurrency,
		RetryInitial: f.RetryInitial, RetryMaxInterval: f.RetryMaxInterval, RetryMaxElapsed: f.RetryMaxElapsed,
		ShutdownTimeout: f.ShutdownTimeout, HTTPAddr: f.HTTPAddr,
	}
	// Zero means "the default" to worker.Config, but a flag set to zero
	// is a mistake.
	var err error
	switch {
	case f.Concurrency < 1:
		err = field.Errorf("Config", "Concurrency", "must be at least 1")
	case f.BulkConcurrency < 0:
		err = field.Errorf("Config", "BulkConcurrency", "must not be negative (0 = half of --concurrency)")
	case f.RetryInitial <= 0 || f.RetryMaxInterval < f.RetryInitial:
		err = field.Errorf("Config", "RetryInitial", "want 0 < initial <= max interval (--retry-max-interval)")
	case f.RetryMaxElapsed <= 0:
		err = field.Errorf("Config", "RetryMaxElapsed", "must be positive")
	case f.ShutdownTimeout <= 0:
		err = field.Errorf("Config", "ShutdownTimeout", "must be positive")
	default:
		if err = checkWorkerFlags(cfg.Topics, f.HTTPAddr); err == nil {
			err = cfg.Validate()
		}
	}
	if err != nil {
		return cfg, flagError(err, f, gigyaFlags{})
	}
	return cfg, nil
}

type runCmd struct {
	kafkaFlags  `embed:""`
	workerFlags `embed:""`
	gigyaFlags  `embed:""`
	siteFlags   `embed:""`
	adminFlags  `embed:""`
	logFlags    `embed:""`
}

func (c *runCmd) Run(e *env, kctx *kong.Context) error {
	if os.Getenv("GOGC") == "" {
		// The worker's live heap is a few MiB; at Go's default of 100 the
		// collector runs so often that it costs about a tenth of the CPU
		// per event (regnotify-bench zero-latency: 49-52 → 44-48 µs/event at
		// 200, peak RSS 29 → 34 MiB). GOGC set by the operator wins.
		debug.SetGCPercent(200)
	}
	log, k, err := startKafkaCommand(e, c.logFlags, c.kafkaFlags)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // best effort on exit
	cfg, setup, err := c.resolve(kctx, k, log)
	if err != nil {
		return err
	}
	defer setup.close()
	tr, err := tracing.Setup(e.ctx, tracing.Options{Version: version, Stdout: e.stdout})
	if err != nil {
		return usagef("tracing: %v", err)
	}
	return runWorker(e, cfg, setup, tr, c.adminFlags, log)
}

// runWorker wires the Gigya clients, the dead-letter writer, the worker,
// secret rotation and the admin server, and runs until e.ctx ends.
func runWorker(e *env, cfg worker.Config, setup *runSetup, tr *tracing.Tracing, af adminFlags, log *zap.Logger) error {
	metrics := worker.NewMetrics()
	metrics.Registry.MustRegister(tr.Collector())
	cfg.Tracing = tr
	clients, err := newSiteClients(setup.specs, gigya.Options{
		Observe: metrics.ObserveGigya, Logger: log.Named("gigya"), TracerProvider: tr.TracerProvider()})
	if err != nil {
		return err
	}
	setup.clients = clients
	if setup.fromFile {
		cfg.Sites = clients.workerSites()
	}
	// Credentials and TLS trust cannot fix themselves: fail at once. A
	// broker that is merely not up yet is waited for (not ready meanwhile).
	cctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
	err = cfg.Kafka.Check(cctx)
	cancel()
	var ce *kafkaio.CheckError
	if errors.As(err, &ce) && (ce.Auth || ce.TLS) {
		return err
	}
	if err != nil && e.ctx.Err() == nil {
		log.Warn("kafka not reachable yet; will keep trying", zap.Error(err))
	}
	dlq, err := worker.NewDeadLetterWriter(cfg.Kafka, cfg.DLQTopic)
	if err != nil {
		return usagef("%v", err)
	}
	defer kafkaio.CloseBounded(log, "dead-letter writer", dlq.Close, 5*time.Second)
	w, err := worker.New(cfg, clients.clients[0], dlq, metrics, log)
	if err != nil {
		return usagef("%v", err)
	}
	rot, err := newRotator(clients, secretPollInterval, log, w.SiteChanged)
	if err != nil {
		return err
	}
	adm, err := newAdmin(e, af, cfg, w, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), min(cfg.ShutdownTimeout, 5*time.Second))
		defer scancel()
		if err := tr.Shutdown(sctx); err != nil {
			log.Warn("tracing shutdown", zap.Error(err))
		}
	}()
	if err := runAll(e.ctx, w, rot, adm); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// secretPollInterval is how often secret files are checked for a new
// content: well below the kubelet's Secret sync period.
const secretPollInterval = 2 * time.Second

// runAll runs the worker and its companions (each may be nil but the
// worker) until ctx ends or the worker stops; the companions stop with it.
func runAll(ctx context.Context, w *worker.Worker, rot *rotator, adm *adminServer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if adm != nil {
		defer adm.close()
	}
	eg, gctx := errgroup.WithContext(ctx)
	if rot != nil {
		eg.Go(func() error { return rot.watcher.Run(gctx) })
	}
	eg.Go(func() error {
		defer cancel()
		if adm != nil {
			if err := adm.start(gctx, eg, w); err != nil {
				return err
			}
		}
		return w.Run(gctx)
	})
	return eg.Wait()
}
