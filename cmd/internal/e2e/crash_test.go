package e2e_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/regnotify/regnotify/cmd/internal/e2e"
	"github.com/regnotify/regnotify/gigya/gigyasim"
)

// TestCrash kills the worker with SIGKILL at random moments (by progress)
// at least five times, restarting it each time, and checks from the
// simulator's state and the dead-letter topic that every event ended:
// notified, already done, or dead-lettered with a reason, none falsely.
func TestCrash(t *testing.T) {
	n, users, kills := 20000, 1000, 5
	if testing.Short() {
		n, users, kills = 4000, 200, 3
	}
	w := newWorld(t, e2e.EnvConfig{})
	w.produce(w.workload(n, users, 1)...)
	l := w.readLedger(w.Topics()...)
	if len(l.byID) != n {
		t.Fatalf("ledger has %d events, want %d", len(l.byID), n)
	}

	// Each process is killed at a random moment 0.2 s to 2.2 s after it
	// joined the group: unrelated to its 1 s commit ticks, so some kills
	// come before its first commit and some after several. A rate limit of
	// 2,000 calls/s spreads the work over about 10 s of joined time so that
	// all kills land mid-stream.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	notifyCalls := func() int {
		total := 0
		for _, c := range simCodes(w.Sim, gigyasim.MethodNotifyRegistration) {
			total += c
		}
		return total
	}
	opts := e2e.WorkerOptions{Concurrency: 64, RateLimit: 2000}
	if testing.Short() {
		opts.RateLimit = 800
	}
	// Stratified: one delay in each of kills equal slices of the range, in
	// random order, so that chance cannot put every kill before the first
	// commit.
	delays := make([]time.Duration, kills)
	for i := range delays {
		delays[i] = 200*time.Millisecond + time.Duration((float64(i)+rng.Float64())/float64(kills)*float64(2*time.Second))
	}
	rng.Shuffle(len(delays), func(i, j int) { delays[i], delays[j] = delays[j], delays[i] })
	p := w.start(opts)
	for i := range kills {
		time.Sleep(delays[i])
		if _, err := w.scrape(p); err != nil {
			t.Logf("scrape before kill %d: %v", i+1, err)
		}
		st, err := p.Kill()
		if err != nil {
			t.Fatal(err)
		}
		if st.Signal != "killed" {
			t.Fatalf("kill %d: worker ended with %+v, want killed by SIGKILL", i+1, st)
		}
		if done, _ := w.CaughtUp(w.ctx); done {
			t.Fatalf("kill %d came after the work was done: scale the load up", i+1)
		}
		t.Logf("kill %d at %d notify calls, %d records committed: pid %d ran %v", i+1, notifyCalls(), committed(w), p.Pid(), st.Duration.Round(time.Millisecond))
		p = w.start(opts) // the join waits for the killed member's session (10 s) to expire
	}
	w.waitCaughtUp(3 * time.Minute)
	st, err := p.Stop(30 * time.Second)
	if err != nil || st.Code != 0 {
		t.Errorf("final SIGTERM: exit %+v, %v; want code 0", st, err)
	}

	r := w.account(l)
	w.requireNothingLost(r)
	for u := range users {
		if u%2 == 1 {
			if got := linkedTo(w.Sim, siteOf(u)); got != uidOf(u) {
				t.Errorf("simulator: %s linked to %q, want %s", siteOf(u), got, uidOf(u))
			}
		}
	}
	if got, want := w.Sim.Stats().Registered, users; got != want {
		t.Errorf("simulator: %d accounts registered, want %d", got, want)
	}
	t.Logf("crash: %d events, %d users, %d SIGKILLs: lost %d, duplicates %d (%d events), false dead letters %d",
		n, users, kills, len(r.lost), r.duplicates, r.redelivered, r.deadLettered)
	w.checkNoSecrets()
}

// committed is the number of records below the group's committed offsets.
func committed(w *world) int64 {
	var n int64
	for _, tp := range w.Topics() {
		com, err := w.Committed(w.ctx, tp)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, o := range com {
			n += max(0, o)
		}
	}
	return n
}
