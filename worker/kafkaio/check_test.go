package kafkaio_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/regnotify/regnotify/worker/kafkaio"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

// testCA is a self-signed CA and a server certificate for 127.0.0.1 signed
// by it, generated per test run.
type testCA struct {
	caFile string // PEM of the CA certificate
	server tls.Certificate
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "regnotify test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testCA{caFile: file, server: tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}
}

// roundTrip creates a topic, writes three records through k's Transport and
// reads them back through k's Dialer.
func roundTrip(t *testing.T, k kafkaio.Kafka, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := k.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	tr, err := k.Transport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if err := resp.Errors[topic]; err != nil {
		t.Fatalf("create topic: %v", err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(k.Brokers...), Topic: topic, Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	want := []string{"one", "two", "three"}
	var msgs []kafka.Message
	for _, v := range want {
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(v)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		w.Close()
		t.Fatalf("write through Transport: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := k.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Brokers, Topic: topic, Partition: 0, Dialer: d, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	for i, v := range want {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %d through Dialer: %v", i, err)
		}
		if string(m.Value) != v {
			t.Errorf("record %d: got %q, want %q", i, m.Value, v)
		}
	}
}

func TestSecurityRoundTrip(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name  string
		opts  []kfake.Opt
		kafka kafkaio.Kafka
	}{
		{"plain", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "alice", "s3cret-plain")},
			kafkaio.Kafka{SASLMechanism: "plain", SASLUsername: "alice", SASLPassword: "s3cret-plain"}},
		{"scram-sha-256", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "bob", "s3cret-256")},
			kafkaio.Kafka{SASLMechanism: "scram-sha-256", SASLUsername: "bob", SASLPassword: "s3cret-256"}},
		{"scram-sha-512", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "carol", "s3cret-512")},
			kafkaio.Kafka{SASLMechanism: "scram-sha-512", SASLUsername: "carol", SASLPassword: "s3cret-512"}},
		{"tls", []kfake.Opt{kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.server}})},
			kafkaio.Kafka{TLS: true, TLSCAFile: ca.caFile}},
		{"tls+scram-sha-512", []kfake.Opt{kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.server}}),
			kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "dave", "s3cret-tls")},
			kafkaio.Kafka{TLS: true, TLSCAFile: ca.caFile, SASLMechanism: "scram-sha-512", SASLUsername: "dave", SASLPassword: "s3cret-tls"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := kafkatest.Start(t, tt.opts...)
			k := tt.kafka
			k.Brokers = kc.Brokers
			if err := k.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			roundTrip(t, k, kc.Topic("security"))
		})
	}
}

func TestSecurityFailsClearly(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	const password = "the-wrong-password"
	tests := []struct {
		name     string
		opts     []kfake.Opt
		kafka    kafkaio.Kafka
		wantAuth bool
		wantTLS  bool
		want     string
	}{
		{"plain wrong password", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", "alice", "right")},
			kafkaio.Kafka{SASLMechanism: "plain", SASLUsername: "alice", SASLPassword: password},
			true, false, `SASL authentication failed for user "alice" (mechanism PLAIN)`},
		{"scram-sha-256 wrong password", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "bob", "right")},
			kafkaio.Kafka{SASLMechanism: "scram-sha-256", SASLUsername: "bob", SASLPassword: password},
			true, false, `SASL authentication failed for user "bob" (mechanism SCRAM-SHA-256)`},
		{"scram-sha-512 unknown user", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "carol", "right")},
			kafkaio.Kafka{SASLMechanism: "scram-sha-512", SASLUsername: "mallory", SASLPassword: password},
			true, false, `SASL authentication failed for user "mallory" (mechanism SCRAM-SHA-512)`},
		{"tls unknown CA", []kfake.Opt{kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.server}})},
			kafkaio.Kafka{TLS: true, TLSCAFile: other.caFile},
			false, true, "TLS handshake with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := kafkatest.Start(t, tt.opts...)
			k := tt.kafka
			k.Brokers = kc.Brokers
			k.DialTimeout = 5 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			start := time.Now()
			err := k.Check(ctx)
			took := time.Since(start)
			t.Logf("Check: %v (after %v)", err, took)
			if err == nil {
				t.Fatal("Check: got nil error, want a failure")
			}
			// The context allows 15 s: a Check that retried instead of
			// failing would run into it. 12 s only tells the two apart; a
			// loaded machine must not fail a fast failure.
			if took > 12*time.Second {
				t.Errorf("Check took %v, want a fast failure, not retries until the deadline", took)
			}
			var ce *kafkaio.CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("Check: got %T %v, want a *kafkaio.CheckError", err, err)
			}
			if ce.Auth != tt.wantAuth || ce.TLS != tt.wantTLS {
				t.Errorf("Check: got Auth=%t TLS=%t, want Auth=%t TLS=%t (%v)", ce.Auth, ce.TLS, tt.wantAuth, tt.wantTLS, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check error:\n got %q\nwant it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("Check error %q contains the password", err)
			}
		})
	}
}
