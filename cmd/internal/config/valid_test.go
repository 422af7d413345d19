package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func float(f float64) *float64 { return &f }

// TestLoadContractExample: the contract's example decodes to exactly this.
func TestLoadContractExample(t *testing.T) {
	got, err := Load(filepath.Join("testdata", "example.yaml"), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &File{
		Sites: []Site{{
			Name: "brand-a", APIKey: "3_xxx", DataCenter: "eu1.gigya.com", Auth: "bearer", UserKey: "AB12...",
			PrivateKeyFile: "/secrets/brand-a/app.pem", PartnerSecretFile: "/secrets/brand-a/partner",
			RateLimit: float(300), Quota: "partner-eu", Line: 2,
		}},
		Quotas: map[string]float64{"partner-eu": 600},
		Topics: []Topic{
			{Name: "brand-a.user.registered", Site: "brand-a", Lane: "live", Format: "regnotify", Type: "user.registered", Line: 14},
			{Name: "crm.customers", SiteFrom: SiteFrom{Header: "brand"}, Lane: "live", Format: "json", Type: "user.registered",
				Fields: map[string]string{"eventId": "/id", "uid": "/data/gigyaUid", "siteUid": "/data/customerNo", "occurredAt": "/time"}, Line: 16},
			{Name: "bulk.account.linked", Site: "brand-a", Lane: "bulk", Format: "regnotify", Type: "account.linked", Line: 21},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load =\n%s\nwant\n%s", dump(got), dump(want))
	}
}

// dump prints a File with its secrets, for test failures only.
func dump(f *File) string {
	var b strings.Builder
	for _, s := range f.Sites {
		type plain Site // no String method
		rl := "nil"
		if s.RateLimit != nil {
			rl = fmt.Sprint(*s.RateLimit)
		}
		fmt.Fprintf(&b, "%+v rateLimit=%s\n", plain(s), rl)
	}
	fmt.Fprintf(&b, "quotas %v\n", f.Quotas)
	for _, t := range f.Topics {
		fmt.Fprintf(&b, "%+v\n", t)
	}
	return b.String()
}

func TestParseDefaultsAndOptions(t *testing.T) {
	const y = `sites:
  - name: sim
    apiKey: 3_s
    userKey: U
    baseURL: http://127.0.0.1:8081
    auth: signed
    secret: ${SEC}
    partnerSecret: ${PARTNER}
    rateLimit: 0
  - name: b
    apiKey: 3_b
    userKey: U
    privateKey: ${PEM}
topics:
  - name: events.cloud
    format: cloudevents
    siteFrom: {field: /data/brand}
    types: {com.acme.user.created: user.registered, com.acme.linked: account.linked}
    fields: {uid: /gigya/uid}
`
	f, err := Parse([]byte(y), "d.yaml", env(map[string]string{"SEC": "c2Vj", "PARTNER": "cGFy", "PEM": "-----BEGIN"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	sim, b := f.Sites[0], f.Sites[1]
	if sim.DataCenter != "" || sim.BaseURL != "http://127.0.0.1:8081" || sim.Secret != "c2Vj" || sim.PartnerSecret != "cGFy" ||
		sim.RateLimit == nil || *sim.RateLimit != 0 {
		t.Errorf("site sim = %s; want baseURL only, secrets from the environment, rateLimit 0", dump(&File{Sites: []Site{sim}}))
	}
	if b.DataCenter != DefaultDataCenter || b.PrivateKey != "-----BEGIN" || b.RateLimit != nil || b.Auth != "" || b.Line != 10 {
		t.Errorf("site b = %s; want the default data center, privateKey from the environment, rateLimit nil, line 10", dump(&File{Sites: []Site{b}}))
	}
	top := f.Topics[0]
	wantTypes := map[string]string{"com.acme.user.created": "user.registered", "com.acme.linked": "account.linked"}
	if top.Type != "" || top.SiteFrom != (SiteFrom{Field: "/data/brand"}) || !reflect.DeepEqual(top.Types, wantTypes) ||
		!reflect.DeepEqual(top.Fields, map[string]string{"uid": "/gigya/uid"}) || top.Lane != LaneLive {
		t.Errorf("topic = %+v; want no type (types give it), siteFrom field, the types and fields, lane live", top)
	}
}

// TestInterpolation: ${VAR} is replaced in the node's value, so a value
// with YAML syntax in it stays one string; $$ is a literal $; a lone $ is kept.
func TestInterpolation(t *testing.T) {
	tests := []struct {
		raw, want string
	}{
		{"${KEY}", "3_k"},
		{"pre-${KEY}-post", "pre-3_k-post"},
		{"${KEY}${KEY}", "3_k3_k"},
		{"a$$b", "a$b"},
		{"$${KEY}", "${KEY}"},
		{"a$b", "a$b"},
		{"a$", "a$"},
		{`"${YAML}"`, "x: y # z\n- w"},
		{"${YAML}", "x: y # z\n- w"},
	}
	getenv := env(map[string]string{"KEY": "3_k", "YAML": "x: y # z\n- w"})
	for _, tc := range tests {
		y := strings.Replace(valid, "3_a", tc.raw, 1)
		f, err := Parse([]byte(y), "i.yaml", getenv)
		if err != nil {
			t.Errorf("apiKey: %s: Parse: %v", tc.raw, err)
			continue
		}
		if got := f.Sites[0].APIKey; got != tc.want {
			t.Errorf("apiKey: %s gives %q; want %q", tc.raw, got, tc.want)
		}
	}
	y := strings.Replace(valid, "/s/a\n", "/s/a\n    rateLimit: ${RL}\n", 1)
	f, err := Parse([]byte(y), "i.yaml", env(map[string]string{"RL": "250.5"}))
	if err != nil || f.Sites[0].RateLimit == nil || *f.Sites[0].RateLimit != 250.5 {
		t.Errorf("rateLimit: ${RL} with RL=250.5: %v, %v; want 250.5", f, err)
	}
}

// TestSecretsNeverInErrors: a secret, interpolated into any key, and a
// literal secret never appear in an error's text.
func TestSecretsNeverInErrors(t *testing.T) {
	const secret = "s3cr3t-VALUE-4711"
	getenv := env(map[string]string{"SEC": secret, "OK": "fine"})
	misuse := []struct{ old, new string }{
		{"name: brand-a", "name: ${SEC}"},
		{"/s/a\n", "/s/a\n    auth: ${SEC}\n"},
		{"/s/a\n", "/s/a\n    dataCenter: ${SEC}/x\n"},
		{"/s/a\n", "/s/a\n    quota: ${SEC}\n    dataCenter: eu1.gigya.com\n"},
		{"/s/a\n", "/s/a\n    baseURL: ${SEC}\n"},
		{"/s/a\n", "/s/a\n    rateLimit: ${SEC}\n"},
		{"/s/a\n", "/s/a\n    quota: ${SEC}\n"},
		{"/s/a\n", "/s/a\n    secret: ${SEC}\n"},
		{"/s/a\n", "/s/a\n    partnerSecret: ${SEC}\n    partnerSecretFile: /p\n"},
		{"/s/a\n", "/s/a\n    secret: " + secret + "\n"},
		{"/s/a\n", "/s/a\n    secret: \"" + secret + "${OK}\"\n"},
		{"/s/a\n", "/s/a\n    partnerSecret: [" + secret + "]\n"},
		{"/s/a\n", "/s/a\n    secret: {" + secret + ": 1}\n"},
		{"name: user.registered", "name: ${SEC}"},
		{"name: user.registered", "name: ${SEC}.user.registered\n    type: account.linked"},
		{"name: user.registered\n    site: brand-a", "name: ${SEC}.user.registered\n    site: brand-a\n  - name: ${SEC}.user.registered\n    site: brand-a"},
		{"site: brand-a", "site: ${SEC}\n  - name: x.user.registered\n    site: brand-a"},
		{"site: brand-a", "site: brand-a\n  - name: ${SEC}\n    site: brand-a"},
		{"topics:", "  - name: ${SEC}\n    apiKey: 3_a\n    userKey: u\n    secretFile: /s\ntopics:"},
		{"topics:", "  - name: ${SEC}\n    userKey: u\ntopics:"},
		{"topics:", "  - name: ${SEC}\n    apiKey: 3_a\ntopics:"},
		{"topics:", "  - name: ${SEC}\n    apiKey: 3_a\n    userKey: u\ntopics:"},
		{"site: brand-a", "site: ${SEC}"},
		{"site: brand-a", "siteFrom: {field: '${SEC}'}"},
		{"site: brand-a\n", "site: brand-a\n    lane: ${SEC}\n"},
		{"site: brand-a\n", "site: brand-a\n    format: ${SEC}\n"},
		{"site: brand-a\n", "site: brand-a\n    type: ${SEC}\n"},
		{"site: brand-a\n", "site: brand-a\n    format: json\n    fields: {uid: '${SEC}'}\n"},
		{"site: brand-a\n", "site: brand-a\n    format: cloudevents\n    types: {a: '${SEC}'}\n"},
	}
	for _, m := range misuse {
		y := strings.Replace(valid, m.old, m.new, 1)
		_, err := Parse([]byte(y), "s.yaml", getenv)
		if err == nil {
			t.Errorf("%q: Parse succeeded; want an error", m.new)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), secret) {
			t.Errorf("%q: error %q contains the secret", m.new, err)
		}
	}
}

// TestSiteStringHidesSecrets: printing a Site or a File, as a log line might,
// shows no secret.
func TestSiteStringHidesSecrets(t *testing.T) {
	const secret = "s3cr3t-VALUE-4711"
	y := strings.Replace(valid, "secretFile: /s/a", "secret: ${SEC}\n    partnerSecret: ${SEC}\n    privateKey: ${SEC}", 1)
	f, err := Parse([]byte(y), "s.yaml", env(map[string]string{"SEC": secret}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(verb, f); strings.Contains(got, secret) {
			t.Errorf("Sprintf(%s, file) = %s; contains the secret", verb, got)
		}
		if got := fmt.Sprintf(verb, f.Sites[0]); strings.Contains(got, secret) {
			t.Errorf("Sprintf(%s, site) = %s; contains the secret", verb, got)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.yaml")
	_, err := Load(path, nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.File != path || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v; want a *config.Error for %s wrapping os.ErrNotExist", err, path)
	}
}

func TestLookup(t *testing.T) {
	y := "sites:\n" + site + "  - name: brand-b\n    apiKey: brand-a\n    userKey: U\n    secretFile: /s/b\n" +
		"topics:\n  - name: user.registered\n    site: brand-a\n"
	f, err := Parse([]byte(y), "l.yaml", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := []struct{ value, want string }{
		{"brand-a", "brand-a"}, // a name wins over another site's apiKey
		{"brand-b", "brand-b"},
		{"3_a", "brand-a"},
		{"nope", ""},
	}
	for _, tc := range tests {
		s, ok := f.Lookup(tc.value)
		got := ""
		if ok {
			got = s.Name
		}
		if got != tc.want {
			t.Errorf("Lookup(%q) = %q; want %q", tc.value, got, tc.want)
		}
	}
}

// TestReadmeExample: the README's example (testdata/readme.yaml, a copy)
// is valid.
func TestReadmeExample(t *testing.T) {
	f, err := Load(filepath.Join("testdata", "readme.yaml"), env(map[string]string{"BRAND_B_API_KEY": "3_b", "BRAND_B_SECRET": "c2Vj"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(f.Sites) != 2 || len(f.Topics) != 4 || f.Sites[1].Secret != "c2Vj" || f.Sites[1].APIKey != "3_b" {
		t.Errorf("Load = %s; want 2 sites (brand-b's apiKey and secret from the environment), 4 topics", dump(f))
	}
}

// TestMergeKeys: sites may share settings through an anchor and `<<`, and
// override what they merge; a key written twice is still refused (table).
func TestMergeKeys(t *testing.T) {
	const y = `sites:
  - &common
    name: brand-a
    apiKey: 3_a
    userKey: U
    secretFile: /s/common
  - <<: *common
    name: brand-b
    apiKey: 3_b
topics:
  - name: user.registered
    site: brand-b
`
	f, err := Parse([]byte(y), "m.yaml", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	b := f.Sites[1]
	if b.Name != "brand-b" || b.APIKey != "3_b" || b.UserKey != "U" || b.SecretFile != "/s/common" || b.Line != 7 {
		t.Errorf("merged site = %s; want brand-b, 3_b, the common userKey and secretFile, line 7", dump(&File{Sites: []Site{b}}))
	}
}
