package gigya

import (
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
)

// secretSet is the credential material of a Client: what rotation swaps,
// as one value, so that an attempt never mixes an old secret with a new
// key.
type secretSet struct {
	secret        string
	partnerSecret string
	key           *rsa.PrivateKey
	app, partner  *signer // nil when the secret (partner secret) is not set
}

// newSecretSet validates the material for auth mode auth and prepares
// its signers. Errors name the option and never quote a secret.
func newSecretSet(auth AuthMode, secret string, key *rsa.PrivateKey, partnerSecret string) (*secretSet, error) {
	s := &secretSet{secret: secret, partnerSecret: partnerSecret, key: key}
	var err error
	if partnerSecret != "" {
		if s.partner, err = newSigner(partnerSecret); err != nil {
			return nil, errors.New("Options.PartnerSecret is not valid base64")
		}
	}
	if auth == AuthSigned {
		if s.app, err = newSigner(secret); err != nil {
			return nil, errors.New("Options.Secret is not valid base64")
		}
	}
	return s, nil
}

// secrets returns the credential material in force.
func (c *Client) secrets() *secretSet { return c.sec.Load() }

// SetSecrets replaces the client's credentials, for rotation without a
// restart: the application secret (AuthSecret, AuthSigned), the private key
// (AuthBearer, PEM) and the partner secret ("" = none: calls carry no
// UIDSig). The auth mode stays as configured. The new material is checked
// as New checks it; on error nothing changes (the old credentials stay in
// force) and the error names the option without quoting a secret. On
// success every later attempt uses the new credentials; attempts in flight
// finish with the old ones. Safe for concurrent use with calls.
func (c *Client) SetSecrets(secret string, privateKeyPEM []byte, partnerSecret string) error {
	var key *rsa.PrivateKey
	switch c.cfg.auth {
	case AuthBearer:
		if len(privateKeyPEM) == 0 {
			return errors.New("gigya: set secrets: Options.PrivateKeyPEM is required with Auth \"bearer\"")
		}
		k, err := ParseRSAPrivateKey(privateKeyPEM)
		if err != nil {
			return fmt.Errorf("gigya: set secrets: Options.PrivateKeyPEM: %w", err)
		}
		key = k
	case AuthSecret, AuthSigned:
		if secret == "" {
			return fmt.Errorf("gigya: set secrets: Options.Secret is required with Auth %q", string(c.cfg.auth))
		}
		if _, err := base64.StdEncoding.DecodeString(secret); err != nil {
			return errors.New("gigya: set secrets: Options.Secret is not valid base64")
		}
	}
	s, err := newSecretSet(c.cfg.auth, secret, key, partnerSecret)
	if err != nil {
		return fmt.Errorf("gigya: set secrets: %w", err)
	}
	c.sec.Store(s)
	return nil
}
