package main

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/regnotify/regnotify/events/field"
)

// dataCenters are Gigya's documented data centers; each also has an mTLS
// form, mtls.<data center>.
var dataCenters = []string{"us1.gigya.com", "eu1.gigya.com", "au1.gigya.com", "eu2.gigya.com", "global.gigya.com", "cn1.sapcdm.cn"}

// dataCenterDomains are the domains under which another host (a new data
// center) is accepted as one.
var dataCenterDomains = []string{"gigya.com", "sapcdm.cn"}

// checkDataCenter accepts a documented data center (or its mtls. form), or
// a host name under gigya.com or sapcdm.cn; anything else only with a base
// URL, which then decides where requests go. A typo would otherwise send
// the credentials to whatever host it names.
func checkDataCenter(dc, baseURL string) error {
	if baseURL != "" || dc == "" {
		return nil
	}
	host := strings.ToLower(dc)
	if !validHostName(host) {
		return field.Errorf("Options", "DataCenter", "%q is not a host name like %q", dc, dataCenters[0])
	}
	for _, d := range dataCenterDomains {
		if strings.HasSuffix(host, "."+d) {
			return nil
		}
	}
	return field.Errorf("Options", "DataCenter", "%q is not a Gigya data center (%s, their mtls.<data center> forms, or a host under %s); set --gigya-base-url (GIGYA_BASE_URL) for another host",
		dc, strings.Join(dataCenters, ", "), strings.Join(dataCenterDomains, " or "))
}

// validHostName reports whether h is a DNS host name: dot-separated labels
// of letters, digits and inner hyphens.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// checkRequestTimeout refuses a timeout of zero or less: to the Gigya
// client zero means "the default", but a flag set to zero is a mistake.
func checkRequestTimeout(d time.Duration) error {
	if d <= 0 {
		return field.Errorf("Options", "RequestTimeout", "%s: must be positive", d)
	}
	return nil
}

// checkWorkerFlags refuses what worker.Config would silently replace: a
// topic list that is empty once split (it would mean the default topics),
// and an HTTP address that is not host:port with a numeric port.
func checkWorkerFlags(topics []string, httpAddr string) error {
	if len(topics) == 0 {
		return field.Errorf("Config", "Topics", "names no topic")
	}
	if httpAddr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return field.Errorf("Config", "HTTPAddr", "%q is not host:port (e.g. :8080 or 127.0.0.1:8080; empty for none)", httpAddr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && n == 0) {
		return field.Errorf("Config", "HTTPAddr", "%q: port %q is not a number from 0 to 65535", httpAddr, port)
	}
	return nil
}

// checkGigyaFlags checks the Gigya flags that the client would accept but
// that are wrong, naming the flag and variable.
func checkGigyaFlags(f gigyaFlags) error {
	if err := checkRequestTimeout(f.RequestTimeout); err != nil {
		return flagError(err, f)
	}
	if err := checkDataCenter(f.GigyaDataCenter, f.GigyaBaseURL); err != nil {
		return flagError(err, f)
	}
	return nil
}
