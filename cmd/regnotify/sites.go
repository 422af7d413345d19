package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/regnotify/regnotify/cmd/internal/config"
	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/field"
	"github.com/regnotify/regnotify/events/formats"
	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/filewatch"
)

// defaultSiteRateLimit is a configuration file site's rateLimit when the
// file does not give one: run's --rate-limit default.
const defaultSiteRateLimit = 100

// siteSpec is one Gigya site as run and check see it, from the
// configuration file or from the --gigya-* flags (site "default").
type siteSpec struct {
	name      string
	rateLimit float64
	quota     string
	opts      gigya.Options // secrets filled in from their files
	// The files the secrets come from ("" = not from a file); they are
	// watched for rotation.
	secretFile, keyFile, partnerFile string
	// where names the site's settings in messages: "--gigya-* flags" or
	// "sites[1] (line 7)".
	where string
	// settings maps a gigya.Options field to the setting that fills it,
	// for messages such as "check sites[0].secretFile".
	settings map[string]string
}

// setting names what fills the gigya.Options field fld.
func (s *siteSpec) setting(fld string) string {
	if v, ok := s.settings[fld]; ok {
		return v
	}
	return fld
}

// flagSite is the site "default" from the --gigya-* flags.
func flagSite(f gigyaFlags, maxConns int) (*siteSpec, error) {
	o, err := f.options(maxConns)
	if err != nil {
		return nil, err
	}
	s := &siteSpec{
		name: "default", rateLimit: f.RateLimit, opts: o, where: "the --gigya-* flags",
		secretFile: f.GigyaSecretFile, keyFile: f.GigyaPrivateKeyFile, partnerFile: f.GigyaPartnerSecretFile,
		settings: map[string]string{},
	}
	for _, fld := range []string{"APIKey", "DataCenter", "BaseURL", "Auth", "UserKey", "Secret", "PrivateKeyPEM", "PartnerSecret"} {
		s.settings[fld] = flagOf(fld, gigyaFlags{})
	}
	return s, nil
}

