package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
)

// Credentials of the bench's simulator. They exist only in this process and
// its child.
const (
	benchAPIKey  = "3_regnotify-bench"
	benchUserKey = "regnotify-bench-user-key"
	partitions   = 4 // per topic: 8 partition readers in the worker
)

var (
	benchSecret  = base64.StdEncoding.EncodeToString([]byte("regnotify-bench-app-secret"))
	benchPartner = base64.StdEncoding.EncodeToString([]byte("regnotify-bench-partner-secret"))
)

// broker is the in-process Kafka-protocol broker shared by all scenarios;
// each scenario gets its own topics and group.
type broker struct {
	fake      *kfake.Cluster
	addrs     []string
	transport *kafka.Transport
	client    *kafka.Client
}

func startBroker() (*broker, error) {
	fc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(partitions),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(8 << 20)}))
	if err != nil {
		return nil, fmt.Errorf("start in-process Kafka broker: %w", err)
	}
	b := &broker{fake: fc, addrs: fc.ListenAddrs(), transport: &kafka.Transport{}}
	b.client = &kafka.Client{Addr: kafka.TCP(b.addrs...), Timeout: 10 * time.Second, Transport: b.transport}
	return b, nil
}

func (b *broker) close() {
	b.transport.CloseIdleConnections()
	b.fake.Close()
}

// topics is one scenario's topic set: names unique to the scenario, each
// ending in the event type so that the worker infers the type as in
// production ("zero-latency.user.registered").
type topics struct {
	reg, link, dlq string
}

func (t topics) consumed() []string { return []string{t.reg, t.link} }

func (b *broker) createTopics(ctx context.Context, scenario string) (topics, error) {
	t := topics{
		reg:  scenario + "." + string(events.UserRegistered),
		link: scenario + "." + string(events.AccountLinked),
		dlq:  scenario + ".regnotify.dlq",
	}
	req := &kafka.CreateTopicsRequest{}
	for _, name := range []string{t.reg, t.link, t.dlq} {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: 1})
	}
	resp, err := b.client.CreateTopics(ctx, req)
	if err != nil {
		return t, fmt.Errorf("create topics: %w", err)
	}
	for name, err := range resp.Errors {
		if err != nil {
			return t, fmt.Errorf("create topic %s: %w", name, err)
		}
	}
	return t, nil
}

// writer is a synchronous acks=all writer partitioning by key.
func (b *broker) writer(batch int) *kafka.Writer {
	return &kafka.Writer{
		Addr: kafka.TCP(b.addrs...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, BatchSize: batch, BatchBytes: 8 << 20, Transport: b.transport,
	}
}

// produce writes msgs in chunks and returns when all are acknowledged.
func (b *broker) produce(ctx context.Context, msgs []kafka.Message) error {
	w := b.writer(1000)
	defer w.Close()
	for len(msgs) > 0 {
		n := min(len(msgs), 10000)
		if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		msgs = msgs[n:]
	}
	return nil
}

// caughtUp reports whether group's committed offsets reach the end of every
// partition of the topics.
func (b *broker) caughtUp(ctx context.Context, group string, names []string) (bool, error) {
	ends := map[string][]kafka.OffsetRequest{}
	parts := map[string][]int{}
	for _, t := range names {
		for p := range partitions {
			ends[t] = append(ends[t], kafka.LastOffsetOf(p))
			parts[t] = append(parts[t], p)
		}
	}
	lo, err := b.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: ends})
	if err != nil {
		return false, err
	}
	of, err := b.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return false, err
	}
	if of.Error != nil {
		return false, of.Error
	}
	committed := map[string]map[int]int64{}
	for t, ps := range of.Topics {
		committed[t] = map[int]int64{}
		for _, p := range ps {
			committed[t][p.Partition] = p.CommittedOffset
		}
	}
	for t, ps := range lo.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return false, p.Error
			}
			if p.LastOffset > 0 && committed[t][p.Partition] < p.LastOffset {
				return false, nil
			}
		}
	}
	return true, nil
}

