package main

import (
	"os"
	"sort"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"go.uber.org/zap"

	"github.com/regnotify/regnotify/cmd/internal/config"
	"github.com/regnotify/regnotify/events/formats"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/kafkaio"
)

// siteFlags are the settings of sites, formats and site health.
type siteFlags struct {
	Config                     string        `name:"config" env:"REGNOTIFY_CONFIG" help:"YAML file of sites, quotas and topics; replaces the --gigya-*, --topics, --bulk-topics and --rate-limit flags." placeholder:"FILE"`
	SiteProbeInterval          time.Duration `name:"site-probe-interval" env:"REGNOTIFY_SITE_PROBE_INTERVAL" default:"30s" help:"How often a misconfigured site is probed."`
	SchemaRegistryURL          string        `name:"schema-registry-url" env:"SCHEMA_REGISTRY_URL" help:"Confluent Schema Registry URL, for the avro and jsonschema formats (default: none)." placeholder:"URL"`
	SchemaRegistryUsername     string        `name:"schema-registry-username" env:"SCHEMA_REGISTRY_USERNAME" help:"Schema Registry basic-auth username."`
	SchemaRegistryPassword     string        `name:"schema-registry-password" env:"SCHEMA_REGISTRY_PASSWORD" help:"Schema Registry basic-auth password (prefer the _FILE form)."`
	SchemaRegistryPasswordFile string        `name:"schema-registry-password-file" env:"SCHEMA_REGISTRY_PASSWORD_FILE" help:"File holding the Schema Registry password." placeholder:"FILE"`
}

// replacedByConfig are the flags (by name) that a configuration file
// replaces; setting one together with --config is a usage error.
func replacedByConfig(name string) bool {
	switch name {
	case "topics", "bulk-topics", "rate-limit":
		return true
	}
	return strings.HasPrefix(name, "gigya-")
}

// setFlags returns the flags the user set: given on the command line, or
// by a non-empty environment variable. A default does not count.
func setFlags(kctx *kong.Context) map[string]*kong.Flag {
	set := map[string]*kong.Flag{}
	for _, p := range kctx.Path {
		if p.Flag != nil {
			set[p.Flag.Name] = p.Flag
		}
	}
	for _, f := range kctx.Flags() {
		for _, name := range f.Envs {
			if v, ok := os.LookupEnv(name); ok && v != "" {
				set[f.Name] = f
			}
		}
	}
	return set
}

// flagText is "--name (ENV)".
func flagText(f *kong.Flag) string {
	if len(f.Envs) == 0 {
		return "--" + f.Name
	}
	return "--" + f.Name + " (" + strings.Join(f.Envs, ", ") + ")"
}

// runSetup is what run and check build from the configuration besides
// worker.Config: the sites and their clients, the schema registry.
type runSetup struct {
	specs    []*siteSpec
	reg      *formats.SchemaRegistry
	clients  *siteClients // set by runWorker / check
	fromFile bool
}

func (s *runSetup) close() {
	if s.clients != nil {
		s.clients.Close()
	}
	if s.reg != nil {
		s.reg.Close()
	}
}

// resolve turns the flags (and the configuration file, if any) into the
// worker's configuration and the sites. Every error is a usage error
// naming the flag, variable or file key.
func (c *runCmd) resolve(kctx *kong.Context, k kafkaio.Kafka, log *zap.Logger) (worker.Config, *runSetup, error) {
	cfg, err := c.config(k, c.RateLimit)
	if err != nil {
		return cfg, nil, err
	}
	if c.SiteProbeInterval <= 0 {
		return cfg, nil, usagef("--site-probe-interval (REGNOTIFY_SITE_PROBE_INTERVAL): must be positive")
	}
	cfg.SiteProbeInterval = c.SiteProbeInterval
	setup := &runSetup{}
	if c.SchemaRegistryURL != "" {
		pw, err := secret(c.SchemaRegistryPassword, c.SchemaRegistryPasswordFile, "--schema-registry-password", "SCHEMA_REGISTRY_PASSWORD")
		if err != nil {
			return cfg, nil, err
		}
		reg, err := formats.NewRegistry(c.SchemaRegistryURL, c.SchemaRegistryUsername, pw, nil)
		if err != nil {
			return cfg, nil, usagef("--schema-registry-url (SCHEMA_REGISTRY_URL): %v", err)
		}
		setup.reg = reg
	}
	if c.Config == "" {
		s, err := flagSite(c.gigyaFlags, cfg.Concurrency)
		if err != nil {
			setup.close()
			return cfg, nil, err
		}
		setup.specs = []*siteSpec{s}
		if s.opts.PartnerSecret == "" {
			log.Info("no partner secret: calls with a siteUID carry no UIDTimestamp/UIDSig")
		}
		return cfg, setup, nil
	}
	if err := c.fromFile(kctx, &cfg, setup); err != nil {
		setup.close()
		return cfg, nil, err
	}
	return cfg, setup, nil
}

// fromFile fills cfg's sites, quotas and topics from --config.
func (c *runCmd) fromFile(kctx *kong.Context, cfg *worker.Config, setup *runSetup) error {
	set := setFlags(kctx)
	var clash []string
	for name, f := range set {
		if replacedByConfig(name) {
			clash = append(clash, flagText(f))
		}
	}
	if len(clash) > 0 {
		sort.Strings(clash)
		return usagef("--config (REGNOTIFY_CONFIG) and %s are both set: the configuration file defines sites, quotas and topics; unset %s",
			strings.Join(clash, ", "), strings.Join(clash, ", "))
	}
	cf, err := config.Load(c.Config, os.LookupEnv)
	if err != nil {
		return usagef("--config (REGNOTIFY_CONFIG): %v", err)
	}
	specs, err := fileSites(cf, c.Config, cfg.Concurrency, c.RequestTimeout)
	if err != nil {
		return err
	}
	var reg formats.Registry
	if setup.reg != nil {
		reg = setup.reg
	}
	ts, err := fileTopics(cf, c.Config, reg)
	if err != nil {
		return err
	}
	setup.specs, setup.fromFile = specs, true
	cfg.Topics, cfg.BulkTopics, cfg.TopicConfig, cfg.Quotas = ts.live, ts.bulk, ts.routes, cf.Quotas
	cfg.RateLimit = 0
	return nil
}