// fileSites turns the configuration file's sites into specs, reading their
// secret files.
func fileSites(cf *config.File, path string, maxConns int, timeout time.Duration) ([]*siteSpec, error) {
	specs := make([]*siteSpec, 0, len(cf.Sites))
	for i, cs := range cf.Sites {
		key := func(k string) string { return fmt.Sprintf("%s:%d: sites[%d].%s", path, cs.Line, i, k) }
		s := &siteSpec{
			name: cs.Name, quota: cs.Quota, rateLimit: defaultSiteRateLimit,
			where:      fmt.Sprintf("%s:%d: sites[%d] (%s)", path, cs.Line, i, cs.Name),
			secretFile: cs.SecretFile, keyFile: cs.PrivateKeyFile, partnerFile: cs.PartnerSecretFile,
			settings: map[string]string{
				"APIKey": key("apiKey"), "DataCenter": key("dataCenter"), "BaseURL": key("baseURL"),
				"Auth": key("auth"), "UserKey": key("userKey"),
				"Secret": key(pick(cs.SecretFile != "", "secretFile", "secret")), "PrivateKeyPEM": key(pick(cs.PrivateKeyFile != "", "privateKeyFile", "privateKey")),
				"PartnerSecret": key(pick(cs.PartnerSecretFile != "", "partnerSecretFile", "partnerSecret")),
			},
		}
		if cs.RateLimit != nil {
			s.rateLimit = *cs.RateLimit
		}
		s.opts = gigya.Options{
			APIKey: cs.APIKey, DataCenter: cs.DataCenter, BaseURL: cs.BaseURL, Auth: gigya.AuthMode(cs.Auth),
			UserKey: cs.UserKey, Secret: cs.Secret, PrivateKeyPEM: []byte(cs.PrivateKey), PartnerSecret: cs.PartnerSecret,
			RequestTimeout: timeout, MaxConns: maxConns,
		}
		if cs.PrivateKey == "" {
			s.opts.PrivateKeyPEM = nil
		}
		if err := s.readFiles(); err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// readFiles reads the site's secret files into opts.
func (s *siteSpec) readFiles() error {
	read := func(path, fld string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usagef("%s: cannot read %s: %v", s.setting(fld), path, errors.Unwrap(err))
		}
		return b, nil
	}
	if s.secretFile != "" {
		b, err := read(s.secretFile, "Secret")
		if err != nil {
			return err
		}
		s.opts.Secret = trimSecret(b)
	}
	if s.keyFile != "" {
		b, err := read(s.keyFile, "PrivateKeyPEM")
		if err != nil {
			return err
		}
		s.opts.PrivateKeyPEM = b
	}
	if s.partnerFile != "" {
		b, err := read(s.partnerFile, "PartnerSecret")
		if err != nil {
			return err
		}
		s.opts.PartnerSecret = trimSecret(b)
	}
	return nil
}

func trimSecret(b []byte) string { return strings.TrimRight(string(b), "\r\n") }

// optionError names the site's setting behind a gigya.Options error.
func (s *siteSpec) optionError(err error) error {
	var fe *field.Error
	if errors.As(err, &fe) {
		return usagef("%s: %s", s.setting(fe.Field), fe.Reason)
	}
	return usagef("%s: %v", s.where, err)
}

// siteClients are the Gigya clients of the sites, one each.
type siteClients struct {
	specs   []*siteSpec
	clients []*gigya.Client
}

// newSiteClients makes one client per site; observe, log and tp are
// shared. A bad option is a usage error naming the site's setting.
func newSiteClients(specs []*siteSpec, base gigya.Options) (*siteClients, error) {
	sc := &siteClients{specs: specs}
	for _, s := range specs {
		o := s.opts
		o.Observe, o.TracerProvider = base.Observe, base.TracerProvider
		if base.Logger != nil {
			o.Logger = base.Logger.With(zap.String("site", s.name))
		}
		c, err := gigya.New(o)
		if err != nil {
			sc.Close()
			return nil, s.optionError(err)
		}
		sc.clients = append(sc.clients, c)
	}
	return sc, nil
}

// Close closes every client's idle connections.
func (sc *siteClients) Close() {
	for _, c := range sc.clients {
		c.Close()
	}
}

// workerSites is the worker's view of the sites.
func (sc *siteClients) workerSites() []worker.Site {
	out := make([]worker.Site, len(sc.specs))
	for i, s := range sc.specs {
		out[i] = worker.Site{Name: s.name, APIKey: s.opts.APIKey, Gigya: sc.clients[i], RateLimit: s.rateLimit, Quota: s.quota}
	}
	return out
}

// topicSetup is the topics part of worker.Config from a configuration
// file.
type topicSetup struct {
	live, bulk []string
	routes     map[string]worker.Topic
}

// fileTopics builds each topic's routing, lane and decoder. reg is nil
// without --schema-registry-url; an avro or jsonschema topic then is a
// usage error naming the topic and the flag.
func fileTopics(cf *config.File, path string, reg formats.Registry) (topicSetup, error) {
	ts := topicSetup{routes: map[string]worker.Topic{}}
	for i, t := range cf.Topics {
		where := fmt.Sprintf("%s:%d: topics[%d] (%s)", path, t.Line, i, t.Name)
		needsRegistry := t.Format == formats.FormatAvro || t.Format == formats.FormatJSONSchema
		if needsRegistry && reg == nil {
			return ts, usagef("%s: format %s needs --schema-registry-url (SCHEMA_REGISTRY_URL)", where, t.Format)
		}
		var dec formats.Decoder
		if !isPlainRegnotify(t) {
			d, err := formats.New(formats.Spec{Format: t.Format, Type: events.Type(t.Type), Fields: t.Fields, Types: t.Types}, reg)
			if err != nil {
				return ts, usagef("%s: %v", where, err)
			}
			dec = d
		}
		wt := worker.Topic{Site: t.Site, SiteFrom: worker.SiteFrom{Header: t.SiteFrom.Header, Field: t.SiteFrom.Field}, Lane: t.Lane, Decoder: dec}
		if wt.Site != "" {
			if s, ok := cf.Lookup(wt.Site); ok {
				wt.Site = s.Name
			}
		}
		ts.routes[t.Name] = wt
		if t.Lane == config.LaneBulk {
			ts.bulk = append(ts.bulk, t.Name)
		} else {
			ts.live = append(ts.live, t.Name)
		}
	}
	return ts, nil
}

// isPlainRegnotify reports whether the strict decoder the worker uses by
// default (events.Decode, type from the topic name) reads t.
func isPlainRegnotify(t config.Topic) bool {
	if t.Format != "" && t.Format != config.FormatRegnotify {
		return false
	}
	typ, ok := events.TypeFromTopic(t.Name)
	return ok && string(typ) == t.Type
}

// rotator re-reads the sites' secret files and swaps a client's secrets
// when one changes; the site is then probed at once (SiteChanged), so a
// misconfigured site heals without a restart.
type rotator struct {
	log     *zap.Logger
	watcher *filewatch.Watcher
	changed func(site string)

	mu    sync.Mutex
	sites []*rotatingSite
}

type rotatingSite struct {
	spec   *siteSpec
	client *gigya.Client
}

// newRotator watches every secret file of sc. changed is called (on the
// watcher's goroutine) after a site's secrets were swapped. It returns nil
// when no site has a secret file.
func newRotator(sc *siteClients, interval time.Duration, log *zap.Logger, changed func(site string)) (*rotator, error) {
	r := &rotator{log: log, changed: changed}
	w, err := filewatch.New(filewatch.Options{Interval: interval, OnChange: r.onChange, OnError: r.onError})
	if err != nil {
		return nil, err
	}
	r.watcher = w
	watched := false
	for i, s := range sc.specs {
		r.sites = append(r.sites, &rotatingSite{spec: s, client: sc.clients[i]})
		for _, p := range []string{s.secretFile, s.keyFile, s.partnerFile} {
			if p == "" {
				continue
			}
			if _, err := w.Add(p); err != nil {
				return nil, usagef("%s: %v", s.where, err)
			}
			watched = true
		}
	}
	if !watched {
		return nil, nil
	}
	return r, nil
}

func (r *rotator) onError(path string, err error) {
	r.log.Warn("secret file unreadable; keeping the credentials in use", zap.String("path", path), zap.Error(err))
}

func (r *rotator) onChange(path string, content []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range r.sites {
		s := rs.spec
		o := s.opts
		switch path {
		case s.secretFile:
			o.Secret = trimSecret(content)
		case s.keyFile:
			o.PrivateKeyPEM = content
		case s.partnerFile:
			o.PartnerSecret = trimSecret(content)
		default:
			continue
		}
		if err := rs.client.SetSecrets(o.Secret, o.PrivateKeyPEM, o.PartnerSecret); err != nil {
			r.log.Warn("rotated secret file refused; keeping the credentials in use",
				zap.String("site", s.name), zap.String("path", path), zap.Error(err))
			continue
		}
		s.opts = o
		r.log.Info("site credentials reloaded", zap.String("site", s.name), zap.String("path", path))
		r.changed(s.name)
	}
}
