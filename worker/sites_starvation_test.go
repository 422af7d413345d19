package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/wait"
)

// Sites in outage never take every runner: fetchers that were waiting for a
// slot when their site stopped being ok used to take the event anyway, so a
// down site's waiting events grew past its share until no runner was left
// and a healthy site's events held slots that never ran (found in review).
func TestDownSitesDoNotStarveAHealthyOne(t *testing.T) {
	for _, tc := range []struct {
		name string
		down []string
	}{
		{"one flapping site", []string{"a"}},
		{"four sites down", []string{"a", "b", "c", "e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := newSitesWorld(t, worldOptions{names: append([]string{"d"}, tc.down...)})
			sw.cfg.Concurrency = 2
			sw.cfg.OutageThreshold, sw.cfg.OutageMinUsers = 1, 1
			sw.cfg.RetryInitial = 200 * time.Millisecond
			sw.cfg.RetryMaxInterval = 400 * time.Millisecond
			for _, n := range tc.down {
				if err := sw.sim.SetSiteFaults(n, gigyasim.SiteFaults{Outage: gigyasim.OutageError}); err != nil {
					t.Fatal(err)
				}
			}
			r := sw.start(t, sw.cfg)
			for _, n := range tc.down {
				var msgs []kafka.Message
				for i := range 30 / len(tc.down) {
					msgs = append(msgs, regRecord(t, sw.sites[n].topic, fmt.Sprintf("%s-%d", n, i), fmt.Sprintf("_gid_%s_%d", n, i)))
				}
				sw.kc.Produce(t, msgs...)
				wait.Eventually(t, 15*time.Second, "site "+n+" in outage", func() bool {
					return siteState(r.metrics, n, worker.StateOutage) == 1
				})
			}
			// A few probe/reopen cycles of the down sites, in which their
			// fetchers keep offering events.
			time.Sleep(3 * time.Second)
			d := sw.sites["d"]
			var msgs []kafka.Message
			for i := range 5 {
				msgs = append(msgs, regRecord(t, d.topic, fmt.Sprintf("d-%d", i), fmt.Sprintf("_gid_d_%d", i)))
			}
			sw.kc.Produce(t, msgs...)
			wait.Eventually(t, 15*time.Second, "healthy site d's events notified", func() bool {
				return siteOutcome(r.metrics, "d", d.topic, worker.OutcomeNotified) == 5
			})
		})
	}
}