// waitCaughtUp polls caughtUp every 20 ms and returns the time it first saw
// the group caught up. done, if not nil, is polled too: an error from it
// (the worker died) ends the wait.
func (b *broker) waitCaughtUp(ctx context.Context, group string, names []string, timeout time.Duration, done func() error) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := b.caughtUp(cctx, group, names)
		cancel()
		if ok {
			return time.Now(), nil
		}
		if err != nil {
			lastErr = err
		}
		if done != nil {
			if err := done(); err != nil {
				return time.Time{}, err
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("group %s did not commit to the end of %v within %v (last error: %v)", group, names, timeout, lastErr)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backlog returns n events, alternating user.registered and account.linked
// (with a siteUID, so every other call carries a UIDSig), keyed by UID.
func backlog(t topics, prefix string, n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = event(t, prefix, i)
	}
	return msgs
}

func event(t topics, prefix string, i int) kafka.Message {
	uid := uidOf(prefix, i)
	ev := events.Event{EventID: prefix + "-" + strconv.Itoa(i), UID: uid}
	topic := t.reg
	if i%2 == 0 {
		ev.Type = events.UserRegistered
	} else {
		ev.Type, ev.SiteUID, ev.CID = events.AccountLinked, "customer-"+prefix+"-"+strconv.Itoa(i), "bench"
		topic = t.link
	}
	v, err := events.Encode(ev)
	if err != nil {
		panic(err) // fixed, valid events
	}
	return kafka.Message{Topic: topic, Key: []byte(uid), Value: v}
}

func uidOf(prefix string, i int) string { return "_gid_" + prefix + "_" + strconv.Itoa(i) }

// simulator is a gigyasim behind a real HTTP server on loopback, with a hook
// that records when calls arrive.
type simulator struct {
	sim *gigyasim.Server
	srv *http.Server
	url string

	first atomic.Int64 // unix nanos of the first API call, 0 none yet
	calls atomic.Int64

	track    bool // record each UID's first receipt
	mu       sync.Mutex
	receipts map[string]time.Time
}

func startSimulator(f gigyasim.Faults, track bool) (*simulator, error) {
	sim, err := gigyasim.New(gigyasim.Config{
		APIKey: benchAPIKey, UserKey: benchUserKey, Secret: benchSecret, PartnerSecret: benchPartner, Faults: f,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the simulator: %w", err)
	}
	s := &simulator{sim: sim, url: "http://" + ln.Addr().String(), track: track, receipts: map[string]time.Time{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return s, nil
}

func (s *simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.first.CompareAndSwap(0, now.UnixNano())
	s.calls.Add(1)
	s.sim.ServeHTTP(w, r)
	if s.track { // the simulator parsed the form into r.Form
		uid := r.Form.Get("UID")
		s.mu.Lock()
		if _, ok := s.receipts[uid]; !ok {
			s.receipts[uid] = now
		}
		s.mu.Unlock()
	}
}

func (s *simulator) firstCall() time.Time {
	n := s.first.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (s *simulator) receipt(uid string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.receipts[uid]
	return t, ok
}

// rateLimited is the number of 403048 answers.
func (s *simulator) rateLimited() int {
	n := 0
	for _, codes := range s.sim.Stats().Calls {
		n += codes["403048"]
	}
	return n
}

// apiCalls is the number of Gigya API calls answered, all methods.
func (s *simulator) apiCalls() int {
	n := 0
	for _, codes := range s.sim.Stats().Calls {
		for _, c := range codes {
			n += c
		}
	}
	return n
}

func (s *simulator) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
}

// client is the Gigya client the bench itself uses (HTTP ceiling, naive
// baseline): the same options the worker's run command builds.
func (s *simulator) client(auth gigya.AuthMode, maxConns int) (*gigya.Client, error) {
	return gigya.New(gigya.Options{
		APIKey: benchAPIKey, BaseURL: s.url, Auth: auth, UserKey: benchUserKey,
		Secret: benchSecret, PartnerSecret: benchPartner, MaxConns: maxConns,
	})
}
