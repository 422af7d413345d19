package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"golang.org/x/term"
)

// progress is what a long-running command reports while it runs.
type progress struct {
	// cur and total: how far, out of how much (-1 when unknown).
	cur, total int64
	// desc is the bar's text (counts, rate).
	desc string
	// fields are the log line's fields.
	fields []zap.Field
}

// progressOptions say how to show progress.
type progressOptions struct {
	unit  string // what cur counts: "records", or "bytes" for a byte bar
	every time.Duration
	poll  func() progress
}

// showProgress shows a progress bar on stderr when stderr is a terminal, else
// a log line every opts.every. It returns a function that stops it and
// waits for its goroutine.
func showProgress(e *env, log *zap.Logger, opts progressOptions) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	f, isFile := e.stderr.(*os.File)
	if isFile && term.IsTerminal(int(f.Fd())) {
		bopts := []progressbar.Option{
			progressbar.OptionSetWriter(e.stderr), progressbar.OptionThrottle(200 * time.Millisecond),
			progressbar.OptionSetSpinnerChangeInterval(0), progressbar.OptionFullWidth(),
			progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionSetPredictTime(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }),
		}
		if opts.unit == "bytes" {
			bopts = append(bopts, progressbar.OptionShowBytes(true))
		} else {
			bopts = append(bopts, progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString(opts.unit))
		}
		bar := progressbar.NewOptions64(-1, bopts...)
		maxSet := false
		update := func() {
			p := opts.poll()
			if !maxSet && p.total >= 0 {
				bar.ChangeMax64(max(p.total, 1))
				maxSet = true
			}
			bar.Describe(p.desc)
			_ = bar.Set64(p.cur)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					update()
					_ = bar.Finish()
					return
				case <-t.C:
					update()
				}
			}
		}()
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(opts.every)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					log.Info("progress", opts.poll().fields...)
				}
			}
		}()
	}
	return func() {
		close(done)
		wg.Wait()
	}
}
