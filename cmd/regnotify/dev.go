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
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/kafkaio"
)

// Demo credentials of the dev setup. They exist only inside the dev process
// and its simulator; they are printed on purpose.
const (
	devAPIKey  = "3_regnotify-dev"
	devUserKey = "regnotify-dev-user-key"
)

var devPartnerSecret = base64.StdEncoding.EncodeToString([]byte("regnotify-dev-partner-secret"))

type devCmd struct {
	KafkaAddr    string        `name:"kafka-addr" env:"REGNOTIFY_DEV_KAFKA_ADDR" default:"127.0.0.1:9092" help:"Address of the embedded Kafka-protocol broker."`
	SimAddr      string        `name:"sim-addr" env:"REGNOTIFY_DEV_SIM_ADDR" default:"127.0.0.1:8081" help:"Address of the Gigya simulator."`
	HTTPAddr     string        `name:"http-addr" env:"REGNOTIFY_DEV_HTTP_ADDR" default:"127.0.0.1:8080" help:"Address of the worker's /metrics, /healthz, /readyz."`
	Partitions   int           `name:"partitions" env:"REGNOTIFY_DEV_PARTITIONS" default:"4" help:"Partitions per topic."`
	Demo         int           `name:"demo" env:"REGNOTIFY_DEV_DEMO" default:"0" help:"Produce N sample events (valid, invalid, rejected, redelivered) and print a summary."`
	ExitWhenDone bool          `name:"exit-when-done" env:"REGNOTIFY_DEV_EXIT_WHEN_DONE" help:"With --demo: exit after the summary instead of staying up."`
	Concurrency  int           `name:"concurrency" env:"REGNOTIFY_DEV_CONCURRENCY" default:"64" help:"Events in flight."`
	Latency      time.Duration `name:"sim-latency" env:"REGNOTIFY_DEV_SIM_LATENCY" default:"5ms" help:"Simulated Gigya latency."`
	// dev talks to a person: readable and quiet unless asked otherwise.
	LogLevel  string `name:"log-level" env:"REGNOTIFY_DEV_LOG_LEVEL" default:"warn" enum:"debug,info,warn,error" help:"Log level: debug, info, warn, error."`
	LogFormat string `name:"log-format" env:"REGNOTIFY_DEV_LOG_FORMAT" default:"console" enum:"json,console" help:"Log format: json or console."`
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
	topics := []string{string(events.UserRegistered), string(events.AccountLinked)}
	const dlqTopic = "regnotify.dlq"
	broker, err := c.broker(append(topics, dlqTopic))
	if err != nil {
		return err
	}
	defer broker.Close()
	brokers := broker.ListenAddrs()
	sim, keyPEM, err := c.simulator()
	if err != nil {
		return err
	}
	simLn, err := net.Listen("tcp", c.SimAddr)
	if err != nil {
		return fmt.Errorf("listen %s for the Gigya simulator: %w", c.SimAddr, err)
	}
	simSrv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	cfg := worker.Config{
		Kafka: kafkaio.Kafka{Brokers: brokers}, Group: "regnotify", Topics: topics, DLQTopic: dlqTopic,
		Concurrency: c.Concurrency, HTTPAddr: c.HTTPAddr, ShutdownTimeout: 5 * time.Second,
		RetryInitial: 100 * time.Millisecond, RetryMaxInterval: 2 * time.Second, RetryMaxElapsed: 30 * time.Second,
	}
	metrics := worker.NewMetrics()
	w, closeWorker, err := c.worker(cfg, metrics, "http://"+simLn.Addr().String(), keyPEM, log)
	if err != nil {
		simLn.Close()
		return err
	}
	defer closeWorker()

	fmt.Fprintf(e.stdout, `regnotify dev: everything in one process (Ctrl-C to stop)
  Kafka broker     %s   topics: %s, %s, %s
  Gigya simulator  http://%s   (stats: http://%s/_sim/stats; apiKey %s)
  Worker           http://%s/metrics  /healthz  /readyz
Produce an event:
  echo '{"eventId":"e-1","uid":"_gid_demo","siteUid":"customer-1"}' | kcat -P -b %s -t account.linked -k _gid_demo
Read dead letters:
  kcat -C -b %s -t %s -f '%%k %%s\n%%h\n' -e

`, brokers[0], topics[0], topics[1], dlqTopic, simLn.Addr(), simLn.Addr(), devAPIKey, c.HTTPAddr, brokers[0], brokers[0], dlqTopic)
	return c.serve(e, simSrv, simLn, w, brokers, cfg, metrics)
}

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

