package main

import (
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/regnotify/regnotify/gigya/gigyasim"
	"github.com/regnotify/regnotify/worker/kafkatest"
)

// TestCheck runs `regnotify check` against the in-process broker and a
// two-site simulator: all good is exit 0; each site-wide Gigya answer and a
// missing topic is exit 1 with a row naming the setting to fix; a bad
// configuration is exit 2. No secret is ever printed.
func TestCheck(t *testing.T) {
	clearEnv(t)
	kc := kafkatest.Start(t)
	ta, tb, dlq := kc.Topic("a.user.registered"), kc.Topic("b.account.linked"), kc.Topic("regnotify.dlq")
	bulk := kc.Topic("bulk.account.linked")
	kc.CreateTopics(t, ta, tb, dlq, bulk)
	ts := startTwoSites(t, nil)
	topics := fmt.Sprintf("  - name: %s\n    site: brand-a\n  - name: %s\n    site: brand-b\n", ta, tb)
	good := ts.config(t, topics)
	missing := ts.config(t, topics+fmt.Sprintf("  - name: %s\n    site: brand-a\n", kc.Topic("nowhere.user.registered")))
	base := []string{"check", "--brokers", strings.Join(kc.Brokers, ","), "--dlq-topic", dlq}
	tests := []struct {
		name   string
		config string
		faults gigyasim.SiteFaults // of brand-b
		code   int
		want   []string // regexps over stdout+stderr
	}{
		{"all good", good, gigyasim.SiteFaults{}, 0, []string{
			`(?m)^kafka\s+\S+\s+ok\s+reachable`, `(?m)^topic\s+` + regexp.QuoteMeta(ta) + `\s+ok\s+\d+ partitions`,
			`(?m)^dlq topic\s+` + regexp.QuoteMeta(dlq) + `\s+ok`,
			`(?m)^site\s+brand-a\s+ok\s+credentials work \(secret auth\); clock offset \S+; partner secret present`,
			`(?m)^site\s+brand-b\s+ok\s+credentials work \(signed auth\)`}},
		{"invalid secret", good, gigyasim.SiteFaults{Code: 403010}, 1, []string{`(?m)^site\s+brand-b\s+PROBLEM\s+403010: invalid secret; check \S+:\d+: sites\[1\]\.secretFile`}},
		{"invalid signature", good, gigyasim.SiteFaults{Code: 403003}, 1, []string{`(?m)^site\s+brand-b\s+PROBLEM\s+403003: invalid signature; check .*sites\[1\]\.secretFile.*sites\[1\]\.partnerSecretFile`}},
		{"invalid api key", good, gigyasim.SiteFaults{Code: 400093}, 1, []string{`(?m)^site\s+brand-b\s+PROBLEM\s+400093: .*sites\[1\]\.apiKey`}},
		{"permission denied", good, gigyasim.SiteFaults{Code: 403007}, 1, []string{`(?m)^site\s+brand-b\s+PROBLEM\s+403007: .*sites\[1\]\.userKey`}},
		{"wrong data center", good, gigyasim.SiteFaults{Code: 301001, APIDomain: "127.0.0.1:9"}, 1, []string{`(?m)^site\s+brand-b\s+PROBLEM\s+301001: wrong data center: Gigya says apiDomain 127\.0\.0\.1:9; set .*sites\[1\]\.baseURL`}},
		{"load balancer 503", good, gigyasim.SiteFaults{HTTPStatus: 503}, 1, []string{`(?m)^site\s+brand-b\s+PROBLEM\s+HTTP 503`}},
		{"missing topic", missing, gigyasim.SiteFaults{}, 1, []string{`(?m)^topic\s+` + regexp.QuoteMeta(kc.Topic("nowhere.user.registered")) + `\s+PROBLEM\s+does not exist`}},
		{"bad configuration", good, gigyasim.SiteFaults{}, 2, []string{`--config .*--topics`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ts.sim.SetSiteFaults("brand-b", tt.faults); err != nil {
				t.Fatal(err)
			}
			args := append(append([]string{}, base...), "--config", tt.config)
			if tt.code == 2 {
				args = append(args, "--topics", "x.user.registered")
			}
			code, out, errOut := runMain(t, args...)
			if code != tt.code {
				t.Fatalf("exit code = %d, want %d; stdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !regexp.MustCompile(w).MatchString(out + errOut) {
					t.Errorf("output does not match %s:\n%s%s", w, out, errOut)
				}
			}
			for _, s := range []string{testSecretA, testSecretB, testPartnerA, testPartnerB} {
				if strings.Contains(out+errOut, s) {
					t.Errorf("output shows a secret:\n%s%s", out, errOut)
				}
			}
		})
	}
	if err := ts.sim.SetSiteFaults("brand-b", gigyasim.SiteFaults{}); err != nil {
		t.Fatal(err)
	}
	t.Run("flags, site default", func(t *testing.T) {
		code, out, errOut := runMain(t, append(base, "--topics", ta, "--bulk-topics", bulk, "--gigya-api-key", "3_brand-a", "--gigya-user-key", "uk-a",
			"--gigya-base-url", ts.url, "--gigya-secret-file", ts.secretA)...)
		if code != 0 {
			t.Fatalf("exit code = %d, want 0; stdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if !regexp.MustCompile(`(?m)^site\s+default\s+ok\s+.*no partner secret`).MatchString(out) {
			t.Errorf("no ok row for site default without partner secret:\n%s", out)
		}
	})
	t.Run("TLS failure names its cause", func(t *testing.T) {
		tlsSrv := httptest.NewTLSServer(ts.sim)
		defer tlsSrv.Close()
		code, out, errOut := runMain(t, append(base, "--topics", ta, "--bulk-topics", bulk, "--gigya-api-key", "3_brand-a", "--gigya-user-key", "uk-a",
			"--gigya-base-url", tlsSrv.URL, "--gigya-secret-file", ts.secretA)...)
		if code != 1 {
			t.Fatalf("exit code = %d, want 1; stdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if !regexp.MustCompile(`(?m)^site\s+default\s+PROBLEM\s+cannot reach https://127\.0\.0\.1:\d+: TLS: certificate signed by an unknown authority`).MatchString(out) {
			t.Errorf("no row naming the TLS cause:\n%s", out)
		}
		if strings.Contains(out+errOut, testSecretA) {
			t.Error("output shows the secret")
		}
	})
}
