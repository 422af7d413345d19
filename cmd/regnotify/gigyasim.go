package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/regnotify/regnotify/gigya/gigyasim"
)

// Demo credentials of a bare `regnotify gigya-sim` (the flag defaults repeat
// them; a test keeps the two in step). They are printed at start because they
// are demo values; any other secret is never printed.
const (
	simDemoAPIKey        = "3_regnotify-demo"
	simDemoUserKey       = "regnotify-demo-user-key"
	simDemoSecret        = "cmVnbm90aWZ5LWRlbW8tYXBwbGljYXRpb24tc2VjcmV0" // base64("regnotify-demo-application-secret")
	simDemoPartnerSecret = "ZGVtby1wYXJ0bmVyLXNlY3JldC1ieXRlcw=="         // base64("demo-partner-secret-bytes"), as in the Gigya notes
)

// simShutdownTimeout bounds the wait for in-flight calls on shutdown; calls
// still sleeping in a latency fault after it are cut off.
const simShutdownTimeout = 5 * time.Second

type gigyaSimCmd struct {
	Addr              string        `name:"addr" env:"GIGYASIM_ADDR" default:"127.0.0.1:8081" help:"Address to listen on (host:port; port 0 picks a free one)."`
	APIKey            string        `name:"api-key" env:"GIGYASIM_API_KEY" default:"3_regnotify-demo" help:"The site's API key; other apiKeys get 400093."`
	UserKey           string        `name:"user-key" env:"GIGYASIM_USER_KEY" default:"regnotify-demo-user-key" help:"The application key: userKey of secret and signed requests, kid of bearer tokens."`
	Secret            string        `name:"secret" env:"GIGYASIM_SECRET" default:"cmVnbm90aWZ5LWRlbW8tYXBwbGljYXRpb24tc2VjcmV0" help:"Application secret (base64); enables secret and signed authentication. Empty disables both."`
	SecretFile        string        `name:"secret-file" placeholder:"FILE" env:"GIGYASIM_SECRET_FILE" type:"path" help:"Read the application secret from this file instead of --secret."`
	PublicKeyFile     string        `name:"public-key-file" placeholder:"FILE" env:"GIGYASIM_PUBLIC_KEY_FILE" type:"path" help:"PEM RSA public key, certificate, or private key (its public half is used); enables bearer authentication."`
	PartnerSecret     string        `name:"partner-secret" env:"GIGYASIM_PARTNER_SECRET" default:"ZGVtby1wYXJ0bmVyLXNlY3JldC1ieXRlcw==" help:"Partner secret (base64) that verifies the UIDSig of a siteUID. Empty: every call with a siteUID gets 403003."`
	PartnerSecretFile string        `name:"partner-secret-file" placeholder:"FILE" env:"GIGYASIM_PARTNER_SECRET_FILE" type:"path" help:"Read the partner secret from this file instead of --partner-secret."`
	Strict            bool          `name:"strict" env:"GIGYASIM_STRICT" help:"Unknown UIDs get 403005 instead of being pending registrations; known ones come from --accounts-file."`
	AccountsFile      string        `name:"accounts-file" placeholder:"FILE" env:"GIGYASIM_ACCOUNTS_FILE" type:"path" help:"Known UIDs, one per line (blank lines and lines starting with # are skipped)."`
	Latency           time.Duration `name:"latency" env:"GIGYASIM_LATENCY" default:"0s" help:"Fixed delay of every API call."`
	Jitter            time.Duration `name:"jitter" env:"GIGYASIM_JITTER" default:"0s" help:"Random extra delay, uniform in ±jitter."`
	RateLimit         float64       `name:"rate-limit" env:"GIGYASIM_RATE_LIMIT" default:"0" help:"API calls per second across all callers; above it 403048 (0 = no limit)."`
	ErrorRate         float64       `name:"error-rate" env:"GIGYASIM_ERROR_RATE" default:"0" help:"Probability (0..1) of a random 500001."`
	Outage            string        `name:"outage" env:"GIGYASIM_OUTAGE" enum:"none,error,drop" default:"none" help:"none; error: every call gets 500001; drop: every connection is closed without an answer."`
	ClockSkew         time.Duration `name:"clock-skew" env:"GIGYASIM_CLOCK_SKEW" default:"0s" help:"Added to the simulator's clock (Date header and every timestamp window); may be negative."`
	TLSCertFile       string        `name:"tls-cert-file" placeholder:"FILE" env:"GIGYASIM_TLS_CERT_FILE" type:"path" help:"Serve HTTPS with this PEM certificate (needs --tls-key-file)."`
	TLSKeyFile        string        `name:"tls-key-file" placeholder:"FILE" env:"GIGYASIM_TLS_KEY_FILE" type:"path" help:"PEM private key of --tls-cert-file."`
	LogLevel          string        `name:"log-level" env:"GIGYASIM_LOG_LEVEL" enum:"debug,info,warn,error" default:"info" help:"Log level (debug logs every call)."`
}

