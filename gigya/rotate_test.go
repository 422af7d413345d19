package gigya_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/gigya/gigyasim"
)

// TestSetSecretsRotates checks rotation against the simulator over HTTP:
// a client built with a wrong secret is refused (the site's settings are
// wrong), works after SetSecrets with the right one, and a malformed new
// secret is refused with the working one kept.
func TestSetSecretsRotates(t *testing.T) {
	good := base64.StdEncoding.EncodeToString([]byte("rotate-good-secret"))
	wrong := base64.StdEncoding.EncodeToString([]byte("rotate-wrong-secret"))
	partner := base64.StdEncoding.EncodeToString([]byte("rotate-partner"))
	sim, err := gigyasim.New(gigyasim.Config{APIKey: "3_rot", UserKey: "uk", Secret: good, PartnerSecret: partner})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	for _, auth := range []gigya.AuthMode{gigya.AuthSecret, gigya.AuthSigned} {
		t.Run(string(auth), func(t *testing.T) {
			c, err := gigya.New(gigya.Options{APIKey: "3_rot", UserKey: "uk", Secret: wrong, Auth: auth, BaseURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			req := gigya.NotifyRequest{UID: "_gid_rot_" + string(auth)}
			var ge *gigya.Error
			if _, err := c.NotifyRegistration(t.Context(), req); !errors.As(err, &ge) || ge.Code == 0 {
				t.Fatalf("with the wrong secret: err = %v, want a Gigya error code", err)
			}
			if err := c.SetSecrets(good, nil, partner); err != nil {
				t.Fatalf("SetSecrets(good) = %v", err)
			}
			if _, err := c.NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: req.UID, SiteUID: "cust-" + string(auth)}); err != nil {
				t.Fatalf("after rotation: %v, want success (with UIDSig from the new partner secret)", err)
			}
			err = c.SetSecrets("not base64!!", nil, "")
			if err == nil || !strings.Contains(err.Error(), "Secret") || strings.Contains(err.Error(), "not base64!!") {
				t.Fatalf("SetSecrets(malformed) = %v, want an error naming Secret without quoting it", err)
			}
			if _, err := c.NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: req.UID + "-2"}); err != nil {
				t.Fatalf("after a refused rotation: %v, want the old (good) secret still in force", err)
			}
		})
	}
}

// TestSetSecretsBearer rotates a bearer client's private key.
func TestSetSecretsBearer(t *testing.T) {
	right, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	pemOf := func(k *rsa.PrivateKey) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	}
	sim, err := gigyasim.New(gigyasim.Config{APIKey: "3_rotb", UserKey: "uk", PublicKey: &right.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, err := gigya.New(gigya.Options{APIKey: "3_rotb", UserKey: "uk", PrivateKeyPEM: pemOf(other), BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "_gid_b1"}); err == nil {
		t.Fatal("with the wrong key: success, want a refusal")
	}
	if err := c.SetSecrets("", []byte("-----BEGIN RSA PRIVATE KEY-----\nbroken\n"), ""); err == nil {
		t.Fatal("SetSecrets(broken PEM) = nil, want an error")
	}
	if err := c.SetSecrets("", pemOf(right), ""); err != nil {
		t.Fatalf("SetSecrets(right key) = %v", err)
	}
	if _, err := c.NotifyRegistration(t.Context(), gigya.NotifyRequest{UID: "_gid_b2"}); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}
