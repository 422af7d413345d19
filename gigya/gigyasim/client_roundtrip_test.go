package gigyasim_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
)

// These tests run the real gigya client against the simulator: if the two
// disagree about signing, the wire format or the clock, they fail here.

func TestClientRoundTrip(t *testing.T) {
	const apiKey, userKey = "3_roundtrip", "roundtrip-user-key"
	secret := base64.StdEncoding.EncodeToString([]byte("roundtrip-application-secret"))
	partner := base64.StdEncoding.EncodeToString([]byte("roundtrip-partner-secret"))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})

	tests := []struct {
		name      string
		auth      gigya.AuthMode
		tls       bool
		clockSkew time.Duration
	}{
		{"bearer", gigya.AuthBearer, false, 0},
		{"secret over loopback HTTP", gigya.AuthSecret, false, 0},
		{"secret over HTTPS", gigya.AuthSecret, true, 0},
		{"signed", gigya.AuthSigned, false, 0},
		{"signed over HTTPS", gigya.AuthSigned, true, 0},
		{"signed, simulator clock 10 minutes ahead", gigya.AuthSigned, false, 10 * time.Minute},
		{"bearer, simulator clock 10 minutes behind", gigya.AuthBearer, false, -10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, err := gigyasim.New(gigyasim.Config{
				APIKey: apiKey, UserKey: userKey, Secret: secret, PublicKey: &key.PublicKey,
				PartnerSecret: partner, Faults: gigyasim.Faults{ClockSkew: tt.clockSkew},
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(sim)
			if tt.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			opts := gigya.Options{
				APIKey: apiKey, BaseURL: srv.URL, Auth: tt.auth, UserKey: userKey, PartnerSecret: partner,
				Transport: srv.Client().Transport, RequestTimeout: 5 * time.Second,
			}
			if tt.auth == gigya.AuthBearer {
				opts.PrivateKeyPEM = keyPEM
			} else {
				opts.Secret = secret
			}
			client, err := gigya.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx := t.Context()

			if _, err := client.NotifyRegistration(ctx, gigya.NotifyRequest{UID: "u-1"}); err != nil {
				t.Fatalf("register: %v", err)
			}
			if _, err := client.NotifyRegistration(ctx, gigya.NotifyRequest{UID: "u-1", SiteUID: "site 1/", Context: "e-1"}); err != nil {
				t.Fatalf("link: %v", err)
			}
			if uid, ok := sim.Linked("site 1/"); !ok || uid != "u-1" {
				t.Errorf("Linked = %q, %v; want u-1, true", uid, ok)
			}
			info, err := client.GetUserInfo(ctx, "site 1/")
			if err != nil || info.UID != "site 1/" || !info.IsSiteUID {
				t.Errorf("GetUserInfo(siteUID) = %+v, %v; want the account with IsSiteUID", info, err)
			}
			_, err = client.NotifyRegistration(ctx, gigya.NotifyRequest{UID: "u-1", SiteUID: "site 1/"})
			var ge *gigya.Error
			if !errors.As(err, &ge) || ge.Code != 403005 {
				t.Errorf("relink of the replaced UID: err = %v, want *gigya.Error 403005", err)
			}
			if tt.clockSkew != 0 {
				got := client.ClockOffset()
				if d := got - tt.clockSkew; d < -5*time.Second || d > 5*time.Second {
					t.Errorf("client clock offset = %v, want about %v", got, tt.clockSkew)
				}
			}
		})
	}
}