// Help is the long help of `regnotify gigya-sim --help`.
func (c *gigyaSimCmd) Help() string {
	return `A local stand-in for Gigya's socialize.notifyRegistration and socialize.getUserInfo that verifies apiKey, bearer/secret/signed authentication and UIDSig for real, models accounts, and injects faults. See gigya/gigyasim/README.md for what is documented Gigya behaviour and what is a guess.

With no flags it runs with demo credentials, which it prints; secrets given by flag, variable or file are never printed. The admin endpoints have no authentication (a local test tool): GET /_sim/stats, GET and PUT /_sim/faults (JSON, partial updates, durations as "50ms"), POST /_sim/reset.`
}

func (c *gigyaSimCmd) Run(e *env) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	log, err := simLogger(e.stderr, c.LogLevel)
	if err != nil {
		return usagef("--log-level: %v", err)
	}
	defer func() { _ = log.Sync() }()
	cfg.Logger = log.Named("gigyasim")
	sim, err := gigyasim.New(cfg)
	if err != nil {
		return usagef("%v", err)
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("gigya-sim: listen: %w", err)
	}
	srv := &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	scheme := "http"
	if c.TLSCertFile != "" {
		scheme = "https"
	}
	c.printBanner(e, scheme+"://"+ln.Addr().String(), cfg)
	if scheme == "http" && !simIsLoopback(ln.Addr()) {
		log.Warn("plain HTTP on a non-loopback address: secret authentication gets 403006 here, as at Gigya",
			zap.String("addr", ln.Addr().String()))
	}

	serveErr := make(chan error, 1)
	go func() {
		if scheme == "https" {
			serveErr <- srv.ServeTLS(ln, c.TLSCertFile, c.TLSKeyFile)
			return
		}
		serveErr <- srv.Serve(ln)
	}()

	select {
	case err := <-serveErr:
		return fmt.Errorf("gigya-sim: serve: %w", err)
	case <-e.ctx.Done():
	}
	log.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), simShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("calls still in flight at the shutdown timeout were cut off", zap.Duration("timeout", simShutdownTimeout))
		_ = srv.Close()
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gigya-sim: serve: %w", err)
	}
	return nil
}

