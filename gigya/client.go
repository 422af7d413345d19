package gigya

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Gigya method names, as they appear in URLs, errors and Observe.
const (
	methodNotifyRegistration = "socialize.notifyRegistration"
	methodGetUserInfo        = "socialize.getUserInfo"
)

const (
	// maxBody bounds what is read of a response: Gigya's answers are a few
	// hundred bytes, so anything this large is not Gigya's answer (a proxy's
	// error page, say) and fails as transport. It also bounds the memory a
	// response costs: with 1 MiB, a 50 MB body cost ~2.5 MiB per request in
	// flight (176 MiB RSS at concurrency 64); see TestLargeBodyMemory.
	maxBody = 64 << 10
	// maxTLSCauses bounds the distinct TLS failure causes remembered for
	// logging each once.
	maxTLSCauses = 32
	// maxDrain bounds how much of an unread body is discarded to keep the
	// connection reusable; beyond it closing the connection is cheaper.
	maxDrain = 64 << 10
	// clockJitter is the change of the offset estimate below which it is
	// not updated: Date has one-second resolution, so smaller differences
	// are truncation noise, not drift.
	clockJitter = time.Second
)

// Client calls Gigya. It is safe for concurrent use; create one per process
// and call Close when done.
type Client struct {
	cfg     config
	http    *http.Client
	ep      atomic.Pointer[endpoints] // swapped by UseAPIDomain
	now     func() time.Time
	observe func(method, code string, d time.Duration)
	log     *zap.Logger
	tr      *tracer // nil without Options.TracerProvider

	// sec is the credential material (secrets, key, their signers),
	// swapped as a whole by SetSecrets.
	sec atomic.Pointer[secretSet]
	// offset is Gigya's clock minus the local clock, in nanoseconds.
	offset atomic.Int64
	bufs   sync.Pool // *[]byte of maxBody+1 bytes for response bodies

	tlsMu     sync.Mutex
	tlsCauses map[string]struct{} // TLS failure causes already logged
}

// New validates o and returns a Client. Its errors name the offending
// option and never contain a secret. It does not contact Gigya.
func New(o Options) (*Client, error) {
	cfg, err := o.validate()
	if err != nil {
		return nil, fmt.Errorf("new gigya client: %w", err)
	}
	rt := o.Transport
	if rt == nil {
		rt = newTransport(cfg.maxConns, cfg.timeout)
	}
	c := &Client{
		cfg: cfg,
		http: &http.Client{
			Transport: rt,
			// A redirect would re-send the form, and with it the secret, to
			// a host we did not choose; Gigya signals a wrong data center
			// with 301001 in JSON, never with an HTTP redirect.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now:     o.Now,
		observe: o.Observe,
		log:     o.Logger,
		tr:      newTracer(o.TracerProvider, cfg.baseURL),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	c.bufs.New = func() any { b := make([]byte, maxBody+1); return &b }
	set, err := newSecretSet(cfg.auth, cfg.secret, cfg.key, cfg.partnerSecret)
	if err != nil {
		return nil, fmt.Errorf("new gigya client: %w", err)
	}
	c.sec.Store(set)
	ep, err := c.endpointsFor(cfg.baseURL)
	if err != nil {
		return nil, fmt.Errorf("new gigya client: Options.BaseURL: %w", err)
	}
	c.ep.Store(ep)
	return c, nil
}

// newTransport is tuned for a worker that keeps up to maxConns requests in
// flight to one host.
func newTransport(maxConns int, timeout time.Duration) *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DialContext:       dialer.DialContext,
		ForceAttemptHTTP2: true,
		TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12},
		// Keep as many idle connections as requests in flight, so that
		// steady HTTP/1.1 traffic never closes and reopens connections (the
		// default of 2 per host would churn TLS handshakes at high load).
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		// No cap on open connections: the caller already bounds concurrency
		// (worker concurrency, rate limit). A cap here would queue requests
		// inside the transport, where the wait eats into RequestTimeout and
		// turns into timeouts that look ambiguous although nothing was sent.
		MaxConnsPerHost:     0,
		TLSHandshakeTimeout: 5 * time.Second,
		// Below the 60 s idle timeout common to load balancers, so that we
		// close idle connections before the server does; a POST on a
		// connection the server just closed fails and is not replayed.
		IdleConnTimeout: 50 * time.Second,
		// The per-attempt context (RequestTimeout) is what bounds a call;
		// this is a backstop, set later so that the context's clearer
		// error normally wins the race.
		ResponseHeaderTimeout: timeout + time.Second,
	}
}

// Close closes idle connections. The Client stays usable; Close exists so
// that a shutting-down process does not leave keep-alive connections open.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// ClockOffset is the current estimate of Gigya's clock minus the local
// clock (Options.Now), learnt from the Date header of Gigya's answers.
func (c *Client) ClockOffset() time.Duration { return time.Duration(c.offset.Load()) }

