package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// env is a fixed environment for the tests.
func env(vars map[string]string) Getenv {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// valid is a small valid file; cases below change one thing in it.
const valid = `sites:
  - name: brand-a
    apiKey: 3_a
    userKey: UK
    secretFile: /s/a
topics:
  - name: user.registered
    site: brand-a
`

// site is valid's site entry (lines 2-5) for cases that need more of them.
const site = `  - name: brand-a
    apiKey: 3_a
    userKey: UK
    secretFile: /s/a
`

type badCase struct {
	name     string
	yaml     string
	line     int
	key      string
	contains string
}

var badCases = []badCase{
	{"unknown top-level key", valid + "sitez: []\n", 9, "sitez", `unknown key "sitez"`},
	{"unknown key in site", "sites:\n" + site + "    secrt: x\ntopics: []\n", 6, "sites[0].secrt", `unknown key "secrt"`},
	{"unknown key in topic", valid + "    lanes: bulk\n", 9, "topics[0].lanes", `unknown key "lanes"`},
	{"unknown key in siteFrom", "sites:\n" + site + "topics:\n  - name: user.registered\n    siteFrom: {header: b, haeder: c}\n", 8, "topics[0].siteFrom.haeder", `unknown key "haeder"`},
	{"duplicate key", "sites:\n  - name: brand-a\n    apiKey: 3_a\n    apiKey: 3_b\n", 4, "", `"apiKey" already defined at [3:5]`},
	{"duplicate site name", "sites:\n" + site + site + "topics:\n  - name: user.registered\n    site: brand-a\n", 6, "sites[1].name", `duplicate site name "brand-a" (first at line 2)`},
	{"duplicate apiKey", "sites:\n" + site + strings.Replace(site, "brand-a", "brand-b", 1) + "topics:\n  - name: user.registered\n    site: brand-a\n", 6, "sites[1].apiKey", "site brand-b has the apiKey of the site at line 2"},
	{"duplicate topic", valid + "  - name: user.registered\n    site: brand-a\n", 9, "topics[1].name", `duplicate topic "user.registered" (first at line 7)`},
	{"literal secret", "sites:\n" + site + "    secret: c2VjcmV0\n", 6, "sites[0].secret", "a literal secret is refused; use secretFile or ${VAR}"},
	{"literal secret around a reference", "sites:\n" + site + "    secret: x${SEC}\n", 6, "sites[0].secret", "a literal secret is refused"},
	{"quoted literal secret", "sites:\n" + site + "    secret: \"c2VjcmV0\"\n", 6, "sites[0].secret", "a literal secret is refused"},
	{"block literal secret", "sites:\n" + site + "    secret: |\n      c2VjcmV0\n", 6, "sites[0].secret", "a literal secret is refused"},
	{"literal partner secret", "sites:\n" + site + "    partnerSecret: cGFy\n", 6, "sites[0].partnerSecret", "use partnerSecretFile or ${VAR}"},
	{"literal private key", "sites:\n" + site + "    privateKey: PEM\n", 6, "sites[0].privateKey", "use privateKeyFile or ${VAR}"},
	{"secret and secretFile", "sites:\n" + site + "    secret: ${SEC}\n", 6, "sites[0].secret", "set secret or secretFile, not both"},
	{"secret from an empty variable", "sites:\n  - name: brand-a\n    apiKey: 3_a\n    userKey: UK\n    secret: ${EMPTY}\n", 5, "sites[0].secret", "${EMPTY} is empty"},
	{"unset variable", strings.Replace(valid, "3_a", "${NOPE}", 1), 3, "sites[0].apiKey", "environment variable NOPE is not set"},
	{"unset variable in a topic", strings.Replace(valid, "site: brand-a", "site: ${NOPE}", 1), 8, "topics[0].site", "NOPE is not set"},
	{"bad reference", strings.Replace(valid, "3_a", "3_${1X}", 1), 3, "sites[0].apiKey", `bad reference "${1X}"`},
	{"unterminated reference", strings.Replace(valid, "3_a", "3_${X", 1), 3, "sites[0].apiKey", `bad reference "${X"`},
	{"unknown site", strings.Replace(valid, "site: brand-a", "site: brand-b", 1), 8, "topics[0].site", `unknown site "brand-b"`},
	{"unknown quota", strings.Replace(valid, "/s/a\n", "/s/a\n    quota: eu\n", 1), 6, "sites[0].quota", `unknown quota "eu"`},
	{"unknown quota among quotas", "quotas:\n  us: 5\n" + strings.Replace(valid, "/s/a\n", "/s/a\n    quota: eu\n", 1), 8, "sites[0].quota", `unknown quota "eu"`},
	{"bad site name", strings.Replace(valid, "name: brand-a", "name: Brand_A", 1), 2, "sites[0].name", `site name "Brand_A" must match`},
	{"site name too long", strings.Replace(valid, "name: brand-a", "name: "+strings.Repeat("a", 64), 1), 2, "sites[0].name", "must match"},
	{"site without name", "sites:\n  - apiKey: 3_a\n", 2, "sites[0].name", "a site needs a name"},
	{"site without apiKey", "sites:\n  - name: a\n    userKey: u\n", 2, "sites[0].apiKey", "site a needs an apiKey"},
	{"site without userKey", "sites:\n  - name: a\n    apiKey: k\n", 2, "sites[0].userKey", "needs a userKey"},
	{"dataCenter and baseURL", strings.Replace(valid, "/s/a\n", "/s/a\n    dataCenter: eu1.gigya.com\n    baseURL: http://127.0.0.1:1\n", 1), 7, "sites[0].baseURL", "set dataCenter or baseURL, not both"},
	{"bad baseURL", strings.Replace(valid, "/s/a\n", "/s/a\n    baseURL: ftp://x\n", 1), 6, "sites[0].baseURL", `baseURL "ftp://x" must be an absolute http or https URL`},
	{"dataCenter with a scheme", strings.Replace(valid, "/s/a\n", "/s/a\n    dataCenter: https://eu1.gigya.com\n", 1), 6, "sites[0].dataCenter", "must be a host"},
	{"bad auth", strings.Replace(valid, "/s/a\n", "/s/a\n    auth: oauth\n", 1), 6, "sites[0].auth", `auth "oauth" must be bearer, secret or signed`},
	{"bearer without a key", strings.Replace(valid, "/s/a\n", "/s/a\n    auth: bearer\n", 1), 2, "sites[0].privateKeyFile", "auth bearer needs privateKeyFile"},
	{"signed without a secret", "sites:\n  - name: a\n    apiKey: k\n    userKey: u\n    auth: signed\n    privateKeyFile: /k\n", 2, "sites[0].secretFile", "auth signed needs secretFile"},
	{"no credentials", "sites:\n  - name: a\n    apiKey: k\n    userKey: u\n", 2, "sites[0].secretFile", "site a has no credentials"},
	{"negative rateLimit", strings.Replace(valid, "/s/a\n", "/s/a\n    rateLimit: -1\n", 1), 6, "sites[0].rateLimit", `"-1" must be a number of calls/s ≥ 0`},
	{"rateLimit not a number", strings.Replace(valid, "/s/a\n", "/s/a\n    rateLimit: fast\n", 1), 6, "sites[0].rateLimit", `"fast" must be a number`},
	{"rateLimit infinite", strings.Replace(valid, "/s/a\n", "/s/a\n    rateLimit: .inf\n", 1), 6, "sites[0].rateLimit", "must be a number"},
	{"rateLimit a list", strings.Replace(valid, "/s/a\n", "/s/a\n    rateLimit: [1]\n", 1), 6, "sites[0].rateLimit", "expected a single value"},
	{"negative quota", "quotas:\n  eu: -5\n" + valid, 2, "quotas.eu", "must be a number of calls/s ≥ 0"},
	{"empty quota", "quotas:\n  eu:\n" + valid, 0, "quotas.eu", "a budget in calls/s is required"},
	{"bad quota name", "quotas:\n  EU: 5\n" + valid, 2, "quotas.EU", "a quota name must match"},
	{"bad lane", valid + "    lane: fast\n", 9, "topics[0].lane", `lane "fast" must be live or bulk`},
	{"bad format", valid + "    format: xml\n", 9, "topics[0].format", `format "xml" must be regnotify, json, cloudevents, avro or jsonschema`},
	{"siteFrom header and field", "sites:\n" + site + "topics:\n  - name: user.registered\n    siteFrom: {header: b, field: /b}\n", 8, "topics[0].siteFrom.field", "siteFrom takes header or field, not both"},
	{"siteFrom empty", "sites:\n" + site + "topics:\n  - name: user.registered\n    siteFrom: {}\n", 7, "topics[0].siteFrom", "siteFrom needs header or field"},
	{"siteFrom field not a pointer", "sites:\n" + site + "topics:\n  - name: user.registered\n    siteFrom:\n      field: data.brand\n", 9, "topics[0].siteFrom.field", `"data.brand" must be a JSON Pointer starting with /`},
	{"site and siteFrom", valid + "    siteFrom: {header: b}\n", 8, "topics[0].site", "set site or siteFrom, not both"},
	{"topic without site", "sites:\n" + site + "topics:\n  - name: user.registered\n", 7, "topics[0].site", "topic user.registered needs site or siteFrom"},
	{"topic without name", "sites:\n" + site + "topics:\n  - site: brand-a\n", 7, "topics[0].name", "a topic needs a name"},
	{"bad topic name", strings.Replace(valid, "name: user.registered", "name: user registered", 1), 7, "topics[0].name", "is not a Kafka topic name"},
	{"bad type", valid + "    type: user.deleted\n", 9, "topics[0].type", `type "user.deleted" must be user.registered or account.linked`},
	{"type disagrees with the name", valid + "    type: account.linked\n", 9, "topics[0].type", "type account.linked disagrees with the topic name user.registered"},
	{"no type", strings.Replace(valid, "name: user.registered", "name: crm.customers", 1) + "    format: json\n", 7, "topics[0].type", "topic crm.customers needs a type"},
	{"unknown field", valid + "    format: json\n    fields: {email: /e}\n", 10, "topics[0].fields.email", `unknown field "email" for format json`},
	{"cloudevents field from attributes", valid + "    format: cloudevents\n    fields: {eventId: /e}\n", 10, "topics[0].fields.eventId", `unknown field "eventId" for format cloudevents (one of uid, siteUid, cid)`},
	{"field not a pointer", valid + "    format: json\n    fields:\n      uid: data.uid\n", 11, "topics[0].fields.uid", `"data.uid" must be a JSON Pointer`},
	{"field pointer bad escape", valid + "    format: json\n    fields:\n      uid: /a~2b\n", 11, "topics[0].fields.uid", "~ must be followed by 0 or 1"},
	{"fields with format regnotify", valid + "    fields: {uid: /u}\n", 9, "topics[0].fields.uid", "format regnotify has fixed field names"},
	{"types with format json", valid + "    format: json\n    types: {a.b: user.registered}\n", 10, "topics[0].types", "types is for format cloudevents only"},
	{"bad types value", valid + "    format: cloudevents\n    types:\n      com.acme.created: user.created\n", 11, "topics[0].types.'com.acme.created'", `"user.created" must be user.registered or account.linked`},
	{"sites not a list", "sites: 3\n", 1, "sites", "expected a list, found a single value"},
	{"site not a mapping", "sites:\n  - brand-a\n", 2, "sites[0]", "expected a mapping, found a single value"},
	{"topics a mapping", "sites:\n" + site + "topics: {a: 1}\n", 6, "topics", "expected a list, found a mapping"},
	{"no sites", "topics:\n  - name: user.registered\n    site: a\n", 0, "sites", "at least one site is required"},
	{"no topics", "sites:\n" + site, 0, "topics", "at least one topic is required"},
	{"empty topics", "sites:\n" + site + "topics: []\n", 6, "topics", "at least one topic is required"},
	{"empty file", "# nothing\n", 0, "", "the file is empty"},
	{"two documents", valid + "---\n" + valid, 10, "", "one YAML document expected, found 2"},
	{"not a mapping", "- a\n- b\n", 1, "", "expected a mapping with sites, quotas and topics"},
	{"syntax error", "sites: [\n", 1, "", "YAML: "},
	{"input go-yaml panics on", "sites:\n !\n000000: #0000000000000000000000", 0, "", "the YAML library failed on it"},
}

func TestParseRefuses(t *testing.T) {
	getenv := env(map[string]string{"SEC": "c2VjcmV0", "EMPTY": ""})
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.yaml), "cfg.yaml", getenv)
			if err == nil {
				t.Fatalf("Parse = %+v, nil; want an error containing %q", f, tc.contains)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error %T %v; want a *config.Error", err, err)
			}
			if ce.Line != tc.line || ce.Key != tc.key || !strings.Contains(ce.Msg, tc.contains) {
				t.Errorf("Parse error line %d key %q msg %q;\nwant line %d key %q msg containing %q", ce.Line, ce.Key, ce.Msg, tc.line, tc.key, tc.contains)
			}
			want := "cfg.yaml"
			if tc.line > 0 {
				want += fmt.Sprintf(":%d", tc.line)
			}
			if tc.key != "" {
				want += ": " + tc.key
			}
			if got := err.Error(); !strings.HasPrefix(got, want+": ") {
				t.Errorf("Error() = %q; want it to start with %q", got, want+": ")
			}
		})
	}
}
