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
func (s *Server) handle(r *http.Request, site *siteState, method string, now time.Time) (*userInfo, *apiError) {
	form := r.Form
	if e := s.authenticate(r, site, form, now); e != nil {
		return nil, e
	}
	uid := form.Get("UID")
	if uid == "" {
		return nil, errorf(codeMissingParameter, "UID")
	}
	if method == MethodGetUserInfo {
		return s.getUserInfo(site, uid, now)
	}
	return nil, s.notifyRegistration(site, form, uid, now)
}

// authenticate checks the request's credentials: a bearer token if there is
// an Authorization header, else userKey+secret if there is a secret, else a
// signed request if there is a sig.
func (s *Server) authenticate(r *http.Request, site *siteState, form url.Values, now time.Time) *apiError {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return errorf(codeInvalidRequest, "Authorization header: want \"Bearer <jwt>\"")
		}
		return s.authBearer(site.cfg, token, now)
	}
	if _, ok := form["secret"]; ok {
		return authSecret(site.cfg, r, form)
	}
	if _, ok := form["sig"]; ok {
		return s.authSigned(site.cfg, r, form, now)
	}
	return errorf(codeUnauthorized, "no credentials: send a bearer token, userKey+secret, or a signed request")
}

func (s *Server) authBearer(site Site, token string, now time.Time) *apiError {
	if site.PublicKey == nil {
		return errorf(codeUnauthorized, "bearer authentication is not enabled in the simulator (no public key)")
	}
	kid, claims, err := gigya.VerifyJWT(token, site.PublicKey)
	if err != nil {
		return errorf(codeInvalidSignature, "%v", err)
	}
	if kid != site.UserKey {
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

func authSecret(site Site, r *http.Request, form url.Values) *apiError {
	// Refused before it is even compared: the secret has already travelled
	// in clear, which is the point of the error.
	if r.TLS == nil && !loopbackListener(r) {
		return errorf(codeSecretOverHTTP, "a secret must be sent over HTTPS")
	}
	userKey := form.Get("userKey")
	switch {
	case userKey == "":
		return errorf(codeUnauthorized, "a secret without userKey (partner secret authentication) is no longer accepted")
	case site.Secret == "":
		return errorf(codeUnauthorized, "secret authentication is not enabled in the simulator (no application secret)")
	case userKey != site.UserKey:
		return errorf(codeUnauthorized, "unknown userKey")
	case subtle.ConstantTimeCompare([]byte(form.Get("secret")), []byte(site.Secret)) != 1:
		return errorf(codeInvalidSecret, "the secret does not match the userKey")
	}
	return nil
}

func (s *Server) authSigned(site Site, r *http.Request, form url.Values, now time.Time) *apiError {
	if site.Secret == "" {
		return errorf(codeUnauthorized, "signed requests are not enabled in the simulator (no application secret)")
	}
	for _, p := range []string{"userKey", "timestamp", "nonce"} {
		if form.Get(p) == "" {
			return errorf(codeMissingParameter, "%s", p)
		}
	}
	userKey := form.Get("userKey")
	if userKey != site.UserKey {
		return errorf(codeUnauthorized, "unknown userKey")
	}
	ts, err := strconv.ParseInt(form.Get("timestamp"), 10, 64)
	if err != nil {
		return errorf(codeInvalidParameter, "timestamp: want Unix seconds")
	}
	want, err := gigya.RequestSignature(site.Secret, requestURL(r), form)
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

func (s *Server) notifyRegistration(site *siteState, form url.Values, uid string, now time.Time) *apiError {
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
		if e := checkUIDSig(site.cfg.PartnerSecret, form, siteUID, now); e != nil {
			return e
		}
	}
	return site.accounts.notify(uid, siteUID, withSiteUID, s.cfg.Strict)
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

// checkUIDSig verifies UIDTimestamp + UIDSig when the call carries them.
// Without both, a credentialed server call is accepted: Gigya requires them
// only from client side.
func checkUIDSig(partnerSecret string, form url.Values, siteUID string, now time.Time) *apiError {
	tsGiven, sigGiven := form.Get("UIDTimestamp") != "", form.Get("UIDSig") != ""
	switch {
	case !tsGiven && !sigGiven:
		return nil
	case !tsGiven:
		return errorf(codeMissingParameter, "UIDTimestamp (required with UIDSig)")
	case !sigGiven:
		return errorf(codeMissingParameter, "UIDSig (required with UIDTimestamp)")
	}
	ts, err := strconv.ParseInt(form.Get("UIDTimestamp"), 10, 64)
	if err != nil {
		return errorf(codeInvalidParameter, "UIDTimestamp: want Unix seconds")
	}
	if partnerSecret == "" {
		return errorf(codeInvalidSignature, "UIDSig: the simulator has no partner secret for this site to verify it")
	}
	want, err := gigya.UIDSignature(partnerSecret, ts, siteUID)
	if err != nil || !hmac.Equal([]byte(want), []byte(form.Get("UIDSig"))) {
		return errorf(codeInvalidSignature, "UIDSig does not match UIDTimestamp and siteUID")
	}
	if outside(now, time.Unix(ts, 0), UIDSigWindow) {
		return errorf(codeRequestExpired, "UIDTimestamp is more than %v away from the server clock", UIDSigWindow)
	}
	return nil
}

func (s *Server) getUserInfo(site *siteState, uid string, now time.Time) (*userInfo, *apiError) {
	v, e := site.accounts.lookup(uid)
	if e != nil {
		return nil, e
	}
	info := &userInfo{
		UID:          v.uid,
		IsSiteUID:    v.isSiteUID,
		IsRegistered: v.registered,
		Identities:   []any{},
	}
	if site.cfg.PartnerSecret != "" {
		ts := now.Unix()
		if sig, err := gigya.UIDSignature(site.cfg.PartnerSecret, ts, v.uid); err == nil {
			info.UIDSignature = sig
			info.SignatureTimestamp = strconv.FormatInt(ts, 10)
		}
	}
	return info, nil
}
