package gigya

import (
	"math/rand/v2"
	"net/url"
	"testing"
)

// TestSignerMatchesReference checks the hot-path signer against the
// reference functions that the published test vectors pin, on the vectors'
// inputs and on random forms.
func TestSignerMatchesReference(t *testing.T) {
	s, err := newSigner(demoSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.uidSig(1700000000, "site-user-42"), "Bew3r9C737ouj74ynCb0TsK3Gxs="; got != want {
		t.Errorf("uidSig = %q, want the vector %q", got, want)
	}
	vector := form{{"UID", "_guid_abc=="}, {"siteUID", "user 42/ü"}, {"apiKey", "3_apikey"}, {"format", "json"},
		{"httpStatusCodes", "false"}, {"nonce", "1700000000000123"}, {"timestamp", "1700000000"}, {"sdk", "python_3.6.0"}}
	const vectorURL = "https://socialize.us1.gigya.com/socialize.notifyRegistration"
	norm, err := normalizeURL(vectorURL)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.requestSig(PercentEncode(norm), vector), "neupdRbijOH+f+8xNIXI5bp0BZ8="; got != want {
		t.Errorf("requestSig = %q, want the vector %q", got, want)
	}

	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aZ09-_.~ !/=&%+:ü€\t\"'")
	str := func(n int) string {
		b := make([]rune, r.IntN(n))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for i := range 2000 {
		f := form{}
		vals := url.Values{}
		for j, k := range []string{"apiKey", "UID", "siteUID", "UIDTimestamp", "UIDSig", "cid", "context", "userKey", "timestamp", "nonce", "format"} {
			if j > 3 && r.IntN(2) == 0 {
				continue
			}
			v := str(30)
			f = append(f, param{k, v})
			vals.Set(k, v)
		}
		rng := rand.Perm(len(f))
		shuffled := make(form, len(f))
		for a, b := range rng {
			shuffled[a] = f[b]
		}
		want, err := RequestSignature(demoSecret, vectorURL, vals)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.requestSig(PercentEncode(norm), shuffled); got != want {
			t.Fatalf("form %d %v: requestSig = %q, RequestSignature = %q", i, shuffled, got, want)
		}
		ts, site := int64(r.Uint32()), str(40)
		wantUID, _ := UIDSignature(demoSecret, ts, site)
		if got := s.uidSig(ts, site); got != wantUID {
			t.Fatalf("uidSig(%d, %q) = %q, UIDSignature = %q", ts, site, got, wantUID)
		}
	}
	if _, err := newSigner("not base64!"); err == nil {
		t.Error("newSigner(invalid base64): got nil error")
	}
}

// BenchmarkSigner is the hot path's signing of one signed notifyRegistration
// with a siteUID: compare with BenchmarkRequestSignature plus
// BenchmarkUIDSignature, the reference functions.
func BenchmarkSigner(b *testing.B) {
	s, err := newSigner(demoSecret)
	if err != nil {
		b.Fatal(err)
	}
	norm, _ := normalizeURL("https://socialize.us1.gigya.com/socialize.notifyRegistration")
	enc := PercentEncode(norm)
	f := form{{"apiKey", "3_apikey"}, {"format", "json"}, {"httpStatusCodes", "false"}, {"UID", "_gid_Zm9vYmFy"},
		{"siteUID", "customer-42"}, {"UIDTimestamp", "1700000000"}, {"UIDSig", ""}, {"context", "7f1c"},
		{"userKey", "AB12"}, {"timestamp", "1700000000"}, {"nonce", "1700000000000-0123456789abcdef"}}
	b.ReportAllocs()
	for b.Loop() {
		f[6].v = s.uidSig(1700000000, "customer-42")
		_ = s.requestSig(enc, f)
	}
}
