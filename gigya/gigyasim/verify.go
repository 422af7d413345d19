package gigyasim

import (
	"crypto/hmac"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/regnotify/regnotify/gigya"
)

// handle verifies a call and runs its method; now is the simulator's clock.
// The order is Gigya's as far as we can tell: apiKey, request
// authentication, parameters, then the account.
func (s *Server) handle(r *http.Request, method string, now time.Time) (*userInfo, *apiError) {
	form := r.Form
	if e := s.checkAPIKey(form); e != nil {
		return nil, e
	}
	if e := s.authenticate(r, form, now); e != nil {
		return nil, e
	}
	uid := form.Get("UID")
	if uid == "" {
		return nil, errorf(codeMissingParameter, "UID")
	}
	if method == MethodGetUserInfo {
		return s.getUserInfo(uid, now)
	}
	return nil, s.notifyRegistration(form, uid, now)
}

func (s *Server) checkAPIKey(form url.Values) *apiError {
	key, ok := form["apiKey"]
	switch {
	case !ok:
		return errorf(codeInvalidAPIKey, "apiKey is missing (is the body application/x-www-form-urlencoded?)")
	case len(key) != 1 || key[0] != s.cfg.APIKey:
		return errorf(codeInvalidAPIKey, "unknown apiKey")
	}
	return nil
}

// authenticate checks the request's credentials: a bearer token if there is
// an Authorization header, else userKey+secret if there is a secret, else a
// signed request if there is a sig.
func (s *Server) authenticate(r *http.Request, form url.Values, now time.Time) *apiError {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return errorf(codeInvalidRequest, "Authorization header: want \"Bearer <jwt>\"")
		}
		return s.authBearer(token, now)
	}
	if _, ok := form["secret"]; ok {
		return s.authSecret(r, form)
	}
	if _, ok := form["sig"]; ok {
		return s.authSigned(r, form, now)
	}
	return errorf(codeUnauthorized, "no credentials: send a bearer token, userKey+secret, or a signed request")
}

func (s *Server) authBearer(token string, now time.Time) *apiError {
	if s.cfg.PublicKey == nil {
		return errorf(codeUnauthorized, "bearer authentication is not enabled in the simulator (no public key)")
	}
	kid, claims, err := gigya.VerifyJWT(token, s.cfg.PublicKey)
	if err != nil {
		return errorf(codeInvalidSignature, "%v", err)
	}
	if kid != s.cfg.UserKey {
		return errorf(codeUnauthorized, "unknown application key in the token's kid")
	}
	if claims.JTI == "" {
		return errorf(codeMissingParameter, "jti claim")
	}
	iat := time.Unix(claims.IssuedAt, 0)
	if outside(now, iat, RequestWindow) {
		return errorf(codeRequestExpired, "iat is more than %v away from the server clock", RequestWindow)
	}
	if !s.replay.add("jti\x00"+kid+"\x00"+claims.JTI, iat.Add(RequestWindow), now) {
		return errorf(codeDuplicateNonce, "jti was already used")
	}
	return nil
}

func (s *Server) authSecret(r *http.Request, form url.Values) *apiError {
	// Refused before it is even compared: the secret has already travelled
	// in clear, which is the point of the error.
	if r.TLS == nil && !loopbackListener(r) {
		return errorf(codeSecretOverHTTP, "a secret must be sent over HTTPS")
	}
	userKey := form.Get("userKey")
	switch {
	case userKey == "":
		return errorf(codeUnauthorized, "a secret without userKey (partner secret authentication) is no longer accepted")
	case s.cfg.Secret == "":
		return errorf(codeUnauthorized, "secret authentication is not enabled in the simulator (no application secret)")
	case userKey != s.cfg.UserKey:
		return errorf(codeUnauthorized, "unknown userKey")
	case subtle.ConstantTimeCompare([]byte(form.Get("secret")), []byte(s.cfg.Secret)) != 1:
		return errorf(codeInvalidSecret, "the secret does not match the userKey")
	}
	return nil
}

