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
	"strconv"
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
	APIKey            string        `name:"api-key" env:"GIGYASIM_API_KEY" default:"3_regnotify-demo" help:"The API key of the site named default; apiKeys of no site get 400093. Empty (only with --site): no site default."`
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
	Sites             []string      `name:"site" env:"GIGYASIM_SITES" sep:";" placeholder:"KEY=VALUE,..." help:"A further site, repeatable (or ;-separated): comma-separated key=value with name, apiKey, userKey (required), secret or secretFile, publicKeyFile, partnerSecret or partnerSecretFile, dataCenter, rate and burst (quota, calls/s), and site-wide faults fault (400093|403003|403006|403007|403010|301001), apiDomain, httpStatus (5xx HTML page), outage (error|drop), lostRate (0..1) and lost (drop|504002). See the long help."`
	DataCenters       []string      `name:"data-center" env:"GIGYASIM_DATA_CENTERS" placeholder:"NAME=HOST:PORT" help:"A data center served on its own listener, repeatable (or comma-separated): a site's call arriving at another data center's listener gets 301001 with apiDomain = its own listener's host:port. --addr belongs to no data center."`
	SharedQuotas      []string      `name:"shared-quota" env:"GIGYASIM_SHARED_QUOTAS" placeholder:"NAME=RATE[/BURST]" help:"A quota shared by the sites naming it (--site ...,sharedQuota=NAME), as a partner-wide limit; repeatable (or comma-separated)."`
	LogLevel          string        `name:"log-level" env:"GIGYASIM_LOG_LEVEL" enum:"debug,info,warn,error" default:"info" help:"Log level (debug logs every call)."`
}

// Help is the long help of `regnotify gigya-sim --help`.
func (c *gigyaSimCmd) Help() string {
	return `A local stand-in for Gigya's socialize.notifyRegistration and socialize.getUserInfo that verifies apiKey, bearer/secret/signed authentication and UIDSig for real, models accounts, and injects faults. See gigya/gigyasim/README.md for what is documented Gigya behaviour and what is a guess.

With no flags it runs with demo credentials, which it prints; secrets given by flag, variable or file are never printed. The admin endpoints have no authentication (a local test tool): GET /_sim/stats, GET and PUT /_sim/faults (JSON, partial updates, durations as "50ms"), POST /_sim/reset; per site: GET /_sim/stats?site=NAME, GET and PUT /_sim/faults?site=NAME and /_sim/quota?site=NAME, GET /_sim/sites.

Several sites: the single-site flags (--api-key, --user-key, --secret, ...) define the site "default"; each --site adds one. Two sites in two data centers, one with a quota and one misconfigured:

  regnotify gigya-sim --addr 127.0.0.1:8081 \
    --data-center us1=127.0.0.1:8082 --data-center eu1=127.0.0.1:8083 \
    --site name=brand-a,apiKey=3_a,userKey=uk-a,secretFile=/run/a.secret,dataCenter=us1,rate=50,burst=5 \
    --site name=brand-b,apiKey=3_b,userKey=uk-b,publicKeyFile=/run/b.pem,dataCenter=eu1,fault=403010

--site keys: name, apiKey, userKey (required); secret | secretFile (base64 application secret: secret and signed authentication); publicKeyFile (bearer); partnerSecret | partnerSecretFile (verifies UIDSig; without it a UIDSig gets 403003, none is accepted); dataCenter (a --data-center name); rate, burst (the site's quota: token bucket, calls/s, 403048 above); sharedQuota (a --shared-quota name); fault (every call answers this errorCode: 400093, 403003, 403006, 403007, 403010 or 301001), apiDomain (of fault=301001; default the site's data center); httpStatus (every call gets this HTTP 5xx status and an HTML page, as from a load balancer); outage (error: 500001; drop: connection closed); lostRate, lost (that fraction of successful notifyRegistration calls is applied but answered by a dropped connection, or 504002). Values cannot contain "," or ";"; use the *File keys for secrets.`
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

	// Listen first: a data center's Domain is its listener's address.
	lns, err := c.listen(&cfg)
	defer func() {
		for _, l := range lns {
			_ = l.ln.Close() // already closed by Shutdown unless New failed
		}
	}()
	if err != nil {
		return err
	}
	sim, err := gigyasim.New(cfg)
	if err != nil {
		return usagef("%v", err)
	}
	scheme := "http"
	if c.TLSCertFile != "" {
		scheme = "https"
	}
	c.printBanner(e, scheme+"://"+lns[0].ln.Addr().String(), cfg, scheme)
	if scheme == "http" && !simIsLoopback(lns[0].ln.Addr()) {
		log.Warn("plain HTTP on a non-loopback address: secret authentication gets 403006 here, as at Gigya",
			zap.String("addr", lns[0].ln.Addr().String()))
	}
	return c.serve(e, log, sim, lns)
}

