package gigya

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewValidation(t *testing.T) {
	valid := func(mut func(o *Options)) Options {
		o := Options{APIKey: testAPIKey, UserKey: testUserKey, Secret: testSecret, PartnerSecret: testPartnerSecret}
		mut(&o)
		return o
	}
	tests := []struct {
		name string
		opts Options
		want string // the option the error must name
	}{
		{"no APIKey", valid(func(o *Options) { o.APIKey = "" }), "Options.APIKey"},
		{"no UserKey", valid(func(o *Options) { o.UserKey = "" }), "Options.UserKey"},
		{"unknown auth", valid(func(o *Options) { o.Auth = "oauth2" }), "Options.Auth"},
		{"bearer without key", valid(func(o *Options) { o.Auth = AuthBearer }), "Options.PrivateKeyPEM"},
		{"bearer with garbage key", valid(func(o *Options) { o.Auth = AuthBearer; o.PrivateKeyPEM = []byte("garbage") }), "Options.PrivateKeyPEM"},
		{"secret without secret", valid(func(o *Options) { o.Secret = "" }), "Options.Secret"},
		{"signed without secret", valid(func(o *Options) { o.Auth = AuthSigned; o.Secret = "" }), "Options.Secret"},
		{"secret not base64", valid(func(o *Options) { o.Auth = AuthSigned; o.Secret = "not base64!" }), "Options.Secret"},
		{"partner secret not base64", valid(func(o *Options) { o.PartnerSecret = "not base64!" }), "Options.PartnerSecret"},
		{"negative timeout", valid(func(o *Options) { o.RequestTimeout = -time.Second }), "Options.RequestTimeout"},
		{"negative MaxConns", valid(func(o *Options) { o.MaxConns = -1 }), "Options.MaxConns"},
		{"data center is a URL", valid(func(o *Options) { o.DataCenter = "https://eu1.gigya.com" }), "Options.DataCenter"},
		{"base URL scheme", valid(func(o *Options) { o.BaseURL = "ftp://127.0.0.1" }), "Options.BaseURL"},
		{"base URL without host", valid(func(o *Options) { o.BaseURL = "http://" }), "Options.BaseURL"},
		{"base URL with query", valid(func(o *Options) { o.BaseURL = "https://h/?x=1" }), "Options.BaseURL"},
		{"base URL unparsable", valid(func(o *Options) { o.BaseURL = "http://[::1" }), "Options.BaseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if err == nil {
				c.Close()
				t.Fatalf("New: got nil error, want one naming %s", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %q, want it to name %s", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "new gigya client: ") {
				t.Errorf("New error = %q, want prefix %q", err, "new gigya client: ")
			}
			assertNoSecrets(t, "New error", err.Error())
		})
	}
}

// A secret in the form body must not cross a network in clear text; only a
// loopback host (the simulator) is allowed over plain http. No network is
// needed: New refuses before any connection.
func TestNewSecretOverPlainHTTP(t *testing.T) {
	tests := []struct {
		baseURL string
		auth    AuthMode
		wantErr bool
	}{
		{"http://gigya.example.com", AuthSecret, true},
		{"http://10.0.0.7:8081", AuthSecret, true},
		{"http://socialize.us1.gigya.com.", AuthSecret, true},
		{"http://127.0.0.1:8081", AuthSecret, false},
		{"http://127.10.20.30", AuthSecret, false},
		{"http://localhost:8081", AuthSecret, false},
		{"http://LOCALHOST", AuthSecret, false},
		{"http://[::1]:8081", AuthSecret, false},
		{"https://gigya.example.com", AuthSecret, false},
		{"", AuthSecret, false}, // https://socialize.us1.gigya.com
		// The secret is not sent in these modes.
		{"http://gigya.example.com", AuthSigned, false},
		{"http://gigya.example.com", AuthBearer, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.auth)+" "+tt.baseURL, func(t *testing.T) {
			o := Options{APIKey: testAPIKey, UserKey: testUserKey, Auth: tt.auth, Secret: testSecret, BaseURL: tt.baseURL}
			if tt.auth == AuthBearer {
				o.PrivateKeyPEM = testKeyPEM(false)
			}
			c, err := New(o)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("New(BaseURL %q, Auth %s) error = %v, want error: %v", tt.baseURL, tt.auth, err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "Options.BaseURL") || !strings.Contains(err.Error(), "plain http") {
					t.Errorf("error = %q, want it to name Options.BaseURL and plain http", err)
				}
				assertNoSecrets(t, "New error", err.Error())
				return
			}
			c.Close()
		})
	}
}

func TestNewDefaults(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want config
	}{
		{"defaults",
			Options{APIKey: "k", UserKey: "u", Secret: testSecret},
			config{auth: AuthSecret, baseURL: "https://socialize.us1.gigya.com", timeout: 10 * time.Second, maxConns: 64}},
		{"data center",
			Options{APIKey: "k", UserKey: "u", Secret: testSecret, DataCenter: "EU1.gigya.com", MaxConns: 256, RequestTimeout: 3 * time.Second},
			config{auth: AuthSecret, baseURL: "https://socialize.eu1.gigya.com", timeout: 3 * time.Second, maxConns: 256}},
		{"base URL wins, trailing slash dropped",
			Options{APIKey: "k", UserKey: "u", Secret: testSecret, DataCenter: "eu1.gigya.com", BaseURL: "http://127.0.0.1:8081/"},
			config{auth: AuthSecret, baseURL: "http://127.0.0.1:8081", timeout: 10 * time.Second, maxConns: 64}},
		{"bearer when a key is set",
			Options{APIKey: "k", UserKey: "u", PrivateKeyPEM: testKeyPEM(true)},
			config{auth: AuthBearer, baseURL: "https://socialize.us1.gigya.com", timeout: 10 * time.Second, maxConns: 64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer c.Close()
			got := config{auth: c.cfg.auth, baseURL: c.cfg.baseURL, timeout: c.cfg.timeout, maxConns: c.cfg.maxConns}
			if got != tt.want {
				t.Errorf("config = %+v, want %+v", got, tt.want)
			}
			if want := tt.want.baseURL + "/socialize.notifyRegistration"; c.ep.Load().notify != want {
				t.Errorf("notify URL = %q, want %q", c.ep.Load().notify, want)
			}
		})
	}
}

func TestTransportTuning(t *testing.T) {
	c, err := New(Options{APIKey: "k", UserKey: "u", Secret: testSecret, MaxConns: 200, RequestTimeout: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T, want *http.Transport", c.http.Transport)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"MaxIdleConnsPerHost", tr.MaxIdleConnsPerHost, 200},
		{"MaxIdleConns", tr.MaxIdleConns, 200},
		{"MaxConnsPerHost", tr.MaxConnsPerHost, 0},
		{"TLSHandshakeTimeout", tr.TLSHandshakeTimeout, 5 * time.Second},
		{"IdleConnTimeout", tr.IdleConnTimeout, 50 * time.Second},
		{"ResponseHeaderTimeout", tr.ResponseHeaderTimeout, 8 * time.Second},
		{"TLS MinVersion", tr.TLSClientConfig.MinVersion, uint16(tls.VersionTLS12)},
		{"http.Client.Timeout (per attempt instead)", c.http.Timeout, time.Duration(0)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if tr.DialContext == nil || c.http.CheckRedirect == nil {
		t.Error("DialContext or CheckRedirect unset, want a dial timeout and no redirects")
	}
}
