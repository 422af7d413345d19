package formats_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/formats"
)

var at = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// mustNew builds a decoder or fails the test.
func mustNew(t testing.TB, spec formats.Spec, reg formats.Registry) formats.Decoder {
	t.Helper()
	d, err := formats.New(spec, reg)
	if err != nil {
		t.Fatalf("New(%+v): %v", spec, err)
	}
	return d
}

// wantInvalid checks that err is an invalid event (an *events.Error, not a
// *formats.TransientError) whose message contains every part of want.
func wantInvalid(t *testing.T, err error, want ...string) {
	t.Helper()
	var ee *events.Error
	if !errors.As(err, &ee) {
		t.Fatalf("error = %v (%T), want an *events.Error", err, err)
	}
	var te *formats.TransientError
	if errors.As(err, &te) {
		t.Fatalf("error %v is transient, want invalid", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

type decodeCase struct {
	name    string
	rec     formats.Record
	want    events.Event
	wantErr []string // nil: valid
}

func runCases(t *testing.T, d formats.Decoder, cases []decodeCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := d.Decode(context.Background(), c.rec)
			if c.wantErr != nil {
				wantInvalid(t, err, c.wantErr...)
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got != c.want {
				t.Errorf("Decode:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestNewRejectsBadSpecs(t *testing.T) {
	tests := []struct {
		name string
		spec formats.Spec
		want string
	}{
		{"unknown format", formats.Spec{Format: "xml"}, `unknown format "xml"`},
		{"unknown field", formats.Spec{Format: "json", Fields: map[string]string{"gigyaUid": "/x"}}, `unknown field "gigyaUid"`},
		{"bad pointer", formats.Spec{Format: "json", Fields: map[string]string{"uid": "data/uid"}}, `uid: pointer "data/uid"`},
		{"bad escape", formats.Spec{Format: "json", Fields: map[string]string{"cid": "/a~2"}}, `cid: pointer "/a~2"`},
		{"required field unset", formats.Spec{Format: "json", Fields: map[string]string{"uid": ""}}, "uid: a required field needs a pointer"},
		{"bad type", formats.Spec{Format: "json", Type: "user.created"}, `type "user.created"`},
		{"fields on regnotify", formats.Spec{Fields: map[string]string{"uid": "/u"}}, `not for format "regnotify"`},
		{"types on json", formats.Spec{Format: "json", Types: map[string]string{"a": "user.registered"}}, "types: only for format"},
		{"cloudevents eventId by pointer", formats.Spec{Format: "cloudevents", Fields: map[string]string{"eventId": "/id"}}, "eventId is not read by pointer"},
		{"cloudevents bad mapped type", formats.Spec{Format: "cloudevents", Types: map[string]string{"com.acme.x": "user.created"}}, `com.acme.x: unknown event type "user.created"`},
		{"avro without registry", formats.Spec{Format: "avro"}, "needs a schema registry"},
		{"jsonschema without registry", formats.Spec{Format: "jsonschema"}, "needs a schema registry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := formats.New(tt.spec, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%+v) = %v, want an error containing %q", tt.spec, err, tt.want)
			}
		})
	}
}

func TestRegnotifyIsEventsDecode(t *testing.T) {
	d := mustNew(t, formats.Spec{}, nil)
	runCases(t, d, []decodeCase{
		{name: "valid", rec: formats.Record{Topic: "account.linked", Value: []byte(`{"eventId":"e","uid":"u","siteUid":"s"}`)},
			want: events.Event{EventID: "e", Type: events.AccountLinked, UID: "u", SiteUID: "s"}},
		{name: "strict: case-sensitive names", rec: formats.Record{Topic: "user.registered", Value: []byte(`{"eventId":"e","UID":"u"}`)},
			wantErr: []string{`field "uid"`, "case-sensitive"}},
	})
}

func TestJSON(t *testing.T) {
	crm := mustNew(t, formats.Spec{Format: "json", Type: events.AccountLinked, Fields: map[string]string{
		"eventId": "/id", "uid": "/data/gigyaUid", "siteUid": "/data/customerNo", "occurredAt": "/time", "type": "", "cid": "/data/a~1b",
	}}, nil)
	rec := func(v string) formats.Record { return formats.Record{Topic: "crm.customers", Value: []byte(v)} }
	runCases(t, crm, []decodeCase{
		{name: "nested fields", rec: rec(`{"id":"c-1","type":"customer.created","time":"2026-11-26T12:00:00+02:00","data":{"gigyaUid":"_gid_x","customerNo":"42","a/b":"web","n":[1,2]}}`),
			want: events.Event{EventID: "c-1", Type: events.AccountLinked, OccurredAt: at, UID: "_gid_x", SiteUID: "42", CID: "web"}},
		{name: "missing uid", rec: rec(`{"id":"c-1","data":{"customerNo":"42"}}`), wantErr: []string{`field "uid" (/data/gigyaUid): required field is missing`}},
		{name: "null uid", rec: rec(`{"id":"c-1","data":{"gigyaUid":null,"customerNo":"42"}}`), wantErr: []string{`"uid" (/data/gigyaUid): required`}},
		{name: "mistyped uid", rec: rec(`{"id":"c-1","data":{"gigyaUid":12,"customerNo":"42"}}`), wantErr: []string{`"uid" (/data/gigyaUid): must be a string, got number`}},
		{name: "mistyped eventId", rec: rec(`{"id":{"x":1},"data":{"gigyaUid":"u","customerNo":"42"}}`), wantErr: []string{`"eventId" (/id): must be a string, got object`}},
		{name: "siteUid required on account.linked", rec: rec(`{"id":"c-1","data":{"gigyaUid":"u"}}`), wantErr: []string{`"siteUid" (/data/customerNo): required for account.linked`}},
		{name: "siteUid equals uid", rec: rec(`{"id":"c-1","data":{"gigyaUid":"u","customerNo":"u"}}`), wantErr: []string{`"siteUid" (/data/customerNo): must differ from uid`}},
		{name: "bad time", rec: rec(`{"id":"c-1","time":"26/11/2026","data":{"gigyaUid":"u","customerNo":"4"}}`), wantErr: []string{`"occurredAt" (/time): must be an RFC 3339 timestamp`}},
		{name: "eventId too long", rec: rec(`{"id":"` + strings.Repeat("x", 129) + `","data":{"gigyaUid":"u","customerNo":"4"}}`), wantErr: []string{`"eventId" (/id): is 129 characters long`}},
		{name: "not an object", rec: rec(`["a"]`), wantErr: []string{"not an object: the record is a array"}},
		{name: "malformed", rec: rec(`{"id":`), wantErr: []string{"malformed JSON"}},
		{name: "trailing data", rec: rec(`{"id":"c"} {}`), wantErr: []string{"malformed JSON at byte offset 12"}},
		{name: "invalid UTF-8", rec: rec("{\"id\":\"\xff\"}"), wantErr: []string{"invalid UTF-8"}},
		{name: "empty", rec: rec(``), wantErr: []string{"empty record"}},
		{name: "too large", rec: rec(`{"x":"` + strings.Repeat("a", events.MaxRecordSize) + `"}`), wantErr: []string{"the limit is 65536"}},
	})

	defaults := mustNew(t, formats.Spec{Format: "json"}, nil)
	runCases(t, defaults, []decodeCase{
		{name: "defaults, type from topic", rec: formats.Record{Topic: "prod.user.registered", Value: []byte(`{"eventId":"e","uid":"u","cid":"c","occurredAt":"2026-11-26T10:00:00Z","extra":{"k":[true,null]}}`)},
			want: events.Event{EventID: "e", Type: events.UserRegistered, OccurredAt: at, UID: "u", CID: "c"}},
		{name: "defaults, type from record", rec: formats.Record{Topic: "events", Value: []byte(`{"eventId":"e","uid":"u","siteUid":"s","type":"account.linked"}`)},
			want: events.Event{EventID: "e", Type: events.AccountLinked, UID: "u", SiteUID: "s"}},
		{name: "type disagrees with topic", rec: formats.Record{Topic: "user.registered", Value: []byte(`{"eventId":"e","uid":"u","type":"account.linked"}`)},
			wantErr: []string{`"type" (/type): "account.linked" does not match the topic's type "user.registered"`}},
		{name: "unknown type", rec: formats.Record{Topic: "events", Value: []byte(`{"eventId":"e","uid":"u","type":"customer.created"}`)},
			wantErr: []string{`"type" (/type): unknown type "customer.created"`}},
		{name: "no type anywhere", rec: formats.Record{Topic: "events", Value: []byte(`{"eventId":"e","uid":"u"}`)},
			wantErr: []string{`"type" (/type): required`}},
		{name: "missing eventId", rec: formats.Record{Topic: "user.registered", Value: []byte(`{"uid":"u"}`)},
			wantErr: []string{`"eventId" (/eventId): required field is missing`}},
	})
}

// TestErrorsDoNotQuoteIdentifiers: an invalid value of uid, siteUid or
// eventId is never repeated in the error.
func TestErrorsDoNotQuoteIdentifiers(t *testing.T) {
	d := mustNew(t, formats.Spec{Format: "json", Type: events.AccountLinked}, nil)
	const secret = "PERSONAL-4711"
	for _, v := range []string{
		`{"eventId":"e","uid":"` + secret + `","siteUid":"` + secret + `"}`,
		`{"eventId":"e","uid":"` + secret + `\u0001","siteUid":"s"}`,
		`{"eventId":"e","uid":"u","siteUid":"` + secret + `é"}`,
	} {
		_, err := d.Decode(context.Background(), formats.Record{Topic: "t", Value: []byte(v)})
		wantInvalid(t, err)
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q quotes the record's identifier", err)
		}
	}
}
