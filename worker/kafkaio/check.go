package kafkaio

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// CheckError is why Check could not talk to Kafka. Its message names the
// broker, the mechanism and the user, never the password.
type CheckError struct {
	Broker string
	// Auth is true when the broker refused the SASL credentials: retrying
	// with the same settings cannot help.
	Auth bool
	// TLS is true when the TLS handshake failed (unknown CA, wrong name,
	// plain-text listener).
	TLS bool
	msg string
	err error
}

func (e *CheckError) Error() string { return e.msg }
func (e *CheckError) Unwrap() error { return e.err }

// Check dials the brokers once, as readers and writers will (TLS handshake,
// SASL authentication), and asks for the cluster metadata. It returns nil as
// soon as one broker answers, else a *CheckError for the last one tried; a
// refused SASL login ends the check at once, as every broker shares the
// credentials. Commands call it first so that a wrong password or CA fails
// fast with a clear message instead of as endless retries in the background.
// ctx bounds the whole check; each dial is also bounded by DialTimeout.
func (k Kafka) Check(ctx context.Context) error {
	d, err := k.Dialer()
	if err != nil {
		return err
	}
	var last error
	for _, b := range k.Brokers {
		err := k.checkBroker(ctx, d, b)
		if err == nil {
			return nil
		}
		last = err
		var ce *CheckError
		if ctx.Err() != nil || (errors.As(err, &ce) && ce.Auth) {
			break
		}
	}
	return last
}

func (k Kafka) checkBroker(ctx context.Context, d *kafka.Dialer, broker string) error {
	conn, err := d.DialContext(ctx, "tcp", broker)
	if err != nil {
		return k.checkError(broker, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(d.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Brokers(); err != nil {
		return k.checkError(broker, err)
	}
	return nil
}

// checkError turns what kafka-go returns into a message an operator can act
// on. kafka-go reports a refused login as error 58, or as EOF when the broker
// just hangs up during the exchange (and some brokers do, for PLAIN).
func (k Kafka) checkError(broker string, err error) error {
	ce := &CheckError{Broker: broker, err: err}
	var kerr kafka.Error
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var rerr tls.RecordHeaderError
	var cerr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &kerr) && kerr == kafka.SASLAuthenticationFailed,
		k.SASLMechanism != "" && errors.Is(err, io.EOF),
		k.SASLMechanism != "" && strings.Contains(err.Error(), "SASL authentication process has failed"):
		ce.Auth = true
		ce.msg = fmt.Sprintf("kafka: SASL authentication failed for user %q (mechanism %s) at %s: check --kafka-sasl-username, --kafka-sasl-password and --kafka-sasl-mechanism",
			k.SASLUsername, strings.ToUpper(k.SASLMechanism), broker)
	case errors.As(err, &kerr) && kerr == kafka.UnsupportedSASLMechanism:
		ce.Auth = true
		ce.msg = fmt.Sprintf("kafka: broker %s does not support SASL mechanism %s", broker, strings.ToUpper(k.SASLMechanism))
	case errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &cerr):
		ce.TLS = true
		ce.msg = fmt.Sprintf("kafka: TLS handshake with %s failed: %v (check --kafka-tls-ca-file)", broker, err)
	case errors.As(err, &rerr):
		ce.TLS = true
		ce.msg = fmt.Sprintf("kafka: TLS handshake with %s failed: the broker does not speak TLS on this port", broker)
	default:
		var nerr net.Error
		if errors.As(err, &nerr) && nerr.Timeout() {
			ce.msg = fmt.Sprintf("kafka: cannot reach %s: timed out (%s)", broker, k)
		} else {
			ce.msg = fmt.Sprintf("kafka: cannot reach %s: %v", broker, err)
		}
	}
	return ce
}
