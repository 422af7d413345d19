package gigya

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"hash"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// signer computes calcSignature with one secret on the hot path: the secret
// is decoded once and HMAC-SHA1 states are reused, and request base strings
// are built in one buffer instead of through url.Values, a sort of a map's
// keys and repeated encoding. It produces exactly what CalcSignature,
// UIDSignature and RequestSignature produce (tested), which stay the
// readable reference implementations.
type signer struct {
	macs sync.Pool // hash.Hash: HMAC-SHA1 keyed with the secret
	bufs sync.Pool // *[]byte: message buffers
}

func newSigner(secretB64 string) (*signer, error) {
	key, err := base64.StdEncoding.DecodeString(secretB64)
	if err != nil {
		return nil, errors.New("secret is not valid base64")
	}
	s := &signer{}
	s.macs.New = func() any { return hmac.New(sha1.New, key) }
	s.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return s, nil
}

func (s *signer) sum(msg []byte) string {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(msg)
	var out [sha1.Size]byte
	sig := base64.StdEncoding.EncodeToString(m.Sum(out[:0]))
	s.macs.Put(m)
	return sig
}

// uidSig is UIDSignature(secret, ts, siteUID).
func (s *signer) uidSig(ts int64, siteUID string) string {
	bp := s.bufs.Get().(*[]byte)
	b := strconv.AppendInt((*bp)[:0], ts, 10)
	b = append(b, '_')
	b = append(b, siteUID...)
	sig := s.sum(b)
	*bp = b
	s.bufs.Put(bp)
	return sig
}

// requestSig is RequestSignature(secret, url, f) for a form whose keys are
// unique, given encURL = PercentEncode(normalizeURL(url)).
func (s *signer) requestSig(encURL string, f form) string {
	var arr [16]param
	sorted := append(arr[:0], f...)
	slices.SortFunc(sorted, func(a, b param) int { return strings.Compare(a.k, b.k) })
	bp := s.bufs.Get().(*[]byte)
	b := append((*bp)[:0], "POST&"...)
	b = append(b, encURL...)
	b = append(b, '&')
	for i, p := range sorted {
		if p.k == "sig" {
			continue
		}
		if i > 0 {
			b = append(b, "%26"...) // '&' encoded
		}
		b = appendPercentEncoded(b, p.k, false)
		b = append(b, "%3D"...) // '=' encoded
		b = appendPercentEncoded(b, p.v, true)
	}
	sig := s.sum(b)
	*bp = b
	s.bufs.Put(bp)
	return sig
}

// appendPercentEncoded appends PercentEncode(v), or with twice set
// PercentEncode(PercentEncode(v)): the base string encodes the query string
// once more, so a value's '%' escapes become '%25'.
func appendPercentEncoded(b []byte, v string, twice bool) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' {
			b = append(b, c)
			continue
		}
		if twice {
			b = append(b, "%25"...)
		} else {
			b = append(b, '%')
		}
		b = append(b, hex[c>>4], hex[c&15])
	}
	return b
}
