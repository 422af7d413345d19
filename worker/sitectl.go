package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/worker/status"
)

// PauseSite pauses (paused) or resumes an operator pause of the named
// site: a paused site's events wait, holding no concurrency slot, and are
// neither dead-lettered nor charged against their retry budget. An unknown
// site is an error.
func (w *Worker) PauseSite(name string, paused bool) error {
	s := w.siteByName(name)
	if s == nil {
		return fmt.Errorf("pause site: no site %q", name)
	}
	s.health.pause(paused)
	return nil
}

// SiteChanged tells the worker that the named site's credentials changed
// (a secret file was rewritten): a misconfigured site is probed at once
// and resumes when the probe succeeds. An unknown name is ignored.
func (w *Worker) SiteChanged(name string) {
	if s := w.siteByName(name); s != nil {
		s.health.probe()
	}
}

func (w *Worker) siteByName(name string) *site {
	for _, s := range w.sites {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Status returns a snapshot of the worker's state for the admin API.
func (w *Worker) Status() status.Doc {
	d := status.Doc{
		Sites:            make([]status.Site, 0, len(w.sites)),
		Partitions:       []status.Partition{},
		DeadLetterWriter: status.DeadLetterWriter{Failing: w.dlqFails.Load() > 0},
		Events:           make(map[string]int64),
	}
	for _, s := range w.sites {
		state, _ := s.health.current()
		d.Sites = append(d.Sites, status.Site{Name: s.name, State: state, RateLimit: w.budgets.rate(s.name), Inflight: int(s.inflight.Load())})
	}
	live, bulk := w.budgets.slots.InUse()
	n, bulkLimit := w.budgets.slots.Limits()
	d.Lanes = []status.Lane{{Name: LaneLive, Inflight: live, Limit: n}, {Name: LaneBulk, Inflight: bulk, Limit: bulkLimit}}
	if g := w.gen.Load(); g != nil {
		d.Partitions = g.status()
	}
	for outcome, n := range w.metrics.Snapshot().Events {
		d.Events[outcome] = int64(n)
	}
	return d
}

// runProbes runs one prober per site until ctx ends.
func (w *Worker) runProbes(ctx context.Context) {
	done := make(chan struct{}, len(w.sites))
	for _, s := range w.sites {
		go func() {
			defer func() { done <- struct{}{} }()
			w.probeLoop(ctx, s)
		}()
	}
	for range w.sites {
		<-done
	}
}

// probeLoop probes s while it is in outage (with its own exponential
// backoff, RetryInitial doubling up to 5s) or misconfigured (every
// SiteProbeInterval, and at once on SiteChanged), until ctx ends.
func (w *Worker) probeLoop(ctx context.Context, s *site) {
	outageMax := min(w.cfg.RetryMaxInterval, 5*time.Second)
	delay := w.cfg.RetryInitial
	for {
		state, _ := s.health.current()
		var wait <-chan time.Time
		switch state {
		case StateOutage:
			wait = time.After(delay)
			delay = min(2*delay, outageMax)
		case StateMisconfigured:
			wait = time.After(w.cfg.SiteProbeInterval)
		default:
			delay = w.cfg.RetryInitial
		}
		select {
		case <-ctx.Done():
			return
		case <-s.health.wake:
			continue // a new state: a new timer
		case <-s.health.probeNow:
		case <-wait:
		}
		if state, _ := s.health.current(); state == StateOutage || state == StateMisconfigured {
			w.probe(ctx, s)
		}
	}
}

// probe asks the site's Gigya about a random UID no account has. 403005
// (or any answer about the user) means the site's credentials work: it is
// neither misconfigured nor in outage. The same or another site-wide code
// keeps it misconfigured; an outage-kind failure changes nothing.
func (w *Worker) probe(ctx context.Context, s *site) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := s.gigya.GetUserInfo(pctx, probeUID())
	if ctx.Err() != nil {
		return
	}
	d := Decide(err)
	switch {
	case err == nil:
	case d.Kind == KindSiteWide:
		s.health.misconfigure(siteCode(err))
		return
	case d.Kind == KindWrongDataCenter:
		before := s.currentDomain()
		if now := w.followDataCenter(s, err); now != "" && now != before {
			s.health.probe() // probe the new data center at once
		} else {
			// Cannot follow, or already there and still told to move.
			s.health.misconfigure(siteCode(err))
		}
		return
	case d.Health != HealthUp:
		return
	}
	s.health.misconfigure(0)
	s.health.endOutage()
}

// probeUID is a UID no account has.
func probeUID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "regnotify-probe-" + hex.EncodeToString(b[:])
}

func siteCode(err error) int {
	var ge *gigya.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// followDataCenter follows a 301001 answer: the site's client moves to the
// answer's apiDomain, with one warning per domain to fix dataCenter. It
// returns the domain the site's calls now go to, or "" when it cannot
// follow (no apiDomain, or a client that cannot move).
func (w *Worker) followDataCenter(s *site, err error) string {
	var ge *gigya.Error
	if !errors.As(err, &ge) || ge.APIDomain == "" {
		return ""
	}
	u, ok := s.gigya.(apiDomainUser)
	if !ok {
		return ""
	}
	s.domainMu.Lock()
	defer s.domainMu.Unlock()
	if s.current == ge.APIDomain {
		return ge.APIDomain // another event followed it already
	}
	if uerr := u.UseAPIDomain(ge.APIDomain); uerr != nil {
		w.log.Error("cannot follow Gigya's apiDomain", zap.String("site", s.name), zap.String("apiDomain", ge.APIDomain), zap.Error(uerr))
		return ""
	}
	if !s.followed[ge.APIDomain] {
		s.followed[ge.APIDomain] = true
		w.log.Warn("Gigya says the site lives in another data center: following its apiDomain; fix the site's dataCenter",
			zap.String("site", s.name), zap.String("apiDomain", ge.APIDomain), zap.String("check", gigya.CodeSetting(301001)))
	}
	s.current = ge.APIDomain
	return ge.APIDomain
}

// currentDomain is the apiDomain the site follows, "" for its own.
func (s *site) currentDomain() string {
	s.domainMu.Lock()
	defer s.domainMu.Unlock()
	return s.current
}
