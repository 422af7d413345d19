package main

import (
	"slices"
	"strings"
	"testing"
)

// Configuration that the worker or the Gigya client would accept but that
// is wrong exits 2 naming the flag and its variable (issue 12 item 6).
func TestRunWrongButAcceptedConfigurationExits2(t *testing.T) {
	common := []string{"run", "--brokers", "127.0.0.1:1", "--gigya-api-key", "3_k", "--gigya-user-key", "uk",
		"--gigya-secret", "c2VjcmV0", "--gigya-partner-secret", "cGFydG5lcg=="}
	args := func(parts ...[]string) []string {
		out := slices.Clone(common)
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	noHTTP := []string{"--http-addr", ""}
	baseURL := []string{"--gigya-base-url", "http://127.0.0.1:1"}
	base, withBaseURL := args(noHTTP), args(noHTTP, baseURL)
	with := func(b []string, extra ...string) []string { return append(slices.Clone(b), extra...) }
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"request timeout zero", with(withBaseURL, "--request-timeout=0"), nil, []string{"--request-timeout", "GIGYA_REQUEST_TIMEOUT", "positive"}},
		{"request timeout negative from env", withBaseURL, map[string]string{"GIGYA_REQUEST_TIMEOUT": "-1s"}, []string{"--request-timeout", "GIGYA_REQUEST_TIMEOUT"}},
		{"topics only commas", with(withBaseURL, "--topics", ",,"), nil, []string{"--topics", "KAFKA_TOPICS", "no topic"}},
		{"topics blank from env", withBaseURL, map[string]string{"KAFKA_TOPICS": " , "}, []string{"--topics", "KAFKA_TOPICS"}},
		// Without the partner secret the empty topic list is still the error named.
		{"topics only commas, no partner secret", []string{"run", "--brokers", "127.0.0.1:1", "--gigya-api-key", "k", "--gigya-user-key", "u",
			"--gigya-secret", "c2VjcmV0", "--http-addr", "", "--topics", ",,"}, nil, []string{"--topics", "KAFKA_TOPICS"}},
		{"data center elsewhere", with(base, "--gigya-data-center", "gigya.example.com"), nil, []string{"--gigya-data-center", "GIGYA_DATA_CENTER", "--gigya-base-url"}},
		{"data center look-alike", with(base, "--gigya-data-center", "eu1.gigya.com.evil.io"), nil, []string{"--gigya-data-center", "GIGYA_DATA_CENTER"}},
		{"data center suffix without dot", with(base, "--gigya-data-center", "evilgigya.com"), nil, []string{"--gigya-data-center"}},
		{"data center from env", base, map[string]string{"GIGYA_DATA_CENTER": "us1.gigya.co"}, []string{"--gigya-data-center", "GIGYA_DATA_CENTER"}},
		{"http addr nonsense", with(withBaseURL, "--http-addr", "nonsense"), nil, []string{"--http-addr", "REGNOTIFY_HTTP_ADDR", "host:port"}},
		{"http addr bad port", with(withBaseURL, "--http-addr", ":99999"), nil, []string{"--http-addr", "REGNOTIFY_HTTP_ADDR"}},
		{"http addr from env", args(baseURL), map[string]string{"REGNOTIFY_HTTP_ADDR": "localhost"}, []string{"--http-addr", "REGNOTIFY_HTTP_ADDR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut := mainUsageError(t, tt.args, tt.env, tt.want)
			if strings.Contains(out+errOut, "c2VjcmV0") {
				t.Errorf("the output shows the secret")
			}
		})
	}
}

func TestCheckDataCenter(t *testing.T) {
	tests := []struct {
		dc, baseURL string
		ok          bool
	}{
		{"us1.gigya.com", "", true},
		{"eu1.gigya.com", "", true},
		{"au1.gigya.com", "", true},
		{"eu2.gigya.com", "", true},
		{"global.gigya.com", "", true},
		{"cn1.sapcdm.cn", "", true},
		{"mtls.eu1.gigya.com", "", true},
		{"mtls.cn1.sapcdm.cn", "", true},
		{"EU1.Gigya.com", "", true},
		{"ru1.gigya.com", "", true}, // a data center not documented yet, under gigya.com
		{"", "", true},              // the default
		{"gigya.com", "", false},
		{"gigya.example.com", "", false},
		{"evilgigya.com", "", false},
		{"eu1.gigya.com.evil.io", "", false},
		{"us1.gigya.com:443", "", false},
		{"https://eu1.gigya.com", "", false},
		{"-x.gigya.com", "", false},
		{"gigya.example.com", "http://127.0.0.1:8081", true}, // the base URL decides
	}
	for _, tt := range tests {
		err := checkDataCenter(tt.dc, tt.baseURL)
		if (err == nil) != tt.ok {
			t.Errorf("checkDataCenter(%q, %q) = %v; want ok %v", tt.dc, tt.baseURL, err, tt.ok)
		}
	}
}

func TestCheckWorkerFlagsHTTPAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"": true, ":8080": true, "127.0.0.1:8080": true, "[::1]:9090": true, "localhost:0": true,
		"nonsense": false, "127.0.0.1": false, ":http": false, ":65536": false, ":-1": false, "a:b:c": false,
	} {
		if err := checkWorkerFlags([]string{"t"}, addr); (err == nil) != ok {
			t.Errorf("http addr %q: err %v; want ok %v", addr, err, ok)
		}
	}
	if err := checkWorkerFlags(nil, ""); err == nil {
		t.Error("no topics: err nil; want an error")
	}
}
