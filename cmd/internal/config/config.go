// Package config reads regnotify's configuration file (`--config`): the
// sites, quotas and topics of one worker, as YAML.
//
// Decoding is strict: an unknown key, a duplicate key or site or topic name,
// a reference to an unknown site or quota, a value of the wrong kind and a
// literal secret are each a *Error naming the file, the line and the key.
// `${VAR}` in any value is replaced from the environment; `$$` stands for
// one literal `$`. Error messages quote a value as written in the file, never
// as interpolated, and never quote a secret at all, so no secret from the
// environment can reach an error.
//
// It is NOT the worker's wiring: it opens no connection, reads no secret
// file (Site.SecretFile and friends are paths, read by the caller) and knows
// nothing of flags; the caller checks that the flags the file replaces are
// unset.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// File is a decoded and validated configuration file.
type File struct {
	// Sites in file order; names and apiKeys are unique.
	Sites []Site
	// Quotas maps a quota's name to its budget in calls/s for the whole
	// consumer group (0 = none).
	Quotas map[string]float64
	// Topics in file order; names are unique.
	Topics []Topic
}

// Lookup returns the site a topic's `site` or a record's siteFrom value
// names: a site's name, else a site's apiKey (both are unique in a File).
func (f *File) Lookup(nameOrAPIKey string) (*Site, bool) {
	for i := range f.Sites {
		if f.Sites[i].Name == nameOrAPIKey {
			return &f.Sites[i], true
		}
	}
	for i := range f.Sites {
		if f.Sites[i].APIKey == nameOrAPIKey {
			return &f.Sites[i], true
		}
	}
	return nil, false
}

// Site is one Gigya site: credentials, data center and budget.
type Site struct {
	// Name matches ^[a-z0-9][a-z0-9-]{0,62}$; it is the `site` label and
	// the value a siteFrom header or field names.
	Name   string
	APIKey string
	// DataCenter is a host such as eu1.gigya.com; "" when BaseURL is set.
	// Neither set means DefaultDataCenter.
	DataCenter string
	// BaseURL is an absolute http(s) URL (the simulator); "" when
	// DataCenter is set.
	BaseURL string
	// Auth is "bearer", "secret", "signed" or "" (then: bearer if a
	// private key is set, else secret, as for run).
	Auth    string
	UserKey string
	// SecretFile, PrivateKeyFile and PartnerSecretFile are paths; the
	// caller reads them (and re-reads them when they change).
	SecretFile string
	// Secret is the application secret from `secret: ${VAR}`.
	Secret         string
	PrivateKeyFile string
	// PrivateKey is the PEM key from `privateKey: ${VAR}`.
	PrivateKey        string
	PartnerSecretFile string
	// PartnerSecret is the partner secret from `partnerSecret: ${VAR}`.
	PartnerSecret string
	// RateLimit in calls/s for the whole group; nil = run's default, 0 = none.
	RateLimit *float64
	// Quota names an entry of File.Quotas, or is "".
	Quota string
	// Line is the line of the site's entry in the file.
	Line int
}

// String describes the site without any secret.
func (s Site) String() string {
	return fmt.Sprintf("site %s (apiKey %s, line %d)", s.Name, s.APIKey, s.Line)
}

// GoString is String, so that %#v cannot print a secret either.
func (s Site) GoString() string { return s.String() }

// Topic is one consumed topic: where its events go and how they are read.
type Topic struct {
	Name string
	// Site names a site; "" when SiteFrom is set.
	Site string
	// SiteFrom routes each record by a header or a field; zero when Site
	// is set.
	SiteFrom SiteFrom
	// Lane is "live" (default) or "bulk".
	Lane string
	// Format is "regnotify" (default), "json", "cloudevents", "avro" or
	// "jsonschema".
	Format string
	// Type is the topic's event type: as written, else from the name's
	// suffix; "" only for a cloudevents topic whose Types give it.
	Type string
	// Fields maps an event field (eventId, uid, siteUid, cid, occurredAt,
	// type) to a JSON Pointer; nil = the format's defaults.
	Fields map[string]string
	// Types maps a CloudEvents type to an event type (cloudevents only).
	Types map[string]string
	// Line is the line of the topic's entry in the file.
	Line int
}

// SiteFrom says where a record names its site: exactly one of Header (a
// Kafka header's name) and Field (a JSON Pointer into the record).
type SiteFrom struct {
	Header string
	Field  string
}

// IsZero reports whether neither Header nor Field is set.
func (s SiteFrom) IsZero() bool { return s.Header == "" && s.Field == "" }

// The accepted values and defaults.
const (
	DefaultDataCenter = "us1.gigya.com"
	LaneLive          = "live"
	LaneBulk          = "bulk"
	FormatRegnotify   = "regnotify"
)

// Error is a configuration error. Its text never contains a secret.
type Error struct {
	// File is the file's name as given to Parse or Load.
	File string
	// Line is 1-based; 0 when the error concerns no line.
	Line int
	// Key is the path of the key, e.g. "sites[1].secret"; "" for the file.
	Key string
	// Msg says what is wrong.
	Msg string
	// Err is the underlying error, if any (e.g. reading the file).
	Err error
}

// Error reads like "regnotify.yaml:12: sites[1].secret: a literal secret is
// refused; use secretFile or ${VAR}".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Getenv looks up an environment variable; os.LookupEnv is one.
type Getenv func(name string) (value string, ok bool)

// Load reads and parses the file at path; see Parse.
func Load(path string, getenv Getenv) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := "cannot read the configuration file"
		if errors.Is(err, os.ErrNotExist) {
			msg = "no such configuration file"
		}
		return nil, &Error{File: path, Msg: msg, Err: err}
	}
	return Parse(data, path, getenv)
}

// Parse decodes and validates a configuration file's content; name is the
// file's name for errors. getenv resolves `${VAR}`; nil means no variable
// is set. Every error is a *Error.
func Parse(data []byte, name string, getenv Getenv) (*File, error) {
	if getenv == nil {
		getenv = func(string) (string, bool) { return "", false }
	}
	p := &parser{name: name, getenv: getenv}
	raw, err := p.decode(data)
	if err != nil {
		return nil, err
	}
	return p.build(raw)
}
