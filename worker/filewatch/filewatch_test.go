package filewatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder collects callbacks.
type recorder struct {
	mu      sync.Mutex
	changes []string // "path=content"
	errs    []string // paths
	seen    chan struct{}
}

func newRecorder() *recorder { return &recorder{seen: make(chan struct{}, 100)} }

func (r *recorder) options(interval time.Duration) Options {
	return Options{
		Interval: interval,
		OnChange: func(path string, content []byte) {
			r.mu.Lock()
			r.changes = append(r.changes, path+"="+string(content))
			r.mu.Unlock()
			r.seen <- struct{}{}
		},
		OnError: func(path string, err error) {
			r.mu.Lock()
			r.errs = append(r.errs, path)
			r.mu.Unlock()
		},
	}
}

func (r *recorder) take() (changes, errs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changes, errs = r.changes, r.errs
	r.changes, r.errs = nil, nil
	return changes, errs
}

func newWatcher(t *testing.T, r *recorder, paths ...string) *Watcher {
	t.Helper()
	w, err := New(r.options(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, err := w.Add(p); err != nil {
			t.Fatalf("Add(%s): %v", p, err)
		}
	}
	return w
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// expect runs two Checks (a change is delivered by the second check that
// reads it) and compares the callbacks with want.
func expect(t *testing.T, w *Watcher, r *recorder, step string, wantChanges, wantErrs []string) {
	t.Helper()
	w.Check()
	w.Check()
	changes, errs := r.take()
	if fmt.Sprint(changes) != fmt.Sprint(wantChanges) || fmt.Sprint(errs) != fmt.Sprint(wantErrs) {
		t.Errorf("%s: OnChange %q, OnError %q; want %q, %q", step, changes, errs, wantChanges, wantErrs)
	}
}

func TestAddReturnsContent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	write(t, p, "one")
	w, err := New(newRecorder().options(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.Add(p)
	if err != nil || string(got) != "one" {
		t.Fatalf("Add = %q, %v; want \"one\", nil", got, err)
	}
	if _, err := w.Add(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Add(missing) error %v; want os.ErrNotExist", err)
	}
	big := filepath.Join(dir, "big")
	write(t, big, string(make([]byte, MaxSize+1)))
	if _, err := w.Add(big); err == nil {
		t.Errorf("Add(a file of MaxSize+1 bytes) succeeded; want an error")
	}
}

func TestRewriteInPlace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	write(t, p, "one")
	r := newRecorder()
	w := newWatcher(t, r, p)
	expect(t, w, r, "unchanged", nil, nil)
	write(t, p, "two")
	expect(t, w, r, "rewritten", []string{p + "=two"}, nil)
	expect(t, w, r, "unchanged after the rewrite", nil, nil)
	write(t, p, "tw0") // same size, likely the same mtime tick: content decides
	expect(t, w, r, "same-size rewrite", []string{p + "=tw0"}, nil)
	write(t, p, "tw0")
	expect(t, w, r, "rewritten with the same content", nil, nil)
}

// kubelet reproduces the kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go):
// files live in a timestamped directory, `..data` points at it, and each
// visible name is a symlink through `..data`.
type kubelet struct {
	t   *testing.T
	dir string
	n   int
	cur string
}

func (k *kubelet) publish(files map[string]string) {
	k.t.Helper()
	k.n++
	ts := fmt.Sprintf("..2026_12_01_20_%02d_00.%09d", k.n, k.n)
	if err := os.Mkdir(filepath.Join(k.dir, ts), 0o755); err != nil {
		k.t.Fatal(err)
	}
	for name, content := range files {
		write(k.t, filepath.Join(k.dir, ts, name), content)
	}
	tmp := filepath.Join(k.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		k.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(k.dir, "..data")); err != nil {
		k.t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(k.dir, name)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				k.t.Fatal(err)
			}
		}
	}
	if k.cur != "" {
		if err := os.RemoveAll(filepath.Join(k.dir, k.cur)); err != nil {
			k.t.Fatal(err)
		}
	}
	k.cur = ts
}

func TestKubernetesSecretSwap(t *testing.T) {
	k := &kubelet{t: t, dir: t.TempDir()}
	k.publish(map[string]string{"secret": "v1", "partner": "p1"})
	secret, partner := filepath.Join(k.dir, "secret"), filepath.Join(k.dir, "partner")
	r := newRecorder()
	w := newWatcher(t, r, secret, partner)
	expect(t, w, r, "unchanged", nil, nil)
	k.publish(map[string]string{"secret": "v2", "partner": "p1"})
	expect(t, w, r, "secret rotated by the ..data swap", []string{secret + "=v2"}, nil)
	k.publish(map[string]string{"secret": "v2", "partner": "p1"})
	expect(t, w, r, "swap with the same content", nil, nil)
	k.publish(map[string]string{"secret": "v2", "partner": "p2"})
	expect(t, w, r, "partner secret rotated", []string{partner + "=p2"}, nil)
}

// TestHalfWrittenNotDelivered: a content read by one check only (a file
// caught mid-rewrite) is not delivered; the settled one is.
func TestHalfWrittenNotDelivered(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	write(t, p, "one")
	r := newRecorder()
	w := newWatcher(t, r, p)
	write(t, p, "")
	w.Check()
	write(t, p, "two")
	expect(t, w, r, "truncated, then written", []string{p + "=two"}, nil)
	write(t, p, "")
	w.Check()
	write(t, p, "two")
	expect(t, w, r, "truncated, then the same content again", nil, nil)
}

func TestRemovedThenRestored(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	write(t, p, "one")
	r := newRecorder()
	w := newWatcher(t, r, p)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	expect(t, w, r, "removed", nil, []string{p})
	expect(t, w, r, "still removed: no second OnError", nil, nil)
	write(t, p, "one")
	expect(t, w, r, "restored with the same content", nil, nil)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	expect(t, w, r, "removed again", nil, []string{p})
	write(t, p, "two")
	expect(t, w, r, "restored with a new content", []string{p + "=two"}, nil)
}

// TestRun: Run notices a change by itself and returns when ctx ends
// (goleak in TestMain checks that nothing is left running).
func TestRun(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	write(t, p, "one")
	r := newRecorder()
	w, err := New(r.options(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add(p); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	write(t, p, "two")
	select {
	case <-r.seen:
	case <-time.After(30 * time.Second): // failure guard only
		t.Fatal("Run did not report the rewrite within 30s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v; want nil after ctx ends", err)
	}
	if changes, _ := r.take(); fmt.Sprint(changes) != fmt.Sprint([]string{p + "=two"}) {
		t.Errorf("OnChange calls %q; want exactly one for the rewrite", changes)
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New(Options{Interval: time.Second}); err == nil {
		t.Error("New without OnChange succeeded")
	}
	if _, err := New(Options{OnChange: func(string, []byte) {}}); err == nil {
		t.Error("New without Interval succeeded")
	}
}
