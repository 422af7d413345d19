package gigya

import (
	"fmt"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// endpoints are the URLs a Client calls, swapped as a whole by
// UseAPIDomain so that a call never mixes two data centers.
type endpoints struct {
	base               string
	notify, user       string
	notifyEnc, userEnc string // PercentEncode(normalizeURL(url)), for the signed mode's sig
}

func (c *Client) endpointsFor(base string) (*endpoints, error) {
	ep := &endpoints{base: base, notify: base + "/" + methodNotifyRegistration, user: base + "/" + methodGetUserInfo}
	if c.cfg.auth != AuthSigned {
		return ep, nil
	}
	for _, u := range []struct {
		raw string
		enc *string
	}{{ep.notify, &ep.notifyEnc}, {ep.user, &ep.userEnc}} {
		norm, err := normalizeURL(u.raw)
		if err != nil {
			return nil, err
		}
		*u.enc = PercentEncode(norm)
	}
	return ep, nil
}

// BaseURL returns the base URL the client calls now (after any
// UseAPIDomain).
func (c *Client) BaseURL() string { return c.ep.Load().base }

// UseAPIDomain makes every later call go to the data center apiDomain, as
// a 301001 answer (wrong data center) names it. For a client set up with a
// data center the base URL becomes https://socialize.<apiDomain>; for one
// set up with Options.BaseURL (the simulator), apiDomain is a host[:port]
// that replaces the base URL's host, keeping its scheme and path. It is
// safe to call concurrently with calls in flight, which finish on the old
// URL. The same rules for sending a secret over plain HTTP apply as in New.
func (c *Client) UseAPIDomain(apiDomain string) error {
	d := strings.ToLower(strings.TrimSpace(apiDomain))
	if d == "" || strings.ContainsAny(d, "/@?# \t\\") {
		return fmt.Errorf("gigya use apiDomain: %q is not a host name", apiDomain)
	}
	var u *url.URL
	if c.cfg.fromBaseURL {
		old, err := url.Parse(c.ep.Load().base)
		if err != nil {
			return fmt.Errorf("gigya use apiDomain: %w", err)
		}
		u = &url.URL{Scheme: old.Scheme, Host: d, Path: old.Path}
	} else {
		if strings.Contains(d, ":") {
			return fmt.Errorf("gigya use apiDomain: %q is not a data center host name", apiDomain)
		}
		u = &url.URL{Scheme: "https", Host: "socialize." + d}
	}
	if c.cfg.auth == AuthSecret && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("gigya use apiDomain: refusing to send the secret over plain http to %q", u.Hostname())
	}
	ep, err := c.endpointsFor(u.String())
	if err != nil {
		return fmt.Errorf("gigya use apiDomain: %w", err)
	}
	if old := c.ep.Swap(ep); old.base != ep.base {
		c.log.Info("gigya base URL changed", zap.String("from", redactURL(old.base)), zap.String("to", redactURL(ep.base)))
	}
	return nil
}