func (s *Server) authSigned(r *http.Request, form url.Values, now time.Time) *apiError {
	if s.cfg.Secret == "" {
		return errorf(codeUnauthorized, "signed requests are not enabled in the simulator (no application secret)")
	}
	for _, p := range []string{"userKey", "timestamp", "nonce"} {
		if form.Get(p) == "" {
			return errorf(codeMissingParameter, "%s", p)
		}
	}
	userKey := form.Get("userKey")
	if userKey != s.cfg.UserKey {
		return errorf(codeUnauthorized, "unknown userKey")
	}
	ts, err := strconv.ParseInt(form.Get("timestamp"), 10, 64)
	if err != nil {
		return errorf(codeInvalidParameter, "timestamp: want Unix seconds")
	}
	want, err := gigya.RequestSignature(s.cfg.Secret, requestURL(r), form)
	if err != nil || !hmac.Equal([]byte(want), []byte(form.Get("sig"))) {
		return errorf(codeInvalidSignature, "sig does not match the request (signed URL must be %s)", requestURL(r))
	}
	at := time.Unix(ts, 0)
	if outside(now, at, RequestWindow) {
		return errorf(codeRequestExpired, "timestamp is more than %v away from the server clock", RequestWindow)
	}
	if !s.replay.add("nonce\x00"+userKey+"\x00"+form.Get("nonce"), at.Add(RequestWindow), now) {
		return errorf(codeDuplicateNonce, "nonce was already used")
	}
	return nil
}

// requestURL is the URL as the client posted it: scheme from the connection,
// host from the Host header. Behind a proxy that rewrites Host, signed
// requests will not verify.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}

// loopbackListener reports whether the connection came in on a loopback
// address (or a Unix socket). Unknown (no server context) counts as not.
func loopbackListener(r *http.Request) bool {
	switch a := r.Context().Value(http.LocalAddrContextKey).(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// outside reports whether t is more than window away from now.
func outside(now, t time.Time, window time.Duration) bool {
	d := now.Sub(t)
	return d > window || d < -window
}

func (s *Server) notifyRegistration(form url.Values, uid string, now time.Time) *apiError {
	_, withSiteUID := form["siteUID"]
	siteUID := form.Get("siteUID")
	if withSiteUID {
		if e := checkSiteUID(siteUID, uid); e != nil {
			return e
		}
	}
	if len(form.Get("cid")) > maxCIDLength {
		return errorf(codeInvalidParameter, "cid: longer than %d characters", maxCIDLength)
	}
	if withSiteUID {
		if e := s.checkUIDSig(form, siteUID, now); e != nil {
			return e
		}
	}
	return s.accounts.notify(uid, siteUID, withSiteUID, s.cfg.Strict)
}

// checkSiteUID applies Gigya's siteUID rules.
func checkSiteUID(siteUID, uid string) *apiError {
	switch {
	case siteUID == "":
		return errorf(codeInvalidParameter, "siteUID: empty")
	case len(siteUID) > maxSiteUIDLength:
		return errorf(codeInvalidParameter, "siteUID: longer than %d characters", maxSiteUIDLength)
	case siteUID == uid:
		return errorf(codeInvalidParameter, "siteUID: must differ from UID")
	}
	for i := 0; i < len(siteUID); i++ {
		if c := siteUID[i]; c < 0x20 || c > 0x7e {
			return errorf(codeInvalidParameter, "siteUID: byte %d is not printable ASCII", i)
		}
	}
	return nil
}

func (s *Server) checkUIDSig(form url.Values, siteUID string, now time.Time) *apiError {
	for _, p := range []string{"UIDTimestamp", "UIDSig"} {
		if form.Get(p) == "" {
			return errorf(codeMissingParameter, "%s (required with siteUID)", p)
		}
	}
	ts, err := strconv.ParseInt(form.Get("UIDTimestamp"), 10, 64)
	if err != nil {
		return errorf(codeInvalidParameter, "UIDTimestamp: want Unix seconds")
	}
	if s.cfg.PartnerSecret == "" {
		return errorf(codeInvalidSignature, "UIDSig: the simulator has no partner secret to verify it")
	}
	want, err := gigya.UIDSignature(s.cfg.PartnerSecret, ts, siteUID)
	if err != nil || !hmac.Equal([]byte(want), []byte(form.Get("UIDSig"))) {
		return errorf(codeInvalidSignature, "UIDSig does not match UIDTimestamp and siteUID")
	}
	if outside(now, time.Unix(ts, 0), UIDSigWindow) {
		return errorf(codeRequestExpired, "UIDTimestamp is more than %v away from the server clock", UIDSigWindow)
	}
	return nil
}

func (s *Server) getUserInfo(uid string, now time.Time) (*userInfo, *apiError) {
	v, e := s.accounts.lookup(uid)
	if e != nil {
		return nil, e
	}
	info := &userInfo{
		UID:          v.uid,
		IsSiteUID:    v.isSiteUID,
		IsRegistered: v.registered,
		Identities:   []any{},
	}
	if s.cfg.PartnerSecret != "" {
		ts := now.Unix()
		if sig, err := gigya.UIDSignature(s.cfg.PartnerSecret, ts, v.uid); err == nil {
			info.UIDSignature = sig
			info.SignatureTimestamp = strconv.FormatInt(ts, 10)
		}
	}
	return info, nil
}
