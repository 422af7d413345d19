// Package wait is the polling and free-address support shared by
// regnotify's tests and test harnesses (the worker's tests, the end-to-end
// harness, the benchmark driver): one way to wait for a condition, one way
// to pick a loopback port.
//
// It is not for production code paths: those wait on channels and contexts.
package wait

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// Until calls cond every interval until it reports true, returns an error
// (other than a deadline), ctx ends, or timeout passes. Each call of cond
// gets a context bounded to 5 s.
func Until(ctx context.Context, timeout, interval time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := cond(cctx)
		ccancel()
		if ok {
			return nil
		}
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("not within %v: %w (last error: %v)", timeout, ctx.Err(), last)
			}
			return fmt.Errorf("not within %v: %w", timeout, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// Bool adapts a condition without context or error to Until.
func Bool(cond func() bool) func(context.Context) (bool, error) {
	return func(context.Context) (bool, error) { return cond(), nil }
}

// Eventually checks cond every 10 ms until it holds and fails t (naming
// what) if it does not within timeout, a bound that only catches a hang.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := Until(context.Background(), timeout, 10*time.Millisecond, Bool(cond)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
