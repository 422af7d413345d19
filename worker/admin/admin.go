// Package admin is regnotify's admin API and operator console (contract:
// "Admin API and console"): one http.Handler serving the JSON API under
// /api/v1/ for scripts (bearer tokens) and a server-rendered console at /
// for browsers (a sign-in cookie), both over the same calls: status, dead
// letters, replays and site pause/resume.
//
// It reads the dead-letter topic straight from Kafka and replays through
// worker/replay's decide-copy-send path; it learns the worker's state
// through the StatusSource interface and pauses sites and records replays
// through the Control interface (worker/control implements it), so that it
// runs inside the worker without importing it.
//
// It is not the worker's /metrics and /healthz listener (that stays on
// --http-addr, without authentication), and it reads no flags.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/worker/control"
	"github.com/regnotify/regnotify/worker/replay"
	"github.com/regnotify/regnotify/worker/status"
)

// StatusSource is what the admin server needs from the worker: a snapshot
// of its state, cheap enough to take every couple of seconds. Sites paused
// by an operator must show state "paused".
type StatusSource interface {
	Status() status.Doc
}

// StatusFunc adapts a function to StatusSource.
type StatusFunc func() status.Doc

// Status calls f.
func (f StatusFunc) Status() status.Doc { return f() }

// Control is the group-wide operator state: site pauses and the record of
// replayed dead letters. *control.Control implements it.
type Control interface {
	SetPaused(ctx context.Context, site string, paused bool, by string) error
	Replayed(topic string, partition int, offset int64) bool
	MarkReplayed(ctx context.Context, topic string, offs []control.Offset, by string, force bool) error
}

// Options configure a Server. Zero values take the defaults named on each
// field.
type Options struct {
	// Addr is the listen address (--admin-addr). Without TokensFile it
	// must be a loopback address.
	Addr string
	// TokensFile (--admin-tokens-file) holds "name role token" lines; it
	// is re-read when it changes. Empty: one random operator token is made
	// and printed once on Stderr (loopback addresses only).
	TokensFile string
	Stderr     io.Writer // default os.Stderr

	Status  StatusSource // required
	Control Control      // required

	// Brokers and Transport reach Kafka (build Transport from the worker's
	// Kafka settings so that TLS and SASL apply; nil = kafka.DefaultTransport).
	Brokers   []string
	Transport kafka.RoundTripper
	DLQTopic  string // default "regnotify.dlq"
	// Writer sends replayed copies; nil means replay.NewWriter on Brokers.
	Writer replay.MessageWriter

	// SampleInterval is how often Run samples Status for the console's
	// plots; default 2s. SampleKeep is how many samples it keeps; default
	// 150 (five minutes at 2s).
	SampleInterval time.Duration
	SampleKeep     int

	Log *zap.Logger
}

// ConfigError is a setting New refuses; cmd exits 2 on it, naming Flag.
type ConfigError struct {
	Flag   string
	Reason string
}

func (e *ConfigError) Error() string { return "admin: " + e.Flag + ": " + e.Reason }

// Server is the admin API and console. Create it with New; serve Handler
// yourself, or call Run.
type Server struct {
	opts    Options
	log     *zap.Logger
	tokens  *tokens
	client  *kafka.Client
	writer  replay.MessageWriter
	closeW  func() error
	samples *sampler
	pages   *pages

	replayMu sync.Mutex // one replay at a time: the never-twice check and the mark are not atomic
	sessions sessions
}