// simListener is one listener of gigya-sim: --addr (dc "") or a data center.
type simListener struct {
	dc string
	ln net.Listener
}

// listen opens --addr and every --data-center listener and records each data
// center in cfg with its listener's address as Domain.
func (c *gigyaSimCmd) listen(cfg *gigyasim.Config) ([]simListener, error) {
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("gigya-sim: listen: %w", err)
	}
	lns := []simListener{{ln: ln}}
	for _, spec := range c.DataCenters {
		name, addr, _ := strings.Cut(spec, "=")
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return lns, fmt.Errorf("gigya-sim: listen: --data-center %s: %w", name, err)
		}
		lns = append(lns, simListener{dc: name, ln: ln})
		cfg.DataCenters = append(cfg.DataCenters, gigyasim.DataCenter{Name: name, Domain: ln.Addr().String()})
	}
	return lns, nil
}

// serve runs one HTTP server per listener until e.ctx ends, then shuts them
// all down.
func (c *gigyaSimCmd) serve(e *env, log *zap.Logger, sim *gigyasim.Server, lns []simListener) error {
	srvs := make([]*http.Server, len(lns))
	serveErr := make(chan error, len(lns))
	for i, l := range lns {
		var h http.Handler = sim
		if l.dc != "" {
			dh, err := sim.DataCenter(l.dc)
			if err != nil {
				return usagef("--data-center: %v", err)
			}
			h = dh
		}
		srvs[i] = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: zap.NewStdLog(log.Named("http"))}
	}
	for i, l := range lns {
		go func() {
			if c.TLSCertFile != "" {
				serveErr <- srvs[i].ServeTLS(l.ln, c.TLSCertFile, c.TLSKeyFile)
				return
			}
			serveErr <- srvs[i].Serve(l.ln)
		}()
	}
	var first error
	select {
	case first = <-serveErr:
	case <-e.ctx.Done():
		log.Info("shutting down")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), simShutdownTimeout)
	defer cancel()
	for _, srv := range srvs {
		if err := srv.Shutdown(ctx); err != nil {
			log.Warn("calls still in flight at the shutdown timeout were cut off", zap.Duration("timeout", simShutdownTimeout))
			_ = srv.Close()
		}
	}
	errs, left := []error{first}, len(lns)
	if first != nil {
		left-- // its server already returned
	}
	for range left {
		errs = append(errs, <-serveErr)
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("gigya-sim: serve: %w", err)
		}
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
	if err := c.sitesConfig(&cfg); err != nil {
		return cfg, err
	}
	switch {
	case cfg.APIKey == "" && len(cfg.Sites) == 0:
		return cfg, usagef("--api-key (GIGYASIM_API_KEY) must not be empty")
	case cfg.APIKey == "":
		// only the --site sites
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

// sitesConfig adds the --site sites and checks --data-center's form (the
// listeners are opened later).
func (c *gigyaSimCmd) sitesConfig(cfg *gigyasim.Config) error {
	for _, spec := range c.DataCenters {
		if name, addr, ok := strings.Cut(spec, "="); !ok || name == "" || addr == "" {
			return usagef("--data-center (GIGYASIM_DATA_CENTERS) %q: want NAME=HOST:PORT", spec)
		}
	}
	for _, spec := range c.SharedQuotas {
		name, q, err := parseSimSharedQuota(spec)
		if err != nil {
			return usagef("--shared-quota (GIGYASIM_SHARED_QUOTAS) %q: %v", spec, err)
		}
		if cfg.SharedQuotas == nil {
			cfg.SharedQuotas = map[string]gigyasim.Quota{}
		}
		cfg.SharedQuotas[name] = q
	}
	for i, spec := range c.Sites {
		site, err := parseSimSite(spec)
		if err != nil {
			return usagef("--site (GIGYASIM_SITES) #%d: %v", i+1, err)
		}
		cfg.Sites = append(cfg.Sites, site)
	}
	return nil
}

// parseSimSharedQuota parses NAME=RATE[/BURST].
func parseSimSharedQuota(spec string) (string, gigyasim.Quota, error) {
	name, val, ok := strings.Cut(spec, "=")
	if !ok || name == "" {
		return "", gigyasim.Quota{}, errors.New("want NAME=RATE[/BURST]")
	}
	var q gigyasim.Quota
	rateText, burstText, hasBurst := strings.Cut(val, "/")
	r, err := strconv.ParseFloat(rateText, 64)
	if err != nil {
		return "", q, errors.New("RATE: want a number of calls per second")
	}
	q.Rate = r
	if hasBurst {
		if q.Burst, err = strconv.Atoi(burstText); err != nil {
			return "", q, errors.New("BURST: want an integer")
		}
	}
	return name, q, q.Validate()
}

// simSiteSecretKeys are the --site keys whose values are never echoed.
var simSiteSecretKeys = map[string]bool{"secret": true, "partnerSecret": true}

// parseSimSite parses one --site value: comma-separated key=value. Errors
// name the key and quote no secret value.
func parseSimSite(spec string) (gigyasim.Site, error) {
	var site gigyasim.Site
	for _, kv := range strings.Split(spec, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || val == "" {
			return site, fmt.Errorf("%q: want key=value", simRedactKV(key))
		}
		if err := setSimSiteKey(&site, key, val); err != nil {
			shown := val
			if simSiteSecretKeys[key] {
				shown = "(not printed)"
			}
			return site, fmt.Errorf("%s=%s: %w", key, shown, err)
		}
	}
	switch {
	case site.Name == "" || site.APIKey == "" || site.UserKey == "":
		return site, errors.New("name, apiKey and userKey are required")
	case site.Secret == "" && site.PublicKey == nil:
		return site, fmt.Errorf("site %q: no authentication mode: set secret, secretFile or publicKeyFile", site.Name)
	case !simIsBase64(site.Secret) || !simIsBase64(site.PartnerSecret):
		return site, fmt.Errorf("site %q: secret or partner secret is not valid base64", site.Name)
	}
	if err := site.Faults.Validate(); err != nil {
		return site, fmt.Errorf("site %q: faults: %w", site.Name, err)
	}
	return site, nil
}

func simRedactKV(key string) string {
	if simSiteSecretKeys[key] {
		return key + "=(not printed)"
	}
	return key
}

// setSimSiteKey sets one --site key.
func setSimSiteKey(s *gigyasim.Site, key, val string) error {
	var err error
	switch key {
	case "name":
		s.Name = val
	case "apiKey":
		s.APIKey = val
	case "userKey":
		s.UserKey = val
	case "secret":
		s.Secret = val
	case "secretFile":
		s.Secret, err = simReadSecretFile(val)
	case "partnerSecret":
		s.PartnerSecret = val
	case "partnerSecretFile":
		s.PartnerSecret, err = simReadSecretFile(val)
	case "publicKeyFile":
		s.PublicKey, err = simReadPublicKey(val)
	case "dataCenter":
		s.DataCenter = val
	case "sharedQuota":
		s.SharedQuota = val
	case "rate":
		s.Quota.Rate, err = strconv.ParseFloat(val, 64)
	case "burst":
		s.Quota.Burst, err = strconv.Atoi(val)
	case "fault":
		s.Faults.Code, err = strconv.Atoi(val)
	case "apiDomain":
		s.Faults.APIDomain = val
	case "httpStatus":
		s.Faults.HTTPStatus, err = strconv.Atoi(val)
	case "outage":
		s.Faults.Outage = val
	case "lostRate":
		s.Faults.LostRate, err = strconv.ParseFloat(val, 64)
	case "lost":
		s.Faults.Lost = val
	default:
		return errors.New("unknown key")
	}
	if ne := (*strconv.NumError)(nil); errors.As(err, &ne) {
		return ne.Err // without the value
	}
	return err
}

func (c *gigyaSimCmd) printBanner(e *env, url string, cfg gigyasim.Config, scheme string) {
	f := cfg.Faults
	if cfg.APIKey == "" {
		fmt.Fprintf(e.stdout, "gigya-sim listening on %s\n", url)
	} else {
		accounts := "any UID is a pending registration"
		if cfg.Strict {
			accounts = fmt.Sprintf("strict: %d known UIDs", len(cfg.Accounts))
		}
		fmt.Fprintf(e.stdout, `gigya-sim listening on %s
  apiKey          %s
  userKey         %s
  secret          %s
  partnerSecret   %s
  bearer          %s
  accounts        %s
`, url, cfg.APIKey, cfg.UserKey, simShown(cfg.Secret, simDemoSecret), simShown(cfg.PartnerSecret, simDemoPartnerSecret),
			simBearer(cfg.PublicKey), accounts)
	}
	fmt.Fprintf(e.stdout, "  faults          latency=%v jitter=%v rateLimit=%g errorRate=%g outage=%s clockSkew=%v\n",
		f.Latency, f.Jitter, f.RateLimit, f.ErrorRate, f.Outage, f.ClockSkew)
	for name, q := range cfg.SharedQuotas {
		fmt.Fprintf(e.stdout, "  shared quota    %s %g/s burst %d\n", name, q.Rate, q.Burst)
	}
	for _, dc := range cfg.DataCenters {
		fmt.Fprintf(e.stdout, "  data center     %s at %s://%s\n", dc.Name, scheme, dc.Domain)
	}
	for _, s := range cfg.Sites {
		sf := s.Faults
		fmt.Fprintf(e.stdout, "  site %-10s apiKey=%s userKey=%s secret=%s partnerSecret=%s bearer=%t dataCenter=%s quota=%g/s burst=%d sharedQuota=%s faults: code=%d httpStatus=%d outage=%s lostRate=%g lost=%s\n",
			s.Name, s.APIKey, s.UserKey, simShown(s.Secret, ""), simShown(s.PartnerSecret, ""), s.PublicKey != nil,
			simOr(s.DataCenter, "(any)"), s.Quota.Rate, s.Quota.Burst, simOr(s.SharedQuota, "(none)"), sf.Code, sf.HTTPStatus, simOr(sf.Outage, "none"), sf.LostRate, simOr(sf.Lost, "drop"))
	}
	fmt.Fprintf(e.stdout, "  admin (no auth) GET %[1]s/_sim/stats[?site=NAME], GET|PUT %[1]s/_sim/faults[?site=NAME], GET|PUT %[1]s/_sim/quota?site=NAME, GET %[1]s/_sim/sites, POST %[1]s/_sim/reset\n", url)
}

// simShown is how the banner shows a secret: never its value, unless it is
// the demo one.
func simShown(v, demo string) string {
	switch {
	case v == "":
		return "(none)"
	case demo != "" && v == demo:
		return v + "   (demo value)"
	}
	return "(set; not printed)"
}

func simBearer(k *rsa.PublicKey) string {
	if k == nil {
		return "disabled (no --public-key-file)"
	}
	return fmt.Sprintf("enabled (RS256, kid = userKey, %d-bit key)", k.N.BitLen())
}

func simOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
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
