package kafkaio

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/regnotify/regnotify/events/field"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Kafka is how to reach the brokers: the one connection setup shared by the
// worker, replay and bulk-link.
type Kafka struct {
	Brokers       []string
	TLS           bool
	TLSCAFile     string // PEM bundle; empty means the system roots
	SASLMechanism string // "", "plain", "scram-sha-256" or "scram-sha-512"
	SASLUsername  string
	SASLPassword  string
	// DialTimeout bounds connecting to a broker; 0 means 10s.
	DialTimeout time.Duration
}

// String describes the connection without the password.
func (k Kafka) String() string {
	pw := ""
	if k.SASLPassword != "" {
		pw = " password=[redacted]"
	}
	return fmt.Sprintf("brokers=%s tls=%t sasl=%q user=%q%s",
		strings.Join(k.Brokers, ","), k.TLS, k.SASLMechanism, k.SASLUsername, pw)
}

func (k Kafka) tlsConfig() (*tls.Config, error) {
	if !k.TLS {
		if k.TLSCAFile != "" {
			return nil, field.Errorf("kafka", "TLSCAFile", "is set but TLS is off")
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if k.TLSCAFile != "" {
		pem, err := os.ReadFile(k.TLSCAFile)
		if err != nil {
			return nil, field.Errorf("kafka", "TLSCAFile", "cannot be read: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, field.Errorf("kafka", "TLSCAFile", "%s holds no PEM certificate", k.TLSCAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func (k Kafka) mechanism() (sasl.Mechanism, error) {
	switch strings.ToLower(k.SASLMechanism) {
	case "":
		if k.SASLUsername != "" || k.SASLPassword != "" {
			return nil, field.Errorf("kafka", "SASLMechanism", "is not set, but a SASL username or password is")
		}
		return nil, nil
	case "plain":
		if k.SASLUsername == "" {
			return nil, field.Errorf("kafka", "SASLUsername", "is required with SASL PLAIN")
		}
		return plain.Mechanism{Username: k.SASLUsername, Password: k.SASLPassword}, nil
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if strings.EqualFold(k.SASLMechanism, "scram-sha-512") {
			algo = scram.SHA512
		}
		if k.SASLUsername == "" {
			return nil, field.Errorf("kafka", "SASLUsername", "is required with SASL SCRAM")
		}
		m, err := scram.Mechanism(algo, k.SASLUsername, k.SASLPassword)
		if err != nil {
			return nil, field.Errorf("kafka", "SASLMechanism", "SCRAM setup failed")
		}
		return m, nil
	default:
		return nil, field.Errorf("kafka", "SASLMechanism", "%q is unknown (want plain, scram-sha-256 or scram-sha-512)", k.SASLMechanism)
	}
}

// Validate checks the settings without connecting.
func (k Kafka) Validate() error {
	if len(k.Brokers) == 0 {
		return field.Errorf("kafka", "Brokers", "is empty")
	}
	for _, b := range k.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return field.Errorf("kafka", "Brokers", "%q is not host:port", b)
		}
	}
	if _, err := k.tlsConfig(); err != nil {
		return err
	}
	_, err := k.mechanism()
	return err
}

// connParts are the pieces both kinds of kafka-go connection need.
func (k Kafka) connParts() (*tls.Config, sasl.Mechanism, time.Duration, error) {
	t, err := k.tlsConfig()
	if err != nil {
		return nil, nil, 0, err
	}
	m, err := k.mechanism()
	if err != nil {
		return nil, nil, 0, err
	}
	timeout := k.DialTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	return t, m, timeout, nil
}

// Dialer returns a kafka-go dialer for readers and consumer groups.
func (k Kafka) Dialer() (*kafka.Dialer, error) {
	t, m, timeout, err := k.connParts()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{Timeout: timeout, DualStack: true, TLS: t, SASLMechanism: m, KeepAlive: 30 * time.Second}, nil
}

// Transport returns a kafka-go transport for writers.
func (k Kafka) Transport() (*kafka.Transport, error) {
	t, m, timeout, err := k.connParts()
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return &kafka.Transport{Dial: d.DialContext, TLS: t, SASL: m, DialTimeout: timeout, IdleTimeout: 30 * time.Second, MetadataTTL: 15 * time.Second}, nil
}
