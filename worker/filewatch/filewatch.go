// Package filewatch re-reads small files, such as secrets and keys, when
// their content changes, so that rotating a credential needs no restart.
//
// It polls: every interval it opens each file by its path and compares a
// SHA-256 of the content with the last one it delivered. Opening by path
// follows symlinks anew each time, which is what catches the way Kubernetes
// updates a mounted Secret: the kubelet writes a new timestamped directory,
// points a fresh `..data_tmp` symlink at it and renames that over `..data`;
// the file the pod sees (`key` → `..data/key`) is never written. An inotify
// watch (fsnotify) on the file sees none of that, since the file's own inode
// never changes, and a watch on the directory has to understand the swap
// and re-arm itself; inotify also misses changes on NFS and FUSE mounts.
// Polling a handful of files is a few stat+read calls per interval, works on
// every filesystem, and its latency (the interval) is below the kubelet's own
// sync period. The content, not size and mtime, decides: a same-size rewrite
// within the filesystem's mtime granularity is still seen. A new content is
// delivered once two consecutive checks read it, so a file caught in the
// middle of an in-place rewrite (truncated, half written) is not delivered.
//
// It is NOT a general file watcher: files are read whole (at most MaxSize
// bytes), callbacks run on the watcher's goroutine one at a time, and it
// neither parses nor validates what it reads; the caller does.
package filewatch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// MaxSize is the largest file the watcher reads; a larger file is an error.
const MaxSize = 1 << 20

// Options configures a Watcher.
type Options struct {
	// Interval between checks while Run runs; required, > 0.
	Interval time.Duration
	// OnChange is called with a file's path (as given to Add) and its new
	// content when the content differs from what Add returned or OnChange
	// last delivered, and two consecutive checks read it (so a change is
	// delivered one to two intervals after it is made). Required. The
	// watcher does not judge content: the caller should keep its previous
	// value when the new one is empty or malformed. It runs on the watcher's goroutine: it must
	// not block for long, nor call Add or Check (they wait for it).
	OnChange func(path string, content []byte)
	// OnError, if set, is called once when a file becomes unreadable
	// (removed, permission, too large); the last content stays in force and
	// OnChange follows when the file is readable again with a new content.
	// The error names the path and never holds the content.
	OnError func(path string, err error)
}

// Watcher watches a set of files. Add files, then Run it; Add and Check are
// safe to call while Run runs.
type Watcher struct {
	opts Options

	check sync.Mutex // one check at a time, so callbacks stay in order
	mu    sync.Mutex // guards files
	files map[string]*state
}

type state struct {
	sum     [sha256.Size]byte // of the content last delivered
	pending [sha256.Size]byte // of a new content seen once, not yet delivered
	failed  bool              // the last check could not read the file
}

// New returns a Watcher with no files.
func New(opts Options) (*Watcher, error) {
	if opts.Interval <= 0 {
		return nil, errors.New("filewatch: Interval must be > 0")
	}
	if opts.OnChange == nil {
		return nil, errors.New("filewatch: OnChange is required")
	}
	return &Watcher{opts: opts, files: map[string]*state{}}, nil
}

// Add reads the file at path, starts watching it and returns its content:
// the caller uses it as the initial value, and hears of every later change
// through OnChange. Its error names the path (MaxSize is the limit). Adding a watched path again re-reads it and returns the
// content without a callback.
func (w *Watcher) Add(path string) ([]byte, error) {
	w.check.Lock() // not in the middle of a check, which could deliver older content
	defer w.check.Unlock()
	content, err := read(path)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.files[path] = &state{sum: sha256.Sum256(content)}
	w.mu.Unlock()
	return content, nil
}

// Run checks every file each Interval until ctx ends, then returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.Check()
		}
	}
}

// Check checks every file once, now, calling OnChange and OnError as Run
// would (a new content is delivered by the second check that reads it). Run calls it every Interval; tests and a reload signal may call it
// directly.
func (w *Watcher) Check() {
	w.check.Lock()
	defer w.check.Unlock()
	w.mu.Lock()
	paths := make([]string, 0, len(w.files))
	for p := range w.files {
		paths = append(paths, p)
	}
	w.mu.Unlock()
	for _, p := range paths {
		w.checkOne(p)
	}
}

func (w *Watcher) checkOne(path string) {
	content, err := read(path)
	w.mu.Lock()
	st, ok := w.files[path]
	if !ok {
		w.mu.Unlock()
		return
	}
	var changed, failedNow bool
	if err != nil {
		failedNow = !st.failed
		st.failed = true
	} else {
		st.failed = false
		switch sum := sha256.Sum256(content); {
		case sum == st.sum:
			st.pending = st.sum
		case sum == st.pending:
			st.sum, changed = sum, true
		default:
			st.pending = sum // deliver it if the next check reads it again
		}
	}
	w.mu.Unlock()
	switch {
	case failedNow && w.opts.OnError != nil:
		w.opts.OnError(path, err)
	case changed:
		w.opts.OnChange(path, content)
	}
}

// read reads path whole, refusing more than MaxSize bytes.
func read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("filewatch: %w", err)
	}
	defer f.Close()
	var b bytes.Buffer
	n, err := io.Copy(&b, io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("filewatch: read %s: %w", path, err)
	}
	if n > MaxSize {
		return nil, fmt.Errorf("filewatch: %s is larger than %d bytes", path, MaxSize)
	}
	return b.Bytes(), nil
}
