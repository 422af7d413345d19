package main

import (
	"errors"

	"os"
	"strings"

	"github.com/regnotify/regnotify/worker/kafkaio"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// kafkaFlags is the Kafka connection setup shared by run, replay and
// bulk-link.
type kafkaFlags struct {
	Brokers               []string `name:"brokers" env:"KAFKA_BROKERS" sep:"," help:"Kafka bootstrap brokers, comma-separated host:port (required)." placeholder:"HOST:PORT"`
	KafkaTLS              bool     `field:"TLS" name:"kafka-tls" env:"KAFKA_TLS" help:"Connect to Kafka over TLS."`
	KafkaTLSCAFile        string   `field:"TLSCAFile" name:"kafka-tls-ca-file" env:"KAFKA_TLS_CA_FILE" help:"PEM CA bundle for Kafka TLS (default: system roots)." placeholder:"FILE"`
	KafkaSASLMechanism    string   `field:"SASLMechanism" name:"kafka-sasl-mechanism" env:"KAFKA_SASL_MECHANISM" enum:",plain,scram-sha-256,scram-sha-512" default:"" help:"SASL mechanism: plain, scram-sha-256 or scram-sha-512 (default: none)."`
	KafkaSASLUsername     string   `field:"SASLUsername" name:"kafka-sasl-username" env:"KAFKA_SASL_USERNAME" help:"SASL username."`
	KafkaSASLPassword     string   `field:"SASLPassword" name:"kafka-sasl-password" env:"KAFKA_SASL_PASSWORD" help:"SASL password (prefer the _FILE form)."`
	KafkaSASLPasswordFile string   `name:"kafka-sasl-password-file" env:"KAFKA_SASL_PASSWORD_FILE" help:"File holding the SASL password." placeholder:"FILE"`
}

func (f kafkaFlags) kafka() (kafkaio.Kafka, error) {
	if len(f.Brokers) == 0 {
		return kafkaio.Kafka{}, usagef("--brokers (KAFKA_BROKERS) is required")
	}
	pw, err := secret(f.KafkaSASLPassword, f.KafkaSASLPasswordFile, "--kafka-sasl-password", "KAFKA_SASL_PASSWORD")
	if err != nil {
		return kafkaio.Kafka{}, err
	}
	k := kafkaio.Kafka{
		Brokers: f.Brokers, TLS: f.KafkaTLS, TLSCAFile: f.KafkaTLSCAFile,
		SASLMechanism: f.KafkaSASLMechanism, SASLUsername: f.KafkaSASLUsername, SASLPassword: pw,
	}
	if err := k.Validate(); err != nil {
		return kafkaio.Kafka{}, flagError(err, f)
	}
	return k, nil
}

// startKafkaCommand is the common start of run and replay: the logger, then
// the Kafka connection settings.
func startKafkaCommand(e *env, lf logFlags, kf kafkaFlags) (*zap.Logger, kafkaio.Kafka, error) {
	log, err := lf.logger(e)
	if err != nil {
		return nil, kafkaio.Kafka{}, err
	}
	k, err := kf.kafka()
	if err != nil {
		_ = log.Sync()
		return nil, kafkaio.Kafka{}, err
	}
	return log, k, nil
}

// secret returns the value of a secret flag, or the contents of its _FILE
// form (a trailing newline removed). Setting both is a usage error.
func secret(value, file, flag, envName string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", usagef("%s (%s) and %s-file (%s_FILE) are both set: set one", flag, envName, flag, envName)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", usagef("%s-file (%s_FILE): %v", flag, envName, errors.Unwrap(err))
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// logFlags configure the zap logger.
type logFlags struct {
	LogLevel  string `name:"log-level" env:"REGNOTIFY_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level: debug, info, warn, error."`
	LogFormat string `name:"log-format" env:"REGNOTIFY_LOG_FORMAT" default:"json" enum:"json,console" help:"Log format: json or console."`
}

func (f logFlags) logger(e *env) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(f.LogLevel)
	if err != nil {
		return nil, usagef("--log-level (REGNOTIFY_LOG_LEVEL): %v", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	var enc zapcore.Encoder
	switch f.LogFormat {
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	default:
		return nil, usagef("--log-format (REGNOTIFY_LOG_FORMAT): %q, want json or console", f.LogFormat)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(e.stderr), lvl)), nil
}

func splitComma(s []string) []string {
	var out []string
	for _, v := range s {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
