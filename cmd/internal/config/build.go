package config

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

var (
	siteName  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	topicName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
	hostName  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$`)
)

// build validates the raw shapes and returns the typed file.
func (p *parser) build(raw *rawFile) (*File, error) {
	f := &File{Quotas: map[string]float64{}}
	if err := p.quotas(raw, f); err != nil {
		return nil, err
	}
	if len(raw.Sites) == 0 {
		return nil, p.errf(p.keyLine("sites"), "sites", "at least one site is required")
	}
	first, apiKeys := map[string]int{}, map[string]int{}
	for i, rs := range raw.Sites {
		s, rawName, err := p.site(rs, i, f.Quotas)
		if err != nil {
			return nil, err
		}
		if at, dup := first[s.Name]; dup {
			return nil, p.errf(s.Line, fmt.Sprintf("sites[%d].name", i), "duplicate site name %q (first at line %d)", rawName, at)
		}
		if at, dup := apiKeys[s.APIKey]; dup {
			return nil, p.errf(s.Line, fmt.Sprintf("sites[%d].apiKey", i),
				"site %s has the apiKey of the site at line %d; siteFrom could not tell them apart", rawName, at)
		}
		first[s.Name], apiKeys[s.APIKey] = s.Line, s.Line
		f.Sites = append(f.Sites, s)
	}
	if len(raw.Topics) == 0 {
		return nil, p.errf(p.keyLine("topics"), "topics", "at least one topic is required")
	}
	seen := map[string]int{}
	for i, rt := range raw.Topics {
		t, rawName, err := p.topic(rt, i, first)
		if err != nil {
			return nil, err
		}
		if at, dup := seen[t.Name]; dup {
			return nil, p.errf(t.Line, fmt.Sprintf("topics[%d].name", i), "duplicate topic %q (first at line %d)", rawName, at)
		}
		seen[t.Name] = t.Line
		f.Topics = append(f.Topics, t)
	}
	return f, nil
}

func (p *parser) quotas(raw *rawFile, f *File) error {
	for _, name := range sortedKeys(raw.Quotas) {
		s := raw.Quotas[name]
		key := "quotas." + name
		v, err := p.number(s, key)
		if err != nil {
			return err
		}
		if !siteName.MatchString(name) {
			return p.errf(v.line, key, "a quota name must match %s", siteName)
		}
		if v.num == nil {
			return p.errf(v.line, key, "a budget in calls/s is required")
		}
		f.Quotas[name] = *v.num
	}
	return nil
}

// site validates one entry of sites. It also returns the name as written,
// for messages: no message quotes an interpolated value.
func (p *parser) site(rs *rawSite, i int, quotas map[string]float64) (Site, string, error) {
	at := fmt.Sprintf("sites[%d]", i)
	s := Site{Line: p.itemLine("sites", i)}
	if rs == nil {
		return s, "", p.errf(s.Line, at, "expected a mapping")
	}
	var err error
	plain := []struct {
		dst *string
		src *scalar
		key string
	}{
		{&s.Name, rs.Name, "name"}, {&s.APIKey, rs.APIKey, "apiKey"},
		{&s.DataCenter, rs.DataCenter, "dataCenter"}, {&s.BaseURL, rs.BaseURL, "baseURL"},
		{&s.Auth, rs.Auth, "auth"}, {&s.UserKey, rs.UserKey, "userKey"},
		{&s.SecretFile, rs.SecretFile, "secretFile"}, {&s.PrivateKeyFile, rs.PrivateKeyFile, "privateKeyFile"},
		{&s.PartnerSecretFile, rs.PartnerSecretFile, "partnerSecretFile"}, {&s.Quota, rs.Quota, "quota"},
	}
	vals := map[string]value{}
	for _, f := range plain {
		v, err := p.str(f.src, at+"."+f.key)
		if err != nil {
			return s, "", err
		}
		*f.dst, vals[f.key] = v.text, v
	}
	secrets := []struct {
		dst  *string
		src  *scalar
		key  string
		file string
	}{
		{&s.Secret, rs.Secret, "secret", "secretFile"},
		{&s.PrivateKey, rs.PrivateKey, "privateKey", "privateKeyFile"},
		{&s.PartnerSecret, rs.PartnerSecret, "partnerSecret", "partnerSecretFile"},
	}
	for _, sec := range secrets {
		if *sec.dst, err = p.secret(sec.src, at+"."+sec.key, sec.file); err != nil {
			return s, "", err
		}
		if *sec.dst != "" && vals[sec.file].set {
			return s, "", p.errf(line(sec.src.node), at+"."+sec.key, "set %s or %s, not both", sec.key, sec.file)
		}
	}
	rl, err := p.number(rs.RateLimit, at+".rateLimit")
	if err != nil {
		return s, "", err
	}
	s.RateLimit = rl.num
	return s, vals["name"].raw, p.checkSite(&s, at, vals, quotas)
}

// checkSite applies the rules that relate a site's settings.
func (p *parser) checkSite(s *Site, at string, vals map[string]value, quotas map[string]float64) error {
	name := vals["name"]
	switch {
	case !name.set || s.Name == "":
		return p.errf(s.Line, at+".name", "a site needs a name")
	case !siteName.MatchString(s.Name):
		return p.errf(name.line, name.key, "site name %q must match %s", name.raw, siteName)
	case s.APIKey == "":
		return p.errf(s.Line, at+".apiKey", "site %s needs an apiKey", name.raw)
	case s.UserKey == "":
		return p.errf(s.Line, at+".userKey", "site %s needs a userKey", name.raw)
	case s.DataCenter != "" && s.BaseURL != "":
		return p.errf(vals["baseURL"].line, at+".baseURL", "set dataCenter or baseURL, not both")
	}
	if err := p.checkEndpoint(s, vals); err != nil {
		return err
	}
	switch s.Auth {
	case "", "bearer", "secret", "signed":
	default:
		v := vals["auth"]
		return p.errf(v.line, v.key, "auth %q must be bearer, secret or signed", v.raw)
	}
	if err := p.checkCredentials(s, at, name.raw); err != nil {
		return err
	}
	if s.Quota != "" {
		if _, ok := quotas[s.Quota]; !ok {
			v := vals["quota"]
			return p.errf(v.line, v.key, "unknown quota %q (not in quotas)", v.raw)
		}
	}
	return nil
}

func (p *parser) checkEndpoint(s *Site, vals map[string]value) error {
	if s.BaseURL != "" {
		v := vals["baseURL"]
		u, err := url.Parse(s.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return p.errf(v.line, v.key, "baseURL %q must be an absolute http or https URL", v.raw)
		}
		return nil
	}
	if s.DataCenter == "" {
		s.DataCenter = DefaultDataCenter
		return nil
	}
	if !hostName.MatchString(s.DataCenter) {
		v := vals["dataCenter"]
		return p.errf(v.line, v.key, "dataCenter %q must be a host such as eu1.gigya.com (no scheme, no path)", v.raw)
	}
	return nil
}

// checkCredentials checks that the site's auth has what it needs.
func (p *parser) checkCredentials(s *Site, at, name string) error {
	hasKey := s.PrivateKeyFile != "" || s.PrivateKey != ""
	hasSecret := s.SecretFile != "" || s.Secret != ""
	switch {
	case s.Auth == "bearer" && !hasKey:
		return p.errf(s.Line, at+".privateKeyFile", "auth bearer needs privateKeyFile (or privateKey: ${VAR})")
	case (s.Auth == "secret" || s.Auth == "signed") && !hasSecret:
		return p.errf(s.Line, at+".secretFile", "auth %s needs secretFile (or secret: ${VAR})", s.Auth)
	case s.Auth == "" && !hasKey && !hasSecret:
		return p.errf(s.Line, at+".secretFile", "site %s has no credentials: set privateKeyFile (bearer) or secretFile (secret, signed)", name)
	}
	return nil
}

// secret reads a secret key: only an exact ${VAR} is accepted. A literal
// is refused before any interpolation and without quoting it.
func (p *parser) secret(s *scalar, key, fileKey string) (string, error) {
	if s == nil || s.node == nil {
		return "", nil
	}
	n := s.node
	if _, null := n.(*ast.NullNode); null {
		return "", nil
	}
	raw, ok := scalarText(n)
	if !ok || !varRef.MatchString(raw) {
		return "", p.errf(line(n), key, "a literal secret is refused; use %s or ${VAR}", fileKey)
	}
	v, err := p.str(s, key)
	if err != nil {
		return "", err
	}
	if v.text == "" {
		return "", p.errf(v.line, key, "%s is empty", raw)
	}
	return v.text, nil
}

// number is a value that is a non-negative finite number, or absent.
type number struct {
	value
	num *float64
}

func (p *parser) number(s *scalar, key string) (number, error) {
	v, err := p.str(s, key)
	if err != nil || !v.set {
		return number{value: v}, err
	}
	f, perr := strconv.ParseFloat(strings.TrimSpace(v.text), 64)
	if perr != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return number{value: v}, p.errf(v.line, v.key, "%q must be a number of calls/s ≥ 0", v.raw)
	}
	return number{value: v, num: &f}, nil
}