// config turns the flags into a gigyasim.Config; errors are usage errors
// naming the flag.
func (c *gigyaSimCmd) config() (gigyasim.Config, error) {
	cfg := gigyasim.Config{
		APIKey:        c.APIKey,
		UserKey:       c.UserKey,
		Secret:        c.Secret,
		PartnerSecret: c.PartnerSecret,
		Strict:        c.Strict,
		Faults: gigyasim.Faults{
			Latency: c.Latency, Jitter: c.Jitter, RateLimit: c.RateLimit,
			ErrorRate: c.ErrorRate, Outage: c.Outage, ClockSkew: c.ClockSkew,
		},
	}
	var err error
	if c.SecretFile != "" {
		if c.Secret != simDemoSecret {
			return cfg, usagef("--secret (GIGYASIM_SECRET) and --secret-file (GIGYASIM_SECRET_FILE) are both set: set one")
		}
		if cfg.Secret, err = simReadSecretFile(c.SecretFile); err != nil {
			return cfg, usagef("--secret-file (GIGYASIM_SECRET_FILE): %v", err)
		}
	}
	if c.PartnerSecretFile != "" {
		if c.PartnerSecret != simDemoPartnerSecret {
			return cfg, usagef("--partner-secret (GIGYASIM_PARTNER_SECRET) and --partner-secret-file (GIGYASIM_PARTNER_SECRET_FILE) are both set: set one")
		}
		if cfg.PartnerSecret, err = simReadSecretFile(c.PartnerSecretFile); err != nil {
			return cfg, usagef("--partner-secret-file (GIGYASIM_PARTNER_SECRET_FILE): %v", err)
		}
	}
	if c.PublicKeyFile != "" {
		if cfg.PublicKey, err = simReadPublicKey(c.PublicKeyFile); err != nil {
			return cfg, usagef("--public-key-file (GIGYASIM_PUBLIC_KEY_FILE): %v", err)
		}
	}
	if c.AccountsFile != "" {
		if cfg.Accounts, err = simReadAccounts(c.AccountsFile); err != nil {
			return cfg, usagef("--accounts-file (GIGYASIM_ACCOUNTS_FILE): %v", err)
		}
	}
	switch {
	case cfg.APIKey == "":
		return cfg, usagef("--api-key (GIGYASIM_API_KEY) must not be empty")
	case cfg.UserKey == "":
		return cfg, usagef("--user-key (GIGYASIM_USER_KEY) must not be empty")
	case cfg.Secret == "" && cfg.PublicKey == nil:
		return cfg, usagef("no authentication mode: set --secret (GIGYASIM_SECRET) or --public-key-file (GIGYASIM_PUBLIC_KEY_FILE)")
	case !simIsBase64(cfg.Secret):
		return cfg, usagef("--secret (GIGYASIM_SECRET or GIGYASIM_SECRET_FILE): not valid base64")
	case !simIsBase64(cfg.PartnerSecret):
		return cfg, usagef("--partner-secret (GIGYASIM_PARTNER_SECRET or GIGYASIM_PARTNER_SECRET_FILE): not valid base64")
	}
	if c.Strict && c.AccountsFile == "" {
		return cfg, usagef("--strict (GIGYASIM_STRICT) needs --accounts-file (GIGYASIM_ACCOUNTS_FILE); an empty file makes every UID unknown")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return cfg, usagef("--tls-cert-file (GIGYASIM_TLS_CERT_FILE) and --tls-key-file (GIGYASIM_TLS_KEY_FILE) go together")
	}
	if err := cfg.Faults.Validate(); err != nil {
		return cfg, usagef("faults (--latency, --jitter, --rate-limit, --error-rate, --outage; GIGYASIM_*): %v", err)
	}
	return cfg, nil
}

func (c *gigyaSimCmd) printBanner(e *env, url string, cfg gigyasim.Config) {
	shown := func(v, demo string) string {
		switch v {
		case "":
			return "(none)"
		case demo:
			return v + "   (demo value)"
		}
		return "(set; not printed)"
	}
	bearer := "disabled (no --public-key-file)"
	if cfg.PublicKey != nil {
		bearer = fmt.Sprintf("enabled (RS256, kid = userKey, %d-bit key)", cfg.PublicKey.N.BitLen())
	}
	accounts := "any UID is a pending registration"
	if cfg.Strict {
		accounts = fmt.Sprintf("strict: %d known UIDs", len(cfg.Accounts))
	}
	f := cfg.Faults
	fmt.Fprintf(e.stdout, `gigya-sim listening on %s
  apiKey          %s
  userKey         %s
  secret          %s
  partnerSecret   %s
  bearer          %s
  accounts        %s
  faults          latency=%v jitter=%v rateLimit=%g errorRate=%g outage=%s clockSkew=%v
  admin (no auth) GET %[1]s/_sim/stats, GET|PUT %[1]s/_sim/faults, POST %[1]s/_sim/reset
`, url, cfg.APIKey, cfg.UserKey, shown(cfg.Secret, simDemoSecret), shown(cfg.PartnerSecret, simDemoPartnerSecret),
		bearer, accounts, f.Latency, f.Jitter, f.RateLimit, f.ErrorRate, f.Outage, f.ClockSkew)
}

func simReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", errors.New("file is empty")
	}
	return s, nil
}

func simReadPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return gigyasim.ParsePublicKeyPEM(b)
}

func simReadAccounts(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var uids []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		uids = append(uids, line)
	}
	return uids, sc.Err()
}

func simIsBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

func simIsLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// simLogger is a human-readable zap logger writing to w.
func simLogger(w io.Writer, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}
