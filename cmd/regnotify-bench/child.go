package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildWorker compiles ./cmd/regnotify into dir and returns the binary's
// path. The bench runs the same binary users run, built the way make build
// builds it (trimpath, stripped).
func buildWorker(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "regnotify")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/regnotify/regnotify/cmd/regnotify")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build regnotify: %w\n%s", err, out.String())
	}
	return bin, nil
}

// workerOpts are the settings of one `regnotify run` child.
type workerOpts struct {
	brokers     []string
	group       string
	topics      topics
	simURL      string
	auth        string
	concurrency int
	rateLimit   float64
	extraArgs   []string // e.g. a pprof flag
}

// child is a running `regnotify run` process.
type child struct {
	cmd      *exec.Cmd
	httpAddr string
	stderr   *syncBuffer
	exited   chan struct{}
	err      error // Wait's result, set before exited closes
}

// startWorker starts `regnotify run` with o, configured the way an operator
// would: flags for the settings, environment variables for the secrets.
func startWorker(ctx context.Context, bin string, o workerOpts) (*child, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"run",
		"--brokers", strings.Join(o.brokers, ","),
		"--group", o.group,
		"--topics", strings.Join(o.topics.consumed(), ","),
		"--dlq-topic", o.topics.dlq,
		"--concurrency", strconv.Itoa(o.concurrency),
		"--rate-limit", strconv.FormatFloat(o.rateLimit, 'f', -1, 64),
		"--gigya-base-url", o.simURL,
		"--gigya-auth", o.auth,
		"--http-addr", httpAddr,
		"--shutdown-timeout", "10s",
	}
	args = append(args, o.extraArgs...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"GIGYA_API_KEY="+benchAPIKey,
		"GIGYA_USER_KEY="+benchUserKey,
		"GIGYA_SECRET="+benchSecret,
		"GIGYA_PARTNER_SECRET="+benchPartner,
	)
	c := &child{cmd: cmd, httpAddr: httpAddr, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.stderr, c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start regnotify run: %w", err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// alive returns an error once the child has exited.
func (c *child) alive() error {
	select {
	case <-c.exited:
		return fmt.Errorf("regnotify run exited early: %v\n%s", c.err, c.stderr.tail(4096))
	default:
		return nil
	}
}

// waitReady polls /readyz until the worker is in the consumer group.
func (c *child) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: time.Second}
	for {
		if err := c.alive(); err != nil {
			return err
		}
		resp, err := hc.Get("http://" + c.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("regnotify run not ready within %v\n%s", timeout, c.stderr.tail(4096))
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// usage is the child's CPU time (user+sys) so far and its peak resident
// set. On Linux it reads /proc while the child runs; elsewhere it returns
// ok=false and stop's rusage has to do.
func (c *child) usage() (cpu time.Duration, peakRSS int64, ok bool) {
	if runtime.GOOS != "linux" {
		return 0, 0, false
	}
	pid := c.cmd.Process.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the line, in clock ticks (USER_HZ = 100).
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, 0, false
	}
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	cpu = time.Duration(ut+st) * 10 * time.Millisecond
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	for line := range strings.Lines(string(status)) {
		if rest, found := strings.CutPrefix(line, "VmHWM:"); found {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, 0, false
			}
			return cpu, kb << 10, true
		}
	}
	return 0, 0, false
}

// stop sends SIGTERM, waits for the graceful shutdown (killing after 30 s)
// and returns the child's total CPU time and peak RSS from rusage.
func (c *child) stop() (cpu time.Duration, peakRSS int64, err error) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
		return 0, 0, errors.New("regnotify run did not stop within 30s of SIGTERM")
	}
	if c.err != nil {
		err = fmt.Errorf("regnotify run: %v\n%s", c.err, c.stderr.tail(4096))
	}
	ps := c.cmd.ProcessState
	cpu = ps.UserTime() + ps.SystemTime()
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		peakRSS = int64(ru.Maxrss) << 10 // kilobytes on Linux
	}
	return cpu, peakRSS, err
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// syncBuffer collects the child's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}
