package gigya

import (
	"crypto/rsa"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/events/field"
)

// AuthMode is how requests authenticate with an application key (userKey).
type AuthMode string

const (
	// AuthBearer sends a fresh RS256 JWT (kid = userKey) per request in the
	// Authorization header; SAP's recommendation. Needs PrivateKeyPEM.
	AuthBearer AuthMode = "bearer"
	// AuthSecret sends userKey and the application secret in the form body;
	// only over HTTPS (or to a loopback host). Needs Secret.
	AuthSecret AuthMode = "secret"
	// AuthSigned sends userKey, timestamp, nonce and an OAuth1-style
	// HMAC-SHA1 sig; the secret itself is not sent. Needs Secret.
	AuthSigned AuthMode = "signed"
)

// Defaults of Options.
const (
	DefaultDataCenter     = "us1.gigya.com"
	DefaultRequestTimeout = 10 * time.Second
	DefaultMaxConns       = 64
)

// Options configure a Client. The zero value of every optional field means
// its default. String redacts every secret, so an Options value can be
// logged.
type Options struct {
	// APIKey is the site's API key; required.
	APIKey string
	// DataCenter is the site's data center host; default "us1.gigya.com".
	// The base URL is https://socialize.<DataCenter>.
	DataCenter string
	// BaseURL, if set, overrides DataCenter, e.g. "http://127.0.0.1:8081"
	// for the simulator. Scheme http or https; a path prefix is allowed.
	BaseURL string
	// Auth is the request authentication mode; "" means AuthBearer if
	// PrivateKeyPEM is set, else AuthSecret.
	Auth AuthMode
	// UserKey is the application key; required in every mode.
	UserKey string
	// Secret is the application secret, base64 (AuthSecret, AuthSigned).
	Secret string
	// PrivateKeyPEM is the application's RSA private key, PKCS#1 or PKCS#8
	// PEM (AuthBearer).
	PrivateKeyPEM []byte
	// PartnerSecret (base64), optional, signs siteUIDs: with it every call
	// with a SiteUID carries UIDTimestamp + UIDSig; without it none does
	// (Gigya requires them only from client side).
	PartnerSecret string
	// RequestTimeout bounds one HTTP attempt, from connecting to reading the
	// body; default 10s. The 403002 retry gets a timeout of its own.
	RequestTimeout time.Duration
	// MaxConns is the number of idle keep-alive connections kept per host;
	// default 64. Set it to the worker's concurrency so that steady traffic
	// reuses connections instead of opening new ones.
	MaxConns int
	// Now is the local clock; default time.Now. Tests inject skewed clocks.
	Now func() time.Time
	// Observe, if set, is called once per HTTP attempt with the method, the
	// outcome and the attempt's duration. The outcome is the errorCode as
	// text ("0", "403005"), or "transport" (no response), "http_503" (HTTP
	// 5xx) or "invalid_response" (not Gigya's JSON). It must be fast and
	// safe for concurrent use; the worker turns it into Prometheus metrics.
	Observe func(method, code string, d time.Duration)
	// Logger receives the rare state changes of the client (the clock
	// offset); nil means zap.NewNop(). Failed calls are returned, not logged.
	Logger *zap.Logger
	// Transport overrides the HTTP transport. It exists for tests only (for
	// example the client transport of an httptest TLS server, which trusts
	// its certificate); production code leaves it nil and gets a transport
	// tuned by MaxConns and RequestTimeout. When set, MaxConns and the
	// connection timeouts are the Transport's business.
	Transport http.RoundTripper
	// TracerProvider, if set, gets one client span per HTTP attempt (named
	// after the method, with its errorCode, callId and the caller's attempt
	// number from WithAttempt), and the W3C traceparent of that span is sent
	// on the request. Nil means no tracing and no cost.
	TracerProvider trace.TracerProvider
}

const redacted = "[redacted]"

// String describes the options with every secret replaced by "[redacted]"
// (or "" when unset), so that a configuration can be logged safely.
func (o Options) String() string {
	secret := func(set bool) string {
		if set {
			return redacted
		}
		return `""`
	}
	var b strings.Builder
	b.WriteString("gigya.Options{APIKey:")
	b.WriteString(strconv.Quote(o.APIKey))
	b.WriteString(" DataCenter:")
	b.WriteString(strconv.Quote(o.DataCenter))
	b.WriteString(" BaseURL:")
	b.WriteString(strconv.Quote(redactURL(o.BaseURL)))
	b.WriteString(" Auth:")
	b.WriteString(strconv.Quote(string(o.Auth)))
	b.WriteString(" UserKey:")
	b.WriteString(strconv.Quote(o.UserKey))
	b.WriteString(" Secret:")
	b.WriteString(secret(o.Secret != ""))
	b.WriteString(" PrivateKeyPEM:")
	b.WriteString(secret(len(o.PrivateKeyPEM) > 0))
	b.WriteString(" PartnerSecret:")
	b.WriteString(secret(o.PartnerSecret != ""))
	b.WriteString(" RequestTimeout:")
	b.WriteString(o.RequestTimeout.String())
	b.WriteString(" MaxConns:")
	b.WriteString(strconv.Itoa(o.MaxConns))
	if o.Transport != nil {
		b.WriteString(" Transport:custom")
	}
	b.WriteByte('}')
	return b.String()
}

