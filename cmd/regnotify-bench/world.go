package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/cmd/internal/e2e"
	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
)

// benchCredentials are the simulator's and the worker's keys. They exist
// only in this process and its child.
var benchCredentials = e2e.Credentials{
	APIKey:        "3_regnotify-bench",
	UserKey:       "regnotify-bench-user-key",
	Secret:        base64.StdEncoding.EncodeToString([]byte("regnotify-bench-app-secret")),
	PartnerSecret: base64.StdEncoding.EncodeToString([]byte("regnotify-bench-partner-secret")),
}

// newEnv is one scenario's world (cmd/internal/e2e): an in-process broker with the
// topics (kafkatest's partition count), the simulator with faults f on a
// loopback HTTP server, a fresh consumer group.
func newEnv(ctx context.Context, f gigyasim.Faults) (*e2e.Env, func(), error) {
	dir, err := os.MkdirTemp("", "regnotify-bench-env-")
	if err != nil {
		return nil, nil, err
	}
	env, err := e2e.NewEnv(ctx, e2e.EnvConfig{Dir: dir, Credentials: benchCredentials, Sim: gigyasim.Config{Faults: f}})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return env, func() { env.Close(); os.RemoveAll(dir) }, nil
}

// backlog returns n events, alternating user.registered and account.linked
// (with a siteUID, so every other call carries a UIDSig), keyed by UID.
func backlog(env *e2e.Env, prefix string, n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = event(env, prefix, i)
	}
	return msgs
}

func event(env *e2e.Env, prefix string, i int) kafka.Message {
	uid := uidOf(prefix, i)
	ev := events.Event{EventID: prefix + "-" + strconv.Itoa(i), UID: uid}
	topic := env.RegisteredTopic
	if i%2 == 0 {
		ev.Type = events.UserRegistered
	} else {
		ev.Type, ev.SiteUID, ev.CID = events.AccountLinked, "customer-"+prefix+"-"+strconv.Itoa(i), "bench"
		topic = env.LinkedTopic
	}
	v, err := events.Encode(ev)
	if err != nil {
		panic(err) // fixed, valid events
	}
	return kafka.Message{Topic: topic, Key: []byte(uid), Value: v}
}

func uidOf(prefix string, i int) string { return "_gid_" + prefix + "_" + strconv.Itoa(i) }

// produce writes msgs in chunks, acks=all.
func produce(ctx context.Context, env *e2e.Env, msgs []kafka.Message) error {
	for len(msgs) > 0 {
		n := min(len(msgs), 10000)
		if err := env.Produce(ctx, msgs[:n]...); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		msgs = msgs[n:]
	}
	return nil
}

// waitCaughtUp polls every 20 ms until the group's committed offsets cover
// every partition of the consumed topics, and returns when it first saw
// that. alive, if not nil, is checked too: an error from it (the worker
// exited) ends the wait.
func waitCaughtUp(ctx context.Context, env *e2e.Env, timeout time.Duration, alive func() error) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := env.CaughtUp(cctx)
		cancel()
		if ok {
			return time.Now(), nil
		}
		if err != nil {
			lastErr = err
		}
		if alive != nil {
			if err := alive(); err != nil {
				return time.Time{}, err
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("group did not commit to the end of %v within %v (last error: %v)", env.Topics(), timeout, lastErr)
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

// firstReceipt is when the simulator received the first call for any of the
// events prefix-0 … prefix-(n-1) (the simulator records every call).
func firstReceipt(env *e2e.Env, prefix string, n int) time.Time {
	var first time.Time
	for i := range n {
		for _, c := range env.Sim.Calls(uidOf(prefix, i)) {
			if first.IsZero() || c.At.Before(first) {
				first = c.At
			}
		}
	}
	return first
}

// receipt is when the simulator first received a call for the event.
func receipt(env *e2e.Env, prefix string, i int) (time.Time, bool) {
	calls := env.Sim.Calls(uidOf(prefix, i))
	if len(calls) == 0 {
		return time.Time{}, false
	}
	return calls[0].At, true
}

// simCounts returns the API calls the simulator answered (all methods) and
// how many of them were 403048.
func simCounts(env *e2e.Env) (calls, rateLimited int) {
	for _, codes := range env.Sim.Stats().Calls {
		for code, n := range codes {
			calls += n
			if code == "403048" {
				rateLimited += n
			}
		}
	}
	return calls, rateLimited
}

// client is the Gigya client the bench itself uses (HTTP ceiling, naive
// baseline): the options the run command builds.
func client(env *e2e.Env, auth string, maxConns int) (*gigya.Client, error) {
	c := env.Credentials
	return gigya.New(gigya.Options{
		APIKey: c.APIKey, BaseURL: env.SimURL, Auth: gigya.AuthMode(auth), UserKey: c.UserKey,
		Secret: c.Secret, PartnerSecret: c.PartnerSecret, MaxConns: maxConns,
	})
}
