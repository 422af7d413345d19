package worker

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkaread"
)

// missingWarnEvery is how often a missing topic is warned about.
const missingWarnEvery = time.Minute

// groupMember joins the consumer group with the consumed topics that exist.
// kafka-go's ConsumerGroup cannot live with a topic that does not exist (its
// partition watcher ends every generation at once, and the worker rejoined
// thousands of times a second), so the group is built only from existing
// topics, with kafka-go's watcher off, and a poller next to each group ends
// it when the set of topics or a partition count changes: the worker then
// rejoins, after a backoff, with a new group object.
type groupMember struct {
	w      *Worker
	topics *kafkaread.Topics
	bo     *backoff.ExponentialBackOff // between group objects and after join errors
	warned map[string]time.Time        // missing topic → last warning
}

// newBackOff is the rejoin backoff: 1s doubling to 30s, never giving up.
func newBackOff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval: time.Second, RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: 30 * time.Second,
		Stop: backoff.Stop, Clock: backoff.SystemClock,
	}
	b.Reset()
	return b
}

// run joins group after group until ctx ends.
func (m *groupMember) run(ctx context.Context) {
	var state kafkaread.TopicState
	for {
		state = m.await(ctx, state)
		if ctx.Err() != nil {
			return
		}
		began := time.Now()
		next := m.runGroup(ctx, state)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > 2*m.bo.MaxInterval {
			m.bo.Reset() // that group was no part of a rejoin loop
		}
		d := m.bo.NextBackOff()
		m.w.log.Info("consumed topics changed: rejoining the group", zap.Strings("existing", next.Existing()),
			zap.Strings("missing", next.Missing), zap.Duration("after", d))
		if sleep(ctx, d) != nil {
			return
		}
		state = next
	}
}

// await returns the topic state to join with: last if it has an existing
// topic, else the first state that has one, polling (and reporting) while
// none exists. It returns the zero state when ctx ends.
func (m *groupMember) await(ctx context.Context, last kafkaread.TopicState) kafkaread.TopicState {
	if len(last.Partitions) > 0 {
		return last
	}
	for {
		st, err := m.topics.Check(ctx)
		m.w.beat() // waiting for a topic (or for Kafka) is what the loop should do
		if err == nil {
			m.report(st)
			if len(st.Partitions) > 0 {
				return st
			}
		} else if ctx.Err() == nil {
			m.w.log.Warn("cannot list the consumed topics; retrying", zap.Error(err))
		}
		if sleep(ctx, m.topics.Interval()) != nil {
			return kafkaread.TopicState{}
		}
	}
}

// report sets regnotify_topic_missing and warns about each missing topic at
// most once a minute.
func (m *groupMember) report(st kafkaread.TopicState) {
	m.w.setTopics(st)
	now := m.w.now()
	for name := range st.Partitions {
		m.w.metrics.topicMissing.WithLabelValues(name).Set(0)
		delete(m.warned, name)
	}
	for _, name := range st.Missing {
		m.w.metrics.topicMissing.WithLabelValues(name).Set(1)
		if last, ok := m.warned[name]; ok && now.Sub(last) < missingWarnEvery {
			continue
		}
		m.warned[name] = now
		m.w.log.Warn("consumed topic does not exist: consuming the others, checking again",
			zap.String("topic", name), zap.Duration("every", m.topics.Interval()))
	}
}

// runGroup consumes state's existing topics with a new group object until
// ctx ends or the topics change; it returns the new state (zero when ctx
// ended).
func (m *groupMember) runGroup(ctx context.Context, state kafkaread.TopicState) kafkaread.TopicState {
	w := m.w
	group, err := kafka.NewConsumerGroup(w.groupConfig(state.Existing()))
	if err != nil { // validated in Run; a bug if it happens
		w.log.Error("consumer group", zap.Error(err))
		return state
	}
	leave := sync.OnceFunc(func() { go group.Close() })
	watchCtx, stopWatch := context.WithCancel(ctx)
	var next kafkaread.TopicState
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		next = m.watch(watchCtx, state)
		if watchCtx.Err() == nil {
			leave() // ends the generation: it drains as in a rebalance
		}
	}()
	w.consume(ctx, group, state, m.bo, leave)
	stopWatch()
	<-watched
	kafkaio.CloseBounded(w.log, "consumer group", group.Close, 10*time.Second)
	return next
}

// watch polls the topics until their state differs from last, reporting
// each poll, and returns the new state; zero when ctx ends.
func (m *groupMember) watch(ctx context.Context, last kafkaread.TopicState) kafkaread.TopicState {
	tick := time.NewTicker(m.topics.Interval())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return kafkaread.TopicState{}
		case <-tick.C:
		}
		st, err := m.topics.Check(ctx)
		if err != nil {
			continue // Kafka unreachable: the group notices it too
		}
		m.report(st)
		if !st.Equal(last) {
			return st
		}
	}
}

// join waits for the group's next generation until there is one, ctx ends
// (ctx.Err()) or the group is closed (kafka.ErrGroupClosed). A failed join
// is logged once per distinct reason and followed by a backoff: kafka-go's
// group retries only once its error has been taken, so this paces it. Only
// waiting for the coordinator, or for Kafka to be reachable, counts as a
// turn of the loop (/healthz): a worker whose joins a reachable coordinator
// keeps failing, or whose generations keep ending at once, is stuck.
func (w *Worker) join(ctx context.Context, group *kafka.ConsumerGroup, bo backoff.BackOff) (*kafka.Generation, error) {
	var lastErr string
	for {
		nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		gen, err := group.Next(nctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err == nil:
			w.metrics.groupJoins.WithLabelValues("ok").Inc()
			return gen, nil
		case errors.Is(err, context.DeadlineExceeded):
			w.beat()
			continue
		case errors.Is(err, kafka.ErrGroupClosed):
			return nil, err
		}
		w.metrics.groupJoins.WithLabelValues("error").Inc()
		var ne net.Error
		if errors.As(err, &ne) {
			// Kafka unreachable: /readyz says so; restarting the
			// process would not bring Kafka back.
			w.beat()
		}
		if msg := err.Error(); msg != lastErr {
			w.log.Warn("consumer group: cannot join yet, retrying", zap.Error(err))
			lastErr = msg
		}
		if err := sleep(ctx, bo.NextBackOff()); err != nil {
			return nil, err
		}
	}
}

// setTopics records the last topic state seen.
func (w *Worker) setTopics(st kafkaread.TopicState) {
	w.topicsMu.Lock()
	w.topicState = st
	w.topicsMu.Unlock()
}

// TopicState is the last state of the consumed topics the worker saw:
// the partition count of each existing one, and the missing ones. The zero
// state until the first check.
func (w *Worker) TopicState() kafkaread.TopicState {
	w.topicsMu.Lock()
	defer w.topicsMu.Unlock()
	return w.topicState
}
