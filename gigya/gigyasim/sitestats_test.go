package gigyasim

import (
	"testing"
	"time"
)

// TestSiteCallsPerSecond checks the recent-rate window on the simulator's
// (fake) clock: calls count for RateWindow, then drop out.
func TestSiteCallsPerSecond(t *testing.T) {
	env := newEnv(t, nil)
	steps := []struct {
		calls   int
		advance time.Duration // before the calls
		want    float64
	}{
		{10, 0, 10 / RateWindow.Seconds()},
		{5, 2 * time.Second, 15 / RateWindow.Seconds()},
		{0, RateWindow - time.Second, 5 / RateWindow.Seconds()}, // the first 10 left the window
		{0, RateWindow, 0},
	}
	for i, st := range steps {
		env.clock.Add(st.advance)
		for range st.calls {
			env.notify(t, "u1", okSecret)
		}
		got, _ := env.sim.SiteStats(DefaultSiteName)
		if got.CallsPerSecond != st.want {
			t.Errorf("step %d: callsPerSecond = %g, want %g", i, got.CallsPerSecond, st.want)
		}
	}
	if got, _ := env.sim.SiteStats(DefaultSiteName); got.Total != 15 || got.OK != 15 {
		t.Errorf("total %d ok %d, want 15, 15", got.Total, got.OK)
	}
	env.sim.Reset()
	if got, _ := env.sim.SiteStats(DefaultSiteName); got.Total != 0 || len(got.Calls) != 0 {
		t.Errorf("after Reset: %+v, want no calls", got)
	}
	if _, ok := env.sim.SiteStats("nope"); ok {
		t.Errorf("SiteStats of an unknown site: ok")
	}
}
