package gigya

import (
	"net/url"
	"testing"
)

func BenchmarkUIDSignature(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UIDSignature(demoSecret, 1700000000, "site-user-42"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequestSignature(b *testing.B) {
	params := url.Values{
		"UID": {"_guid_abc=="}, "siteUID": {"user 42/ü"}, "apiKey": {"3_apikey"}, "format": {"json"},
		"httpStatusCodes": {"false"}, "nonce": {"1700000000000123"}, "timestamp": {"1700000000"},
		"userKey": {"AKey"}, "UIDTimestamp": {"1700000000"}, "UIDSig": {"Bew3r9C737ouj74ynCb0TsK3Gxs="},
	}
	const u = "https://socialize.us1.gigya.com/socialize.notifyRegistration"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RequestSignature(demoSecret, u, params); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignJWT is the cost that dominates bearer mode: one RSA-2048
// signature per attempt.
func BenchmarkSignJWT(b *testing.B) {
	key := testKey()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SignJWT(key, "user-key", JWTClaims{IssuedAt: 1700000000, JTI: "1700000000000-0123456789abcdef"}); err != nil {
			b.Fatal(err)
		}
	}
}
