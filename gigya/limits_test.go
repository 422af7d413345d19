package gigya

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestLargeBodyMemory (issue 12 item 5): a 50 MB answer (a proxy's error
// page) fails as a transport error, and what the client allocates for it
// is bounded by maxBody, not by the body: bytes allocated per call, summed
// over concurrent calls, stay far below one body (and below the ~2 MiB per
// call the former 1 MiB cap cost).
func TestLargeBodyMemory(t *testing.T) {
	body := bytes.Repeat([]byte("<html>proxy error</html>"), 50<<20/24)
	e := newEnv(t, envConfig{auth: AuthSecret, setup: func(f *fakeGigya, _ *Options) {
		f.hook = func(_ int, w http.ResponseWriter, _ *http.Request) bool {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write(body)
			return true
		}
	}})
	const workers, perWorker = 8, 4
	call := func() {
		_, err := e.c.NotifyRegistration(t.Context(), NotifyRequest{UID: "u1"})
		var ge *Error
		if !errors.As(err, &ge) || !ge.Transport() || !strings.Contains(err.Error(), "larger than 64 KiB") {
			t.Errorf("err = %v; want a transport *Error saying the body is larger than 64 KiB", err)
		}
	}
	call() // warm up connections and pools
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				call()
			}
		})
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	perCall := (after.TotalAlloc - before.TotalAlloc) / (workers * perWorker)
	t.Logf("allocated %d KiB per call of a %d MiB body", perCall>>10, len(body)>>20)
	if limit := uint64(128 << 10); perCall > limit {
		t.Errorf("allocated %d KiB per call; want at most %d KiB (the read is capped at 64 KiB)", perCall>>10, limit>>10)
	}
}

// TestTLSFailureLoggedOnce (issue 12 item 7): a Gigya endpoint whose
// certificate is not trusted fails every call as transport, and says why
// once at warn (the x509 cause), not once per request and not only at
// debug. A second, different cause is logged once too.
func TestTLSFailureLoggedOnce(t *testing.T) {
	e := newEnv(t, envConfig{auth: AuthSecret, tls: true, untrusted: true})
	for range 3 {
		_, err := e.c.NotifyRegistration(t.Context(), NotifyRequest{UID: "u1"})
		var ua x509.UnknownAuthorityError
		ge := e.gigyaErr(err)
		if !ge.Transport() || !errors.As(err, &ua) {
			t.Fatalf("err = %v; want a transport error wrapping x509.UnknownAuthorityError", err)
		}
	}
	warns := tlsWarnings(e.logs)
	if len(warns) != 1 {
		t.Fatalf("%d TLS warnings after 3 failing calls; want 1: %v", len(warns), warns)
	}
	if got := warns[0]; !strings.Contains(got, "x509") || !strings.Contains(got, "unknown authority") {
		t.Errorf("TLS warning cause = %q; want the x509 unknown-authority cause", got)
	}
	if got := e.fake.callCount(methodNotifyRegistration); got != 0 {
		t.Errorf("server handled %d calls; want 0 (the handshake fails)", got)
	}

	// Another client, another cause: the certificate is trusted but not
	// valid for the host name (it names 127.0.0.1 and example.com).
	core, logs := observer.New(zap.DebugLevel)
	c, err := New(Options{APIKey: testAPIKey, UserKey: testUserKey, Auth: AuthSecret, Secret: testSecret,
		RequestTimeout: 5 * time.Second, Logger: zap.New(core), Transport: e.srv.Client().Transport,
		BaseURL: strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 2 {
		var he x509.HostnameError
		if _, err := c.NotifyRegistration(t.Context(), NotifyRequest{UID: "u1"}); !errors.As(err, &he) {
			t.Fatalf("err = %v; want a wrapped x509.HostnameError", err)
		}
	}
	if warns := tlsWarnings(logs); len(warns) != 1 || !strings.Contains(warns[0], "not localhost") {
		t.Errorf("TLS warnings = %q; want one naming the host name mismatch", warns)
	}
}

// tlsWarnings returns the cause of each TLS warning logged.
func tlsWarnings(logs *observer.ObservedLogs) []string {
	var out []string
	for _, l := range logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("TLS").All() {
		out = append(out, l.ContextMap()["cause"].(string))
	}
	return out
}