// NotifyRequest is one socialize.notifyRegistration call.
type NotifyRequest struct {
	UID     string // Gigya UID of the user; required
	SiteUID string // the site's own user id; optional, replaces the UID on success
	CID     string // optional analytics context id (≤ 100 chars)
	Context string // optional, echoed by Gigya; the worker passes the eventId
}

// Response is Gigya's answer to a successful call.
type Response struct {
	CallID string // Gigya callId, for SAP support tickets
}

// UserInfo is the part of socialize.getUserInfo's answer regnotify needs.
type UserInfo struct {
	UID       string // the account's UID as Gigya reports it
	IsSiteUID bool   // the UID is a siteUID set by notifyRegistration
	CallID    string // Gigya callId
}

// NotifyRegistration tells Gigya that the user UID registered on the site,
// and with SiteUID links the account to the site's user id. With
// Options.PartnerSecret a SiteUID is sent with UIDTimestamp and UIDSig;
// without, with neither (Gigya requires them only from client side). Every attempt is signed anew; after 403002 the
// client corrects its clock offset and tries exactly once more. Failures are
// *Error.
func (c *Client) NotifyRegistration(ctx context.Context, req NotifyRequest) (Response, error) {
	if req.UID == "" {
		return Response{}, localError(methodNotifyRegistration, "UID is required")
	}
	ep := c.ep.Load()
	r, err := c.call(ctx, &call{method: methodNotifyRegistration, url: ep.notify, encURL: ep.notifyEnc,
		uid: req.UID, siteUID: req.SiteUID, cid: req.CID, context: req.Context})
	if err != nil {
		return Response{}, err
	}
	return Response{CallID: r.CallID}, nil
}

// GetUserInfo asks Gigya about the account uid, which may be a siteUID. The
// worker uses it to confirm that a link already exists when
// NotifyRegistration says the UID is unknown. Failures are *Error.
func (c *Client) GetUserInfo(ctx context.Context, uid string) (UserInfo, error) {
	if uid == "" {
		return UserInfo{}, localError(methodGetUserInfo, "UID is required")
	}
	ep := c.ep.Load()
	r, err := c.call(ctx, &call{method: methodGetUserInfo, url: ep.user, encURL: ep.userEnc, uid: uid})
	if err != nil {
		return UserInfo{}, err
	}
	return UserInfo{UID: r.UID, IsSiteUID: r.IsSiteUID, CallID: r.CallID}, nil
}

// call is one Gigya call, before authentication.
type call struct {
	method, url                string
	encURL                     string // for the signed mode's sig
	uid, siteUID, cid, context string
}

