package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/worker"
)

// checkCmd is the preflight: run's configuration, checked against Kafka
// and every Gigya site without consuming or notifying anything.
type checkCmd struct {
	runCmd  `embed:""`
	Timeout time.Duration `name:"check-timeout" env:"REGNOTIFY_CHECK_TIMEOUT" default:"15s" help:"How long each check may take."`
}

// checkRow is one line of check's table.
type checkRow struct {
	what, name string
	ok         bool
	detail     string
}

// errProblems makes check exit 1 after printing its table.
var errProblems = errors.New("check: problems found (see the table)")

// Run checks and prints the table: exit 0 all good, 1 problems, 2 bad
// configuration.
func (c *checkCmd) Run(e *env, kctx *kong.Context) error {
	log, k, err := startKafkaCommand(e, c.logFlags, c.kafkaFlags)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // best effort on exit
	if c.Timeout <= 0 {
		return usagef("--check-timeout (REGNOTIFY_CHECK_TIMEOUT): must be positive")
	}
	cfg, setup, err := c.resolve(kctx, k, log)
	if err != nil {
		return err
	}
	defer setup.close()
	clients, err := newSiteClients(setup.specs, gigya.Options{Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	setup.clients = clients
	rows := c.checkKafka(e.ctx, cfg)
	for i, s := range setup.specs {
		rows = append(rows, c.checkSite(e.ctx, s, clients.clients[i]))
	}
	if err := printChecks(e.stdout, rows); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	for _, r := range rows {
		if !r.ok {
			return errProblems
		}
	}
	return nil
}

// checkKafka checks that Kafka answers with the configured security, and
// that every consumed topic and the dead-letter topic exist.
func (c *checkCmd) checkKafka(ctx context.Context, cfg worker.Config) []checkRow {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	sec := fmt.Sprintf("TLS %s, SASL %s", onOff(cfg.Kafka.TLS), orNone(cfg.Kafka.SASLMechanism))
	if err := cfg.Kafka.Check(ctx); err != nil {
		return []checkRow{{"kafka", cfg.Kafka.Brokers[0], false, fmt.Sprintf("%v (%s)", err, sec)}}
	}
	rows := []checkRow{{"kafka", cfg.Kafka.Brokers[0], true, "reachable (" + sec + ")"}}
	tr, err := cfg.Kafka.Transport()
	if err != nil {
		return append(rows, checkRow{"kafka", "transport", false, err.Error()})
	}
	defer tr.CloseIdleConnections()
	topics := append(append(append([]string{}, cfg.Topics...), cfg.BulkTopics...), cfg.DLQTopic)
	cl := &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Transport: tr, Timeout: c.Timeout}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return append(rows, checkRow{"kafka", "metadata", false, err.Error()})
	}
	found := map[string]kafka.Topic{}
	for _, t := range md.Topics {
		found[t.Name] = t
	}
	for i, name := range topics {
		what := "topic"
		if i == len(topics)-1 {
			what = "dlq topic"
		}
		t, ok := found[name]
		switch {
		case !ok || errors.Is(t.Error, kafka.UnknownTopicOrPartition):
			rows = append(rows, checkRow{what, name, false, "does not exist"})
		case t.Error != nil:
			rows = append(rows, checkRow{what, name, false, t.Error.Error()})
		default:
			rows = append(rows, checkRow{what, name, true, fmt.Sprintf("%d partitions", len(t.Partitions))})
		}
	}
	return rows
}

// checkSite asks Gigya about a random UID with the site's credentials:
// 403005 (unknown user) means they work.
func (c *checkCmd) checkSite(ctx context.Context, s *siteSpec, cl *gigya.Client) checkRow {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	partner := "partner secret present"
	if s.opts.PartnerSecret == "" {
		partner = "no partner secret (no UIDSig sent)"
	}
	row := checkRow{what: "site", name: s.name}
	_, err := cl.GetUserInfo(ctx, randomUID())
	clock := "clock offset " + cl.ClockOffset().Round(time.Second).String()
	var ge *gigya.Error
	switch {
	case err == nil, errors.As(err, &ge) && ge.UnknownUser():
		row.ok = true
		row.detail = fmt.Sprintf("credentials work (%s auth); %s; %s", authOf(s), clock, partner)
		return row
	case errors.As(err, &ge) && ge.Code != 0:
		row.detail = fmt.Sprintf("%d: %s; %s; %s", ge.Code, siteAdvice(s, ge), clock, partner)
	case errors.As(err, &ge) && ge.HTTPStatus != 0:
		row.detail = fmt.Sprintf("HTTP %d from %s; check %s", ge.HTTPStatus, baseOf(s), s.setting(pick(s.opts.BaseURL != "", "BaseURL", "DataCenter")))
	default:
		row.detail = fmt.Sprintf("cannot reach %s: %s", baseOf(s), transportCause(err))
	}
	return row
}

// siteAdvice names the setting to fix for a site-wide Gigya answer.
func siteAdvice(s *siteSpec, ge *gigya.Error) string {
	secret := s.setting("Secret")
	if s.opts.Auth == gigya.AuthBearer || (s.opts.Auth == "" && len(s.opts.PrivateKeyPEM) > 0) {
		secret = s.setting("PrivateKeyPEM")
	}
	switch ge.Code {
	case 400093:
		return "invalid API key; check " + s.setting("APIKey")
	case 403003:
		return "invalid signature; check " + secret + " (and " + s.setting("PartnerSecret") + ")"
	case 403006:
		return "secret sent over plain HTTP; use https in " + s.setting("BaseURL") + " or another " + s.setting("Auth")
	case 403007:
		return "permission denied for the application key; check " + s.setting("UserKey") + " and its permissions in the Gigya console"
	case 403010:
		return "invalid secret; check " + secret
	case 301001:
		fld := pick(s.opts.BaseURL != "", "BaseURL", "DataCenter")
		return fmt.Sprintf("wrong data center: Gigya says apiDomain %s; set %s accordingly", ge.APIDomain, s.setting(fld))
	}
	return fmt.Sprintf("Gigya refused the check call (%s)", ge.Message)
}

// transportCause describes a failure to reach Gigya; a TLS failure's
// cause is named.
func transportCause(err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ua):
		return "TLS: certificate signed by an unknown authority"
	case errors.As(err, &he):
		return "TLS: certificate not valid for " + he.Host
	case errors.As(err, &ci):
		return "TLS: invalid certificate: " + ci.Error()
	case errors.As(err, &rh):
		return "TLS: the server does not speak TLS (plain HTTP?)"
	case errors.As(err, &cv):
		return "TLS: " + cv.Err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return err.Error()
}

func authOf(s *siteSpec) string {
	if s.opts.Auth != "" {
		return string(s.opts.Auth)
	}
	if len(s.opts.PrivateKeyPEM) > 0 {
		return string(gigya.AuthBearer)
	}
	return string(gigya.AuthSecret)
}

func baseOf(s *siteSpec) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	dc := s.opts.DataCenter
	if dc == "" {
		dc = gigya.DefaultDataCenter
	}
	return "https://socialize." + dc
}

func onOff(b bool) string { return pick(b, "on", "off") }

func orNone(s string) string { return pick(s != "", s, "off") }

// randomUID is a UID no account has.
func randomUID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "regnotify-check-" + hex.EncodeToString(b)
}

// printChecks writes the table.
func printChecks(w io.Writer, rows []checkRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tNAME\tRESULT\tDETAIL")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.what, r.name, pick(r.ok, "ok", "PROBLEM"), r.detail)
	}
	return tw.Flush()
}
