package wait_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/regnotify/regnotify/worker/wait"
)

func TestUntil(t *testing.T) {
	n := 0
	if err := wait.Until(context.Background(), 10*time.Second, time.Millisecond, wait.Bool(func() bool { n++; return n == 3 })); err != nil || n != 3 {
		t.Errorf("Until = %v after %d calls, want nil after 3", err, n)
	}
	boom := errors.New("boom")
	if err := wait.Until(context.Background(), 10*time.Second, time.Millisecond, func(context.Context) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("Until with a failing cond = %v, want boom", err)
	}
	if err := wait.Until(context.Background(), 20*time.Millisecond, time.Millisecond, wait.Bool(func() bool { return false })); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Until never true = %v, want a deadline error", err)
	}
}

func TestFreeAddr(t *testing.T) {
	a, err := wait.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		t.Fatalf("listen on FreeAddr's %s: %v", a, err)
	}
	ln.Close()
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