// answer is Gigya's JSON answer, both methods' fields together.
type answer struct {
	ErrorCode    int    `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
	ErrorDetails string `json:"errorDetails"`
	CallID       string `json:"callId"`
	APIDomain    string `json:"apiDomain"`
	UID          string `json:"UID"`
	IsSiteUID    bool   `json:"isSiteUID"`
}

// call runs cl, retrying once after 403002 with the corrected clock.
func (c *Client) call(ctx context.Context, cl *call) (answer, error) {
	a, err := c.tracedAttempt(ctx, cl, 0)
	var ge *Error
	if err != nil && errors.As(err, &ge) && ge.Code == 403002 && ctx.Err() == nil {
		// attempt already took the offset from this answer's Date.
		a, err = c.tracedAttempt(ctx, cl, 1)
	}
	return a, err
}

// attemptSecrets are the credentials made for one attempt, to scrub from
// whatever Gigya echoes back.
type attemptSecrets struct{ uidSig, sig, token string }

// attempt makes one HTTP request with fresh credentials.
func (c *Client) attempt(ctx context.Context, cl *call) (answer, error) {
	cs := c.secrets()
	f, sec, err := c.credentials(cl, cs)
	if err != nil {
		return answer{}, err
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, cl.url, bytes.NewReader(f.encode()))
	if err != nil {
		return answer{}, localError(cl.method, "build request: "+err.Error())
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if sec.token != "" {
		req.Header.Set("Authorization", "Bearer "+sec.token)
	}
	c.tr.inject(actx, req.Header)

	// Durations use the real monotonic clock: Options.Now may be skewed.
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.record(cl.method, "transport", start)
		c.logTLSFailure(req.URL.Host, err)
		// *url.Error names method and URL (never the body) and wraps the
		// cause, e.g. context.DeadlineExceeded.
		return answer{}, &Error{Method: cl.method, Err: err}
	}
	defer func() {
		// Drain so that the connection goes back to the pool.
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
		_ = resp.Body.Close()
	}()
	a, err := c.readAnswer(cl, resp, start)
	if err != nil {
		return answer{}, err
	}

	// Only Gigya's own answers teach the clock: an error page from a proxy
	// may come from a machine with another idea of the time.
	c.learnClock(resp.Header.Get("Date"), a.ErrorCode == 403002)

	if a.ErrorCode != 0 {
		scrub := scrubber(cs.secret, cs.partnerSecret, sec.uidSig, sec.sig, sec.token)
		return answer{}, &Error{
			Method:     cl.method,
			Code:       a.ErrorCode,
			Message:    scrub(a.ErrorMessage),
			Details:    scrub(a.ErrorDetails),
			CallID:     scrub(a.CallID),
			APIDomain:  scrub(a.APIDomain),
			HTTPStatus: resp.StatusCode,
		}
	}
	return a, nil
}

// credentials builds the form of one attempt with fresh credentials: the
// UIDSig of the siteUID, and the request authentication of the mode.
func (c *Client) credentials(cl *call, cs *secretSet) (form, attemptSecrets, error) {
	now := c.now()
	ts := now.Add(c.ClockOffset()).Unix()
	var sec attemptSecrets
	f := make(form, 0, 12)
	f = append(f,
		param{"apiKey", c.cfg.apiKey},
		param{"format", "json"},
		param{"httpStatusCodes", "false"},
		param{"UID", cl.uid})
	if cl.siteUID != "" {
		f = append(f, param{"siteUID", cl.siteUID})
		// UIDTimestamp and UIDSig are required only from client side;
		// sent whenever a partner secret is configured.
		if cs.partner != nil {
			sec.uidSig = cs.partner.uidSig(ts, cl.siteUID)
			f = append(f,
				param{"UIDTimestamp", strconv.FormatInt(ts, 10)},
				param{"UIDSig", sec.uidSig})
		}
	}
	if cl.cid != "" {
		f = append(f, param{"cid", cl.cid})
	}
	if cl.context != "" {
		f = append(f, param{"context", cl.context})
	}
	switch c.cfg.auth {
	case AuthSecret:
		f = append(f, param{"userKey", c.cfg.userKey}, param{"secret", cs.secret})
	case AuthSigned:
		f = append(f,
			param{"userKey", c.cfg.userKey},
			param{"timestamp", strconv.FormatInt(ts, 10)},
			param{"nonce", uniqueID(now)})
		sec.sig = cs.app.requestSig(cl.encURL, f)
		f = append(f, param{"sig", sec.sig})
	case AuthBearer:
		var err error
		sec.token, err = SignJWT(cs.key, c.cfg.userKey, JWTClaims{IssuedAt: ts, JTI: uniqueID(now)})
		if err != nil {
			return nil, sec, localError(cl.method, "sign bearer token: "+err.Error())
		}
	}
	return f, sec, nil
}

// readAnswer reads Gigya's JSON answer from resp, recording the attempt;
// anything that is not one is a transport failure.
func (c *Client) readAnswer(cl *call, resp *http.Response, start time.Time) (answer, error) {
	if resp.StatusCode >= 500 {
		c.record(cl.method, "http_"+strconv.Itoa(resp.StatusCode), start)
		// http.StatusText, not resp.Status: the status line is the
		// server's text and ends up in logs and dead-letter headers.
		return answer{}, &Error{Method: cl.method, HTTPStatus: resp.StatusCode,
			Err: errors.New("HTTP " + strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode))}
	}

	// A fixed buffer from the pool: a body's cost is at most maxBody+1
	// bytes per request in flight whatever its size, and nothing in steady
	// state (a growing bytes.Buffer cost ~4x that per call).
	bufp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bufp)
	n, err := io.ReadFull(resp.Body, *bufp)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil // shorter than the buffer: the whole body
	}
	if err != nil {
		c.record(cl.method, "transport", start)
		return answer{}, &Error{Method: cl.method, HTTPStatus: resp.StatusCode, Err: fmt.Errorf("read response: %w", err)}
	}
	if n > maxBody {
		c.record(cl.method, "invalid_response", start)
		return answer{}, &Error{Method: cl.method, HTTPStatus: resp.StatusCode,
			Err: errors.New("invalid response: body larger than 64 KiB")}
	}
	body := (*bufp)[:n]
	a := answer{ErrorCode: -1} // -1: no errorCode in the body
	if err := json.Unmarshal(body, &a); err != nil || a.ErrorCode == -1 {
		c.record(cl.method, "invalid_response", start)
		// The body itself is not quoted: it is not Gigya's and could be
		// anything, including an echo of the request.
		return answer{}, &Error{Method: cl.method, HTTPStatus: resp.StatusCode,
			Err: fmt.Errorf("invalid response: HTTP %d, %s, %d bytes, not Gigya JSON", resp.StatusCode, mediaType(resp.Header.Get("Content-Type")), n)}
	}
	c.record(cl.method, codeText(a.ErrorCode), start)
	return a, nil
}

// logTLSFailure logs a TLS failure (untrusted, expired or wrong
// certificate, a handshake alert) at warn, once per distinct cause:
// at debug, as other transport failures are, a self-signed certificate
// looked like an outage. Not per request: an outage of this kind fails
// every call the same way.
func (c *Client) logTLSFailure(host string, err error) {
	cause, ok := tlsCause(err)
	if !ok {
		return
	}
	key := host + "\x00" + cause
	c.tlsMu.Lock()
	_, seen := c.tlsCauses[key]
	if !seen && len(c.tlsCauses) < maxTLSCauses {
		if c.tlsCauses == nil {
			c.tlsCauses = make(map[string]struct{})
		}
		c.tlsCauses[key] = struct{}{}
	}
	c.tlsMu.Unlock()
	if !seen {
		c.log.Warn("gigya TLS failure: check the certificate, the CA bundle and the base URL",
			zap.String("host", host), zap.String("cause", cause))
	}
}

// tlsCause is the text of the TLS or certificate error in err's chain.
func tlsCause(err error) (string, bool) {
	var (
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		alert   tls.AlertError
	)
	switch {
	case errors.As(err, &verify):
		return verify.Err.Error(), true
	case errors.As(err, &unknown):
		return unknown.Error(), true
	case errors.As(err, &host):
		return host.Error(), true
	case errors.As(err, &invalid):
		return invalid.Error(), true
	case errors.As(err, &alert):
		return alert.Error(), true
	}
	return "", false
}

// record reports one HTTP attempt to Options.Observe.
func (c *Client) record(method, code string, start time.Time) {
	if c.observe != nil {
		c.observe(method, code, time.Since(start))
	}
}

// codeText is strconv.Itoa without an allocation for the common success.
func codeText(code int) string {
	if code == 0 {
		return "0"
	}
	return strconv.Itoa(code)
}

// learnClock updates the offset from a Date header. Unless force is set
// (after 403002, when Gigya says our timestamp is wrong), differences below
// clockJitter are ignored. Concurrent updates may overwrite each other;
// each is a valid estimate, so the last one winning is fine.
func (c *Client) learnClock(date string, force bool) {
	if date == "" {
		return
	}
	server, err := http.ParseTime(date)
	if err != nil {
		return
	}
	sample := server.Sub(c.now())
	old := time.Duration(c.offset.Load())
	diff := sample - old
	if diff < 0 {
		diff = -diff
	}
	if diff == 0 || (!force && diff < clockJitter) {
		return
	}
	c.offset.Store(int64(sample))
	if diff >= clockJitter {
		c.log.Info("gigya clock offset changed",
			zap.Duration("offset", sample), zap.Duration("previous", old), zap.Bool("after_403002", force))
	}
}

// uniqueID makes a nonce or JWT id: the time in milliseconds for humans
// reading Gigya logs, and 64 random bits so that concurrent workers on many
// machines never collide (a reused nonce or jti is rejected with 403004).
func uniqueID(now time.Time) string {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // never fails since Go 1.24
	b := make([]byte, 0, 20+1+16)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, '-')
	b = hex.AppendEncode(b, rnd[:])
	return string(b)
}

// mediaType is the validated media type of a Content-Type header, for error
// texts: the raw header is the server's text.
func mediaType(header string) string {
	if header == "" {
		return "no content type"
	}
	mt, _, err := mime.ParseMediaType(header)
	if err != nil || len(mt) > 64 {
		return "invalid content type"
	}
	return mt
}

// scrubber returns a function that replaces every given secret, plain or
// form-encoded, with "[redacted]": Gigya's errorDetails may quote a
// parameter it did not like.
func scrubber(secrets ...string) func(string) string {
	return func(s string) string {
		if s == "" {
			return s
		}
		for _, x := range secrets {
			if x == "" {
				continue
			}
			for _, v := range [...]string{x, url.QueryEscape(x), PercentEncode(x)} {
				if strings.Contains(s, v) {
					s = strings.ReplaceAll(s, v, redacted)
				}
			}
		}
		return s
	}
}

// param is one form field; form keeps fields in order and avoids the map of
// url.Values on the hot path.
type param struct{ k, v string }

type form []param

// encode is application/x-www-form-urlencoded.
func (f form) encode() []byte {
	n := 0
	for _, p := range f {
		n += len(p.k) + len(p.v) + 2
	}
	b := make([]byte, 0, n+n/4)
	for i, p := range f {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, url.QueryEscape(p.v)...)
	}
	return b
}
