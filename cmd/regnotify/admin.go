package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/admin"
	"github.com/regnotify/regnotify/worker/control"
)

// adminFlags configure the admin API and console.
type adminFlags struct {
	AdminAddr       string `name:"admin-addr" env:"REGNOTIFY_ADMIN_ADDR" help:"Address of the admin API and console, e.g. :8090 (default: off)." placeholder:"HOST:PORT"`
	AdminTokensFile string `name:"admin-tokens-file" env:"REGNOTIFY_ADMIN_TOKENS_FILE" help:"File of admin tokens, one 'name role token' line each (role viewer or operator); required unless --admin-addr is loopback." placeholder:"FILE"`
}

// controlReadyWait bounds how long the worker waits for the control topic
// (operator pauses) before taking events anyway.
const controlReadyWait = 10 * time.Second

// adminServer is the admin API with the control topic it follows.
type adminServer struct {
	srv *admin.Server
	ctl *control.Control
	ln  net.Listener
	tr  *kafka.Transport
	log *zap.Logger
}

// close releases the Kafka connections of the control follower and the
// admin API; call it after start's goroutines ended.
func (a *adminServer) close() { a.tr.CloseIdleConnections() }

// newAdmin builds the control-topic follower, which every worker runs (an
// operator's pause reaches every worker of the group, whether or not it
// serves the admin API), and the admin server when --admin-addr is set
// (srv and ln nil otherwise). A refused setting is a usage error naming the
// flag.
func newAdmin(e *env, af adminFlags, cfg worker.Config, w *worker.Worker, log *zap.Logger) (*adminServer, error) {
	if af.AdminAddr == "" && af.AdminTokensFile != "" {
		return nil, usagef("--admin-tokens-file (REGNOTIFY_ADMIN_TOKENS_FILE) is set but --admin-addr (REGNOTIFY_ADMIN_ADDR) is not")
	}
	tr, err := cfg.Kafka.Transport()
	if err != nil {
		return nil, usagef("%v", err)
	}
	ctl, err := control.New(control.Config{Brokers: cfg.Kafka.Brokers, Transport: tr, Log: log.Named("control")})
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if af.AdminAddr == "" {
		return &adminServer{ctl: ctl, tr: tr, log: log}, nil
	}
	ln, err := net.Listen("tcp", af.AdminAddr)
	if err != nil {
		tr.CloseIdleConnections()
		return nil, usagef("--admin-addr (REGNOTIFY_ADMIN_ADDR): %v", err)
	}
	// The listener's address, so that the token line names the real port
	// of ":0"; a wildcard address stays non-loopback.
	addr := ln.Addr().String()
	srv, err := admin.New(admin.Options{
		Addr: addr, TokensFile: af.AdminTokensFile, Stderr: e.stderr,
		Status: w, Control: localPause{Control: ctl, w: w}, Brokers: cfg.Kafka.Brokers, Transport: tr, DLQTopic: cfg.DLQTopic, Log: log,
	})
	if err != nil {
		tr.CloseIdleConnections()
		ln.Close()
	}
	var ce *admin.ConfigError
	if errors.As(err, &ce) {
		return nil, usagef("%s (%s): %s", ce.Flag, envOfAdminFlag(ce.Flag), ce.Reason)
	}
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	return &adminServer{srv: srv, ctl: ctl, ln: ln, tr: tr, log: log}, nil
}

func envOfAdminFlag(flag string) string {
	if strings.Contains(flag, "tokens") {
		return "REGNOTIFY_ADMIN_TOKENS_FILE"
	}
	return "REGNOTIFY_ADMIN_ADDR"
}

// Addr is where the admin server listens; "" without one.
func (a *adminServer) Addr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// start runs the control follower and the server in eg, and waits (at most
// controlReadyWait) until the control topic's pauses are known, so that a
// site an operator paused is not served in the meantime.
func (a *adminServer) start(ctx context.Context, eg *errgroup.Group, w *worker.Worker) error {
	eg.Go(func() error {
		if err := a.ctl.EnsureTopic(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("control topic: cannot create it; following it anyway", zap.Error(err))
		}
		return a.ctl.Follow(ctx, func(key string, value []byte) { a.onControl(w, key, value) })
	})
	if a.srv != nil {
		eg.Go(func() error { return a.srv.Run(ctx, a.ln) })
	}
	t := time.NewTimer(controlReadyWait)
	defer t.Stop()
	select {
	case <-a.ctl.Ready():
	case <-t.C:
		a.log.Warn("control topic not read yet; taking events without knowing operator pauses")
	case <-ctx.Done():
	}
	return nil
}

// localPause applies an operator's pause to this worker at once. The
// control topic carries it to the other workers, but here Follow sees no
// change: Publish already applied the record to the local state.
type localPause struct {
	*control.Control
	w *worker.Worker
}

// SetPaused publishes the pause, then applies it locally.
func (l localPause) SetPaused(ctx context.Context, site string, paused bool, by string) error {
	if err := l.Control.SetPaused(ctx, site, paused, by); err != nil {
		return err
	}
	return l.w.PauseSite(site, paused)
}

// onControl applies an operator's pause or resume of a site.
func (a *adminServer) onControl(w *worker.Worker, key string, value []byte) {
	site, ok := strings.CutPrefix(key, control.SiteKey(""))
	if !ok {
		return
	}
	var p control.SitePause
	if value != nil {
		if err := json.Unmarshal(value, &p); err != nil {
			a.log.Warn("control topic: bad site pause record", zap.String("key", key), zap.Error(err))
			return
		}
	}
	if err := w.PauseSite(site, p.Paused); err != nil {
		a.log.Warn("control topic: pause of an unknown site ignored", zap.String("site", site), zap.Error(err))
	}
}
