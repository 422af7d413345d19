package kafkaio_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/worker/kafkaio"
)

func TestTooLarge(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{kafka.MessageSizeTooLarge, true},
		{kafka.WriteErrors{nil, kafka.MessageSizeTooLarge}, true},
		{fmt.Errorf("write: %w", kafka.RecordListTooLarge), true},
		{kafka.MessageTooLargeError{}, true},
		{kafka.WriteErrors{errors.New("broken pipe")}, false},
		{errors.New("timeout"), false},
	} {
		if got := kafkaio.TooLarge(tt.err); got != tt.want {
			t.Errorf("TooLarge(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// CloseBounded returns after the bound even when close hangs.
func TestCloseBoundedReturns(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	done := make(chan struct{})
	go func() {
		kafkaio.CloseBounded(zap.NewNop(), "x", func() error { <-release; return nil }, 10*time.Millisecond)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("CloseBounded did not return after its bound")
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
