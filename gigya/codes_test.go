package gigya

import (
	"strings"
	"testing"
)

// The code table is the one source of the classes: ClassOf, KnownCode and
// SiteWide agree with it, and every site-wide code names a setting.
func TestCodeTable(t *testing.T) {
	tests := []struct {
		code            int
		known, siteWide bool
		class           Class
		setting         string
	}{
		{400093, true, true, ClassPermanent, "apiKey"},
		{403003, true, true, ClassPermanent, "secret"},
		{403006, true, true, ClassPermanent, "https"},
		{403007, true, true, ClassPermanent, "permissions"},
		{403010, true, true, ClassPermanent, "secretFile / --gigya-secret"},
		{301001, true, false, ClassPermanent, "dataCenter"},
		{403005, true, false, ClassPermanent, ""},
		{403048, true, false, ClassTransient, ""},
		{403002, true, false, ClassClock, ""},
		{500001, true, false, ClassTransient, ""},
		{0, true, false, ClassPermanent, ""},
		{512345, false, false, ClassTransient, ""},
		{400777, false, false, ClassPermanent, ""},
		{-3, false, false, ClassPermanent, ""},
	}
	for _, tt := range tests {
		if got := KnownCode(tt.code); got != tt.known {
			t.Errorf("KnownCode(%d) = %v, want %v", tt.code, got, tt.known)
		}
		if got := SiteWide(tt.code); got != tt.siteWide {
			t.Errorf("SiteWide(%d) = %v, want %v", tt.code, got, tt.siteWide)
		}
		if tt.code != 0 {
			if got := ClassOf(tt.code); got != tt.class {
				t.Errorf("ClassOf(%d) = %v, want %v", tt.code, got, tt.class)
			}
		}
		if got := CodeSetting(tt.code); !strings.Contains(got, tt.setting) || (tt.setting == "") != (got == "" || !tt.siteWide && tt.code != 301001) {
			t.Errorf("CodeSetting(%d) = %q, want it to name %q", tt.code, got, tt.setting)
		}
	}
	for code, info := range codeTable {
		if info.siteWide && info.setting == "" {
			t.Errorf("site-wide code %d names no setting to check", code)
		}
	}
}

// UseAPIDomain follows a 301001: a data-center client goes to
// https://socialize.<apiDomain>, a base-URL client keeps its scheme and
// path and takes apiDomain as host:port; bad domains change nothing.
func TestUseAPIDomain(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		domain  string
		want    string
		wantErr bool
	}{
		{"data center", Options{DataCenter: "us1.gigya.com"}, "eu1.gigya.com", "https://socialize.eu1.gigya.com", false},
		{"data center, upper case", Options{}, "AU1.gigya.com", "https://socialize.au1.gigya.com", false},
		{"data center refuses a port", Options{}, "eu1.gigya.com:443", "https://socialize.us1.gigya.com", true},
		{"base URL host:port", Options{BaseURL: "http://127.0.0.1:8081/prefix"}, "127.0.0.1:9090", "http://127.0.0.1:9090/prefix", false},
		{"base URL https", Options{BaseURL: "https://sim.example:8443"}, "other.example:9443", "https://other.example:9443", false},
		{"a path is not a domain", Options{}, "evil.example/x", "https://socialize.us1.gigya.com", true},
		{"credentials are not a domain", Options{}, "user@evil.example", "https://socialize.us1.gigya.com", true},
		{"empty", Options{}, "", "https://socialize.us1.gigya.com", true},
		{"secret over plain http elsewhere", Options{BaseURL: "http://127.0.0.1:8081"}, "10.1.2.3:80", "http://127.0.0.1:8081", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.APIKey, o.UserKey, o.Auth, o.Secret = testAPIKey, testUserKey, AuthSecret, testSecret
			c, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.UseAPIDomain(tt.domain)
			if (err != nil) != tt.wantErr {
				t.Errorf("UseAPIDomain(%q) = %v, want error %v", tt.domain, err, tt.wantErr)
			}
			if got := c.BaseURL(); got != tt.want {
				t.Errorf("BaseURL() = %q, want %q", got, tt.want)
			}
			if got, want := c.ep.Load().notify, tt.want+"/socialize.notifyRegistration"; got != want {
				t.Errorf("notify URL = %q, want %q", got, want)
			}
		})
	}
}
