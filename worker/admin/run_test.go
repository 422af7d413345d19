package admin_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/worker/admin"
)

// TestRun serves on a real listener, samples, and stops cleanly when its
// context ends (goleak checks that nothing is left running).
func TestRun(t *testing.T) {
	e := newEnv(t)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	srv, err := admin.New(admin.Options{Addr: "127.0.0.1:0", TokensFile: e.tokensFile, Status: fakeStatus(e.ctl), Control: e.ctl,
		Brokers: e.kc.Brokers, Transport: tr, DLQTopic: e.dlq, Log: zap.NewNop(), SampleInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status over Run: %d, want 200", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