// simulator returns the Gigya simulator, with bearer auth (SAP's
// recommended mode), and the private key the worker signs with.
func (c *devCmd) simulator() (*gigyasim.Server, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generate demo key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	sim, err := gigyasim.New(gigyasim.Config{
		APIKey: devAPIKey, UserKey: devUserKey, PublicKey: &key.PublicKey, PartnerSecret: devPartnerSecret,
		Faults: gigyasim.Faults{Latency: c.Latency, Jitter: c.Latency / 2},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("gigya simulator: %w", err)
	}
	return sim, keyPEM, nil
}

// worker wires the Gigya client and the dead-letter writer into a worker;
// closeAll closes them.
func (c *devCmd) worker(cfg worker.Config, metrics *worker.Metrics, simURL string, keyPEM []byte, log *zap.Logger) (w *worker.Worker, closeAll func(), err error) {
	client, err := gigya.New(gigya.Options{
		APIKey: devAPIKey, BaseURL: simURL, Auth: gigya.AuthBearer, UserKey: devUserKey,
		PrivateKeyPEM: keyPEM, PartnerSecret: devPartnerSecret, MaxConns: c.Concurrency,
		Observe: metrics.ObserveGigya, Logger: log.Named("gigya"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("gigya client: %w", err)
	}
	dlq, err := worker.NewDeadLetterWriter(cfg.Kafka, cfg.DLQTopic)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	closeAll = func() {
		kafkaio.CloseBounded(log, "dead-letter writer", dlq.Close, 5*time.Second)
		client.Close()
	}
	w, err = worker.New(cfg, client, dlq, metrics, log)
	if err != nil {
		closeAll()
		return nil, nil, usagef("%v", err)
	}
	return w, closeAll, nil
}

// serve runs the simulator, the worker and the demo until e.ctx ends (or
// the demo is done, with --exit-when-done).
func (c *devCmd) serve(e *env, simSrv *http.Server, simLn net.Listener, w *worker.Worker, brokers []string, cfg worker.Config, metrics *worker.Metrics) error {
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		if err := simSrv.Serve(simLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
	eg.Go(func() error { return w.Run(ctx) })
	if c.Demo > 0 {
		eg.Go(func() error {
			err := runDemo(ctx, e.stdout, c.Demo, brokers, cfg, metrics)
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

// runDemo produces n sample events, waits until the worker committed them
// all and prints what became of them.
func runDemo(ctx context.Context, out io.Writer, n int, brokers []string, cfg worker.Config, m *worker.Metrics) error {
	first, second, expect := demoEvents(n)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	wr := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, Transport: tr}
	defer wr.Close()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: tr}
	start := time.Now()
	fmt.Fprintf(out, "demo: producing %d events (%s); waiting for the worker...\n", len(first)+len(second), expect)
	// Claims and redeliveries come after the links they refer to have
	// ended, so that each ends as announced: a claim processed before
	// the link it competes with would win the siteUID instead.
	for _, batch := range [][]kafka.Message{first, second} {
		if err := wr.WriteMessages(ctx, batch...); err != nil {
			return fmt.Errorf("demo: produce: %w", err)
		}
		for {
			done, err := kafkaio.CaughtUp(ctx, client, cfg.Group, cfg.Topics)
			if err == nil && done {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	s := m.Snapshot()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(out, "\ndemo: all %d events ended in %v\n", len(first)+len(second), time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(tw, "outcome\tevents\t")
	for _, o := range []string{worker.OutcomeNotified, worker.OutcomeAlreadyDone, worker.OutcomeDLQInvalid, worker.OutcomeDLQRejected, worker.OutcomeDLQExhausted} {
		fmt.Fprintf(tw, "%s\t%d\t\n", o, s.Events[o])
	}
	fmt.Fprintf(tw, "total\t%d\t\n", s.Total())
	fmt.Fprintf(tw, "gigya calls\t%d\t\n", s.GigyaCalls)
	fmt.Fprintf(tw, "retries\t%d\t\n", s.Retries)
	return tw.Flush()
}

// demoEvents returns n sample events: mostly valid links and registrations,
// and a share of each kind of trouble: invalid events, links Gigya rejects
// (a siteUID another account owns: 409001) and redelivered links
// (already done). The mix is deterministic. The claims and redeliveries
// are returned apart (later): they refer to links among msgs.
func demoEvents(n int) (msgs, later []kafka.Message, summary string) {
	r := mrand.New(mrand.NewPCG(42, 42))
	var linked []kafka.Message
	var valid, invalid, rejected, redelivered int
	enc := func(ev events.Event) kafka.Message {
		v, _ := events.Encode(ev)
		return kafka.Message{Topic: string(ev.Type), Key: []byte(ev.UID), Value: v}
	}
	bad := [][]byte{
		[]byte(`{"eventId":"bad-1","uid":"_gid_x","siteUid":"_gid_x"}`),
		[]byte(`{"eventId":"bad-2","uid":"_gid_y","siteUid":"kunde-ü"}`),
		[]byte(`{"uid":"_gid_z","siteUid":"customer-z"}`),
		[]byte(`{"eventId":"bad-4","uid":"_gid_w"`),
		[]byte(`{"eventId":"bad-5","type":"user.registered","uid":"_gid_v","siteUid":"c-v"}`),
	}
	for i := 0; len(msgs)+len(later) < n; i++ {
		uid := fmt.Sprintf("_gid_demo%05d", i)
		site := fmt.Sprintf("customer-%05d", i)
		switch x := r.IntN(100); {
		case x < 8:
			v := bad[r.IntN(len(bad))]
			msgs = append(msgs, kafka.Message{Topic: string(events.AccountLinked), Key: []byte(uid), Value: v})
			invalid++
		case x < 14 && len(linked) > 0:
			// Another account claims a siteUID already linked: 409001.
			prev, _ := events.Decode(string(events.AccountLinked), linked[r.IntN(len(linked))].Value)
			later = append(later, enc(events.Event{EventID: "claim-" + uid, Type: events.AccountLinked, UID: uid, SiteUID: prev.SiteUID}))
			rejected++
		case x < 20 && len(linked) > 0:
			later = append(later, linked[r.IntN(len(linked))]) // a redelivery
			redelivered++
		case x < 45:
			msgs = append(msgs, enc(events.Event{EventID: "reg-" + uid, Type: events.UserRegistered, UID: uid, OccurredAt: time.Now().UTC().Truncate(time.Second)}))
			valid++
		default:
			m := enc(events.Event{EventID: "link-" + uid, Type: events.AccountLinked, UID: uid, SiteUID: site, CID: "demo"})
			msgs = append(msgs, m)
			linked = append(linked, m)
			valid++
		}
	}
	return msgs, later, fmt.Sprintf("%d valid, %d invalid, %d claiming a taken siteUID, %d redelivered", valid, invalid, rejected, redelivered)
}
