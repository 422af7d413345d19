package gigyasim

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/regnotify/regnotify/gigya"
)

// ParsePublicKeyPEM returns the first RSA public key found in pemBytes: a
// "PUBLIC KEY" (PKIX), an "RSA PUBLIC KEY" (PKCS#1), a "CERTIFICATE", or a
// private key (PKCS#1 or PKCS#8) whose public half is taken. It lets the
// simulator be started with whatever file the client's key came in.
func ParsePublicKeyPEM(pemBytes []byte) (*rsa.PublicKey, error) {
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("parse public key: no RSA public key, certificate or private key PEM block found")
		}
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse public key: %w", err)
			}
			return asRSA(k)
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse public key: %w", err)
			}
			return k, nil
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse public key: certificate: %w", err)
			}
			return asRSA(cert.PublicKey)
		case "RSA PRIVATE KEY", "PRIVATE KEY":
			k, err := gigya.ParseRSAPrivateKey(pem.EncodeToMemory(block))
			if err != nil {
				return nil, err
			}
			return &k.PublicKey, nil
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("parse public key: encrypted private keys are not supported")
		}
	}
}

func asRSA(k any) (*rsa.PublicKey, error) {
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("parse public key: %T is not an RSA key", k)
	}
	return rk, nil
}
