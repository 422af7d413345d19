package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regnotify/regnotify/worker/kafkatest"
)

// TestBulkLinkFlags: bulk-link's defaults (the bulk lane's topic, headers
// from --header) through Main against the in-process broker, and bad
// --partitioner and --header values as usage errors naming the flag.
func TestBulkLinkFlags(t *testing.T) {
	kc := kafkatest.Start(t)
	if kc.Fake == nil {
		t.Skip("needs the in-process broker: the default topic name is not test-unique")
	}
	kc.CreateTopics(t, "bulk.account.linked")
	file := filepath.Join(t.TempDir(), "accounts.csv")
	if err := os.WriteFile(file, []byte("uid,siteUid\n_gid_a,cust-a\n_gid_b,cust-b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	brokers := "--brokers=" + strings.Join(kc.Brokers, ",")
	code, out, errOut := runMain(t, "bulk-link", brokers, "--file", file, "--header", "brand=brand-a", "--header", "x=1")
	if code != 0 || !strings.Contains(out, "produced 2") {
		t.Fatalf("bulk-link: exit %d, stdout %q, stderr %s; want exit 0 and produced 2", code, out, errOut)
	}
	msgs := kc.ReadAll(t, "bulk.account.linked")
	if len(msgs) != 2 {
		t.Fatalf("records on bulk.account.linked (the default topic): got %d, want 2", len(msgs))
	}
	for _, m := range msgs {
		got := map[string]string{}
		for _, h := range m.Headers {
			got[h.Key] = string(h.Value)
		}
		if got["brand"] != "brand-a" || got["x"] != "1" || len(got) != 2 {
			t.Errorf("record %s: headers %v, want brand=brand-a and x=1", m.Key, got)
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--partitioner", "random"}, "--partitioner"},
		{[]string{"--header", "novalue"}, "--header"},
		{[]string{"--header", "=v"}, "--header"},
	} {
		args := append([]string{"bulk-link", brokers, "--file", file}, tt.args...)
		code, _, errOut := runMain(t, args...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %s", tt.args, code, errOut, tt.want)
		}
	}
}
