package gigyasim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var callIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestResponseShape(t *testing.T) {
	env := newEnv(t, nil)
	f := baseForm("u1")
	f.Set("context", "ctx-1")
	ok, resp := env.do(t, MethodNotifyRegistration, f, okSecret)
	wantOK := gigyaResponse{
		CallID: ok.CallID, APIVersion: 2, StatusCode: 200, StatusReason: "OK",
		Time: env.clock.Now().UTC().Format(responseTimeFormat), Context: "ctx-1",
	}
	if ok != wantOK {
		t.Errorf("success = %+v, want %+v", ok, wantOK)
	}
	if !callIDPattern.MatchString(ok.CallID) {
		t.Errorf("callId %q: want 32 hex digits", ok.CallID)
	}
	if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", got)
	}

	bad, resp := env.do(t, MethodNotifyRegistration, baseForm("u1"), secretAuth("wrong"))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("error with httpStatusCodes=false: HTTP %d, want 200", resp.StatusCode)
	}
	if bad.ErrorCode != codeInvalidSecret || bad.StatusCode != 403 || bad.StatusReason != "Forbidden" ||
		bad.ErrorMessage == "" || bad.ErrorDetails == "" || bad.CallID == ok.CallID {
		t.Errorf("error = %+v, want 403010, statusCode 403 Forbidden, a message, details and a new callId", bad)
	}
	if strings.Contains(bad.ErrorDetails, testSecret) || strings.Contains(bad.ErrorDetails, "wrong") {
		t.Errorf("errorDetails %q echoes a secret", bad.ErrorDetails)
	}

	f = baseForm("u1")
	f.Set("httpStatusCodes", "true")
	if _, resp := env.do(t, MethodNotifyRegistration, f, secretAuth("wrong")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("error with httpStatusCodes=true: HTTP %d, want 403", resp.StatusCode)
	}
}

func TestGetUserInfoJSONFields(t *testing.T) {
	env := newEnv(t, nil)
	env.link(t, "u1", "s1")
	resp, err := env.send(t, MethodGetUserInfo, baseForm("s1"), okSecret)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{"errorCode": 0.0, "UID": "s1", "isSiteUID": true, "isRegistered": true} {
		if raw[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, raw[key], want, raw)
		}
	}
}

func TestNotPOST(t *testing.T) {
	env := newEnv(t, nil)
	resp, err := env.srv.Client().Get(env.srv.URL + "/" + MethodNotifyRegistration + "?" + baseForm("u1").Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var gr gigyaResponse
	if err := json.NewDecoder(resp.Body).Decode(&gr); err != nil {
		t.Fatal(err)
	}
	if gr.ErrorCode != codeInvalidRequest {
		t.Errorf("GET: errorCode = %d, want %d", gr.ErrorCode, codeInvalidRequest)
	}
}

func TestUnknownMethod(t *testing.T) {
	env := newEnv(t, nil)
	if got, want := env.code(t, "accounts.deleteEverything", baseForm("u1"), okSecret), codeNotFound; got != want {
		t.Errorf("errorCode = %d, want %d", got, want)
	}
}

func TestBodyTooLarge(t *testing.T) {
	env := newEnv(t, nil)
	f := baseForm("u1")
	f.Set("padding", strings.Repeat("x", maxRequestBodyBytes))
	if got, want := env.code(t, MethodNotifyRegistration, f, okSecret), codeInvalidRequest; got != want {
		t.Errorf("errorCode = %d, want %d", got, want)
	}
}

func TestNew(t *testing.T) {
	valid := Config{APIKey: "k", UserKey: "u", Secret: testSecret}
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"secret only", func(*Config) {}, true},
		{"public key only", func(c *Config) { c.Secret = ""; c.PublicKey = &testKey().PublicKey }, true},
		{"no API key", func(c *Config) { c.APIKey = "" }, false},
		{"no user key", func(c *Config) { c.UserKey = "" }, false},
		{"no auth mode", func(c *Config) { c.Secret = "" }, false},
		{"secret not base64", func(c *Config) { c.Secret = "not base64!" }, false},
		{"partner secret not base64", func(c *Config) { c.PartnerSecret = "not base64!" }, false},
		{"bad faults", func(c *Config) { c.Faults.Outage = "maybe" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.mutate(&cfg)
			_, err := New(cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New() error = %v, want ok %v", err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "not base64!") {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	key := testKey()
	pkixDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gigyasim test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	tests := []struct {
		name string
		pem  []byte
		ok   bool
	}{
		{"PKIX public key", enc("PUBLIC KEY", pkixDER), true},
		{"PKCS#1 public key", enc("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&key.PublicKey)), true},
		{"certificate", enc("CERTIFICATE", cert), true},
		{"PKCS#1 private key", enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)), true},
		{"PKCS#8 private key", enc("PRIVATE KEY", pkcs8), true},
		{"after another block", append(enc("COMMENT", []byte("x")), enc("PUBLIC KEY", pkixDER)...), true},
		{"EC public key", enc("PUBLIC KEY", ecPub), false},
		{"not PEM", []byte("hello"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublicKeyPEM(tt.pem)
			if (err == nil) != tt.ok {
				t.Fatalf("error = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && !got.Equal(&key.PublicKey) {
				t.Error("got another key")
			}
		})
	}
}
