package gigya

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// CalcSignature is Gigya's calcSignature: base64(HMAC-SHA1(base64decode(secret), msg)).
// It signs siteUIDs (UIDSig, msg = timestamp + "_" + siteUID) and, with a
// different base string, OAuth1-style requests.
func CalcSignature(secretB64, msg string) (string, error) {
	key, err := base64.StdEncoding.DecodeString(secretB64)
	if err != nil {
		return "", errors.New("calc signature: secret is not valid base64")
	}
	return calcSignature(key, msg), nil
}

func calcSignature(key []byte, msg string) string {
	m := hmac.New(sha1.New, key)
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// UIDSignature returns the UIDSig of siteUID at the Unix time ts.
func UIDSignature(partnerSecretB64 string, ts int64, siteUID string) (string, error) {
	return CalcSignature(partnerSecretB64, strconv.FormatInt(ts, 10)+"_"+siteUID)
}

// RequestSignature returns the OAuth1-style sig of a POST to rawURL with the
// given form parameters (any "sig" parameter is ignored).
func RequestSignature(secretB64, rawURL string, params url.Values) (string, error) {
	base, err := SignatureBaseString("POST", rawURL, params)
	if err != nil {
		return "", err
	}
	return CalcSignature(secretB64, base)
}

// SignatureBaseString builds METHOD&enc(normalized URL)&enc(sorted query).
func SignatureBaseString(method, rawURL string, params url.Values) (string, error) {
	normalized, err := normalizeURL(rawURL)
	if err != nil {
		return "", err
	}

	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "sig" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var qs strings.Builder
	for _, k := range keys {
		for _, v := range params[k] {
			if qs.Len() > 0 {
				qs.WriteByte('&')
			}
			qs.WriteString(k)
			qs.WriteByte('=')
			qs.WriteString(PercentEncode(v))
		}
	}
	return strings.ToUpper(method) + "&" + PercentEncode(normalized) + "&" + PercentEncode(qs.String()), nil
}

// normalizeURL is the URL part of the base string: scheme and host lower
// case, the port only if it is not the scheme's default, then the path.
func normalizeURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("signature base string: parse url: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && !(scheme == "http" && p == "80") && !(scheme == "https" && p == "443") {
		host += ":" + p
	}
	return scheme + "://" + host + u.EscapedPath(), nil
}

// PercentEncode encodes s RFC 3986 style: unreserved characters kept,
// everything else %XX with upper-case hex of its UTF-8 bytes.
func PercentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// ParseRSAPrivateKey reads a PEM RSA private key in PKCS#1 or PKCS#8 form.
func ParseRSAPrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("parse private key: no PEM block found")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("parse private key: neither PKCS#1 nor PKCS#8 RSA")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("parse private key: PKCS#8 key is not RSA")
	}
	return rk, nil
}

// JWTClaims are the claims of a Gigya bearer token.
type JWTClaims struct {
	IssuedAt int64  `json:"iat"`
	JTI      string `json:"jti"`
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

var b64url = base64.RawURLEncoding

// SignJWT returns an RS256 JWT with kid = userKey and the given claims.
func SignJWT(key *rsa.PrivateKey, userKey string, claims JWTClaims) (string, error) {
	h, _ := json.Marshal(jwtHeader{Alg: "RS256", Typ: "JWT", Kid: userKey})
	c, _ := json.Marshal(claims)
	signing := b64url.EncodeToString(h) + "." + b64url.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	return signing + "." + b64url.EncodeToString(sig), nil
}

// VerifyJWT checks an RS256 token against pub and returns its kid and claims.
// It checks the signature and the header only; freshness is the caller's.
func VerifyJWT(token string, pub *rsa.PublicKey) (kid string, claims JWTClaims, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", claims, errors.New("verify jwt: not three segments")
	}
	hb, err := b64url.DecodeString(parts[0])
	if err != nil {
		return "", claims, errors.New("verify jwt: header is not base64url")
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return "", claims, errors.New("verify jwt: header is not JSON")
	}
	if h.Alg != "RS256" {
		return "", claims, fmt.Errorf("verify jwt: alg %q, want RS256", h.Alg)
	}
	sig, err := b64url.DecodeString(parts[2])
	if err != nil {
		return "", claims, errors.New("verify jwt: signature is not base64url")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return "", claims, errors.New("verify jwt: bad signature")
	}
	cb, err := b64url.DecodeString(parts[1])
	if err != nil {
		return "", claims, errors.New("verify jwt: claims are not base64url")
	}
	if err := json.Unmarshal(cb, &claims); err != nil {
		return "", claims, errors.New("verify jwt: claims are not JSON")
	}
	return h.Kid, claims, nil
}
