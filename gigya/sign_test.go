package gigya

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/url"
	"testing"
)

// demoSecret is base64("demo-partner-secret-bytes"), from the shared Gigya notes.
const demoSecret = "ZGVtby1wYXJ0bmVyLXNlY3JldC1ieXRlcw=="

func TestUIDSignatureVectors(t *testing.T) {
	tests := []struct {
		ts      int64
		siteUID string
		want    string
	}{
		{1700000000, "site-user-42", "Bew3r9C737ouj74ynCb0TsK3Gxs="},
		{1700000000, "uid-123", "TAqgriKdg5jO1zcSb0eE42pnYzw="},
	}
	for _, tt := range tests {
		got, err := UIDSignature(demoSecret, tt.ts, tt.siteUID)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("UIDSignature(%d, %q) = %q, want %q", tt.ts, tt.siteUID, got, tt.want)
		}
	}
}

func TestRequestSignatureVectors(t *testing.T) {
	javaSecret := base64.StdEncoding.EncodeToString([]byte("test-consumer-secret&test-token-secret"))
	tests := []struct {
		name   string
		secret string
		url    string
		params map[string]string
		want   string
	}{
		{
			name:   "SAP Java SDK OAuth1 vector",
			secret: javaSecret,
			url:    "http://photos.example.net/photos",
			params: map[string]string{
				"oauth_consumer_key": "test-consumer-secret", "oauth_token": "test-token-secret",
				"oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": "1191242096",
				"oauth_nonce": "kllo9940pd9333jh", "oauth_version": "1.0",
				"file": "vacation.jpg", "size": "original",
			},
			want: "j4/Jwtp11HLWl7KG3QlsczfRRpU=",
		},
		{
			name:   "notifyRegistration-shaped vector",
			secret: demoSecret,
			url:    "https://socialize.us1.gigya.com/socialize.notifyRegistration",
			params: map[string]string{
				"UID": "_guid_abc==", "siteUID": "user 42/ü", "apiKey": "3_apikey", "format": "json",
				"httpStatusCodes": "false", "nonce": "1700000000000123", "timestamp": "1700000000",
				"sdk": "python_3.6.0",
			},
			want: "neupdRbijOH+f+8xNIXI5bp0BZ8=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{}
			for k, val := range tt.params {
				v.Set(k, val)
			}
			v.Set("sig", "ignored")
			got, err := RequestSignature(tt.secret, tt.url, v)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("RequestSignature = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSignatureBaseStringNormalizesURL(t *testing.T) {
	tests := []struct{ in, wantPrefix string }{
		{"HTTPS://Socialize.US1.gigya.com:443/x", "POST&https%3A%2F%2Fsocialize.us1.gigya.com%2Fx&"},
		{"http://127.0.0.1:8081/x", "POST&http%3A%2F%2F127.0.0.1%3A8081%2Fx&"},
		{"http://h:80/x", "POST&http%3A%2F%2Fh%2Fx&"},
	}
	for _, tt := range tests {
		got, err := SignatureBaseString("POST", tt.in, url.Values{"a": {"b c"}})
		if err != nil {
			t.Fatal(err)
		}
		want := tt.wantPrefix + "a%3Db%2520c"
		if got != want {
			t.Errorf("SignatureBaseString(%q) = %q, want %q", tt.in, got, want)
		}
	}
}

func TestCalcSignatureRejectsBadSecret(t *testing.T) {
	if _, err := CalcSignature("not base64!!", "x"); err == nil {
		t.Fatal("CalcSignature with invalid base64 secret: got nil error, want one")
	}
}

func TestJWTRoundTripPKCS1AndPKCS8(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pems := map[string][]byte{
		"PKCS#1": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"PKCS#8": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	}
	for name, p := range pems {
		t.Run(name, func(t *testing.T) {
			k, err := ParseRSAPrivateKey(p)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := SignJWT(k, "user-key", JWTClaims{IssuedAt: 1700000000, JTI: "j1"})
			if err != nil {
				t.Fatal(err)
			}
			kid, claims, err := VerifyJWT(tok, &key.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if kid != "user-key" || claims.IssuedAt != 1700000000 || claims.JTI != "j1" {
				t.Errorf("VerifyJWT = %q %+v, want user-key {1700000000 j1}", kid, claims)
			}
			other, _ := rsa.GenerateKey(rand.Reader, 1024)
			if _, _, err := VerifyJWT(tok, &other.PublicKey); err == nil {
				t.Error("VerifyJWT with the wrong public key: got nil error")
			}
		})
	}
	if _, err := ParseRSAPrivateKey([]byte("garbage")); err == nil {
		t.Error("ParseRSAPrivateKey(garbage): got nil error")
	}
}