// New checks opts and returns a Server. A missing tokens file on a
// non-loopback address is a *ConfigError.
func New(opts Options) (*Server, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.DLQTopic == "" {
		opts.DLQTopic = "regnotify.dlq"
	}
	if opts.SampleInterval <= 0 {
		opts.SampleInterval = 2 * time.Second
	}
	if opts.SampleKeep <= 0 {
		opts.SampleKeep = 150
	}
	if opts.Status == nil || opts.Control == nil {
		return nil, errors.New("admin: Status and Control are required")
	}
	if len(opts.Brokers) == 0 {
		return nil, errors.New("admin: no brokers")
	}
	s := &Server{opts: opts, log: opts.Log.Named("admin"), samples: newSampler(opts.SampleKeep)}
	if err := s.setupTokens(); err != nil {
		return nil, err
	}
	tr := opts.Transport
	if tr == nil {
		tr = kafka.DefaultTransport
	}
	s.client = &kafka.Client{Addr: kafka.TCP(opts.Brokers...), Transport: tr, Timeout: 10 * time.Second}
	s.writer, s.closeW = opts.Writer, func() error { return nil }
	if s.writer == nil {
		w := replay.NewWriter(opts.Brokers, tr, 0)
		s.writer, s.closeW = w, w.Close
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	s.pages = p
	s.sessions.m = make(map[string]*session)
	return s, nil
}

func (s *Server) setupTokens() error {
	if s.opts.TokensFile != "" {
		t, err := loadTokens(s.opts.TokensFile, s.log)
		if err != nil {
			return &ConfigError{Flag: "--admin-tokens-file", Reason: err.Error()}
		}
		s.tokens = t
		return nil
	}
	if !isLoopback(s.opts.Addr) {
		return &ConfigError{Flag: "--admin-tokens-file", Reason: fmt.Sprintf("required when --admin-addr %q is not a loopback address", s.opts.Addr)}
	}
	t, tok, err := devTokens()
	if err != nil {
		return err
	}
	s.tokens = t
	fmt.Fprintf(s.opts.Stderr, "regnotify admin: no --admin-tokens-file; operator token for http://%s (shown once): %s\n", s.opts.Addr, tok)
	return nil
}

// isLoopback reports whether addr (host:port) listens on loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Run samples the status for the console's plots and serves Handler on ln
// until ctx ends; then it shuts the listener down (bounded) and closes the
// replay writer. It returns nil on a clean stop.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.Sample(time.Now())
	t := time.NewTicker(s.opts.SampleInterval)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			s.Sample(now)
		case err := <-errc:
			_ = s.closeW()
			return fmt.Errorf("admin: serve: %w", err)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := srv.Shutdown(sctx)
			cancel()
			if err != nil {
				_ = srv.Close()
			}
			<-errc
			return s.closeW()
		}
	}
}

// Sample takes one status sample for the console's plots; Run calls it
// every SampleInterval.
func (s *Server) Sample(now time.Time) { s.samples.add(now, s.opts.Status.Status()) }

// Handler returns the API and console.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/status", s.api(RoleViewer, s.apiStatus))
	mux.Handle("GET /api/v1/dead-letters", s.api(RoleViewer, s.apiDeadLetters))
	mux.Handle("POST /api/v1/replays", s.api(RoleOperator, s.apiReplays))
	mux.Handle("POST /api/v1/sites/{name}/pause", s.api(RoleOperator, s.apiPause(true)))
	mux.Handle("POST /api/v1/sites/{name}/resume", s.api(RoleOperator, s.apiPause(false)))
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{"no such call: " + r.Method + " " + r.URL.Path})
	}))
	s.consoleRoutes(mux)
	return secure(mux)
}

// secure sets the headers every answer carries.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin") // "no-referrer" makes browsers send "Origin: null" on our own form posts
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// audit writes the one info line of an operator call: who (the token's
// name, never the token), what, with which parameters, and the result.
func (s *Server) audit(id identity, call string, params any, result string, err error) {
	fields := []zap.Field{zap.String("token", id.Name), zap.String("role", string(id.Role)), zap.String("call", call), zap.Any("params", params), zap.String("result", result)}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	s.log.Info("admin audit", fields...)
}

// Close releases what New opened (the replay writer) when the caller served
// Handler itself instead of calling Run.
func (s *Server) Close() error { return s.closeW() }