// GoString is String, so that %#v cannot print secrets either.
func (o Options) GoString() string { return o.String() }

// redactURL hides any password in a URL and refuses to echo what it cannot
// parse, since an unparsable URL might hold credentials.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	return u.Redacted()
}

// config is Options validated, with defaults applied and secrets decoded.
type config struct {
	apiKey        string
	userKey       string
	auth          AuthMode
	secret        string
	key           *rsa.PrivateKey
	partnerSecret string
	baseURL       string
	timeout       time.Duration
	maxConns      int
	fromBaseURL   bool // set up with Options.BaseURL, not a data center
}

// validate checks o. Its errors name the offending option and never quote a
// secret value.
func (o Options) validate() (config, error) {
	c := config{
		apiKey:        o.APIKey,
		userKey:       o.UserKey,
		auth:          o.Auth,
		secret:        o.Secret,
		partnerSecret: o.PartnerSecret,
		timeout:       o.RequestTimeout,
		maxConns:      o.MaxConns,
	}
	if c.apiKey == "" {
		return c, field.Errorf("Options", "APIKey", "is required")
	}
	if c.userKey == "" {
		return c, field.Errorf("Options", "UserKey", "is required (application key; partner-secret-only authentication is no longer accepted by Gigya)")
	}
	if c.auth == "" {
		c.auth = AuthSecret
		if len(o.PrivateKeyPEM) > 0 {
			c.auth = AuthBearer
		}
	}
	switch c.auth {
	case AuthBearer:
		if len(o.PrivateKeyPEM) == 0 {
			return c, field.Errorf("Options", "PrivateKeyPEM", "is required with Auth \"bearer\"")
		}
		k, err := ParseRSAPrivateKey(o.PrivateKeyPEM)
		if err != nil {
			// ParseRSAPrivateKey's errors never quote the key.
			return c, field.Errorf("Options", "PrivateKeyPEM", "%w", err)
		}
		c.key = k
	case AuthSecret, AuthSigned:
		if c.secret == "" {
			return c, field.Errorf("Options", "Secret", "is required with Auth %q", string(c.auth))
		}
		if _, err := base64.StdEncoding.DecodeString(c.secret); err != nil {
			return c, field.Errorf("Options", "Secret", "is not valid base64")
		}
	default:
		return c, field.Errorf("Options", "Auth", "unknown mode %q (want bearer, secret or signed)", string(c.auth))
	}
	if c.partnerSecret != "" {
		if _, err := base64.StdEncoding.DecodeString(c.partnerSecret); err != nil {
			return c, field.Errorf("Options", "PartnerSecret", "is not valid base64")
		}
	}
	if c.timeout < 0 {
		return c, field.Errorf("Options", "RequestTimeout", "%v is negative", c.timeout)
	}
	if c.timeout == 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.maxConns < 0 {
		return c, field.Errorf("Options", "MaxConns", "%d is negative", c.maxConns)
	}
	if c.maxConns == 0 {
		c.maxConns = DefaultMaxConns
	}

	base, err := baseURL(o.BaseURL, o.DataCenter)
	if err != nil {
		return c, err
	}
	c.baseURL = base.String()
	c.fromBaseURL = o.BaseURL != ""
	if c.auth == AuthSecret && base.Scheme == "http" && !isLoopback(base.Hostname()) {
		// Gigya answers 403006 anyway, but only after the secret has
		// crossed the network in clear text.
		return c, field.Errorf("Options", "BaseURL", "refusing to send the secret (auth \"secret\") over plain http to non-loopback host %q; use https, or Auth \"signed\" or \"bearer\"", base.Hostname())
	}
	return c, nil
}

// baseURL resolves the base URL from BaseURL or DataCenter.
func baseURL(raw, dc string) (*url.URL, error) {
	if raw == "" {
		if dc == "" {
			dc = DefaultDataCenter
		}
		if strings.ContainsAny(dc, "/:@?# \t") {
			return nil, field.Errorf("Options", "DataCenter", "%q is not a host name like %q (set the base URL for a full URL)", dc, DefaultDataCenter)
		}
		return &url.URL{Scheme: "https", Host: "socialize." + strings.ToLower(dc)}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, field.Errorf("Options", "BaseURL", "is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, field.Errorf("Options", "BaseURL", "scheme %q, want http or https", u.Scheme)
	case u.Host == "":
		return nil, field.Errorf("Options", "BaseURL", "has no host")
	case u.User != nil:
		return nil, field.Errorf("Options", "BaseURL", "must not contain credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, field.Errorf("Options", "BaseURL", "must not have a query or fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// isLoopback reports whether host can only be reached on this machine, where
// a clear-text secret does not cross a network.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
