package worker

import (
	"fmt"

	"github.com/regnotify/regnotify/worker/status"
)

// PauseSite pauses (paused) or resumes an operator pause of the named
// site: a paused site's events wait, holding no concurrency slot, and are
// neither dead-lettered nor charged against their retry budget. An unknown
// site is an error.
func (w *Worker) PauseSite(name string, paused bool) error {
	return fmt.Errorf("pause site %q: not implemented yet", name)
}

// SiteChanged tells the worker that the named site's credentials changed
// (a secret file was rewritten): a misconfigured site is probed at once
// and resumes when the probe succeeds. An unknown name is ignored.
func (w *Worker) SiteChanged(name string) {}

// Status returns a snapshot of the worker's state for the admin API.
func (w *Worker) Status() status.Doc {
	return status.Doc{}
}
