package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/kafkaio"
)

// Every field error of the configuration structs run fills is told by the
// flag and variable an operator sets.
func TestFlagErrorNamesTheFlag(t *testing.T) {
	flags := []any{kafkaFlags{}, workerFlags{}, gigyaFlags{}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"gigya api key", func() error { _, err := gigya.New(gigya.Options{}); return err }(), "--gigya-api-key (GIGYA_API_KEY): "},
		{"gigya secret", func() error {
			_, err := gigya.New(gigya.Options{APIKey: "k", UserKey: "u", Secret: "%%%"})
			return err
		}(), "--gigya-secret (GIGYA_SECRET or GIGYA_SECRET_FILE): "},
		{"gigya max conns", func() error {
			_, err := gigya.New(gigya.Options{APIKey: "k", UserKey: "u", Secret: "c2VjcmV0", MaxConns: -1})
			return err
		}(), "--concurrency (REGNOTIFY_CONCURRENCY): "},
		{"kafka brokers", kafkaio.Kafka{}.Validate(), "--brokers (KAFKA_BROKERS): "},
		{"kafka sasl", kafkaio.Kafka{Brokers: []string{"h:1"}, SASLMechanism: "plain"}.Validate(), "--kafka-sasl-username (KAFKA_SASL_USERNAME): "},
		{"kafka ca file", kafkaio.Kafka{Brokers: []string{"h:1"}, TLSCAFile: "x"}.Validate(), "--kafka-tls-ca-file (KAFKA_TLS_CA_FILE): "},
		{"dlq topic", worker.Config{Kafka: kafkaio.Kafka{Brokers: []string{"h:1"}}, DLQTopic: "t", Topics: []string{"t"}}.Validate(), "--dlq-topic (KAFKA_DLQ_TOPIC): "},
		{"rate limit", worker.Config{Kafka: kafkaio.Kafka{Brokers: []string{"h:1"}}, RateLimit: -1}.Validate(), "--rate-limit (GIGYA_RATE_LIMIT): "},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: no error to name: the case is wrong", tt.name)
			continue
		}
		got := flagError(tt.err, flags...)
		var ue *usageError
		if !errors.As(got, &ue) || !strings.HasPrefix(got.Error(), tt.want) {
			t.Errorf("%s: flagError = %q (usage error %v), want it to start with %q", tt.name, got, ue != nil, tt.want)
		}
	}
	if got := flagError(errors.New("plain"), flags...); got.Error() != "plain" {
		t.Errorf("flagError(plain) = %q, want the text unchanged", got)
	}
}
