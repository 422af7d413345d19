package formats_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/formats"
)

var crmFields = map[string]string{"eventId": "/id", "uid": "/data/gigyaUid", "siteUid": "/data/customerNo", "occurredAt": "/createdAt", "type": ""}

func newRegistry(t testing.TB, url, user, pass string, opts ...formats.RegistryOption) *formats.SchemaRegistry {
	t.Helper()
	r, err := formats.NewRegistry(url, user, pass, nil, opts...)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

func TestAvro(t *testing.T) {
	f := newFakeRegistry(t, "", "")
	f.add(1, "", customerAvro)
	f.add(2, "", customerAvroMistyped)
	f.add(3, "JSON", customerJSONSchema)
	f.add(4, "", `{"type":"record","name":"Broken","fields":[{"name":"x","type":"nosuchtype"}]}`)
	d := mustNew(t, formats.Spec{Format: "avro", Type: events.AccountLinked, Fields: crmFields}, newRegistry(t, f.URL, "", ""))

	good := avroRecord(t, customerAvro, map[string]any{"id": "c-1", "createdAt": at,
		"data": map[string]any{"gigyaUid": "_gid_x", "customerNo": "42", "visits": int64(3)}})
	noSite := avroRecord(t, customerAvro, map[string]any{"id": "c-1", "createdAt": at,
		"data": map[string]any{"gigyaUid": "_gid_x", "customerNo": nil, "visits": int64(3)}})
	rec := func(v []byte) formats.Record { return formats.Record{Topic: "crm.customers", Value: v} }
	runCases(t, d, []decodeCase{
		{name: "valid", rec: rec(wire(1, good)), want: events.Event{EventID: "c-1", Type: events.AccountLinked, OccurredAt: at, UID: "_gid_x", SiteUID: "42"}},
		{name: "null union field", rec: rec(wire(1, noSite)), wantErr: []string{`"siteUid" (/data/customerNo): required for account.linked`}},
		{name: "mistyped pointed field", rec: rec(wire(2, avroRecord(t, customerAvroMistyped, map[string]any{"id": "c", "data": map[string]any{"gigyaUid": int64(7)}}))),
			wantErr: []string{`"uid" (/data/gigyaUid): must be a string, got number`}},
		{name: "unknown schema id", rec: rec(wire(99, good)), wantErr: []string{"schema id 99: not registered"}},
		{name: "schema of another type", rec: rec(wire(3, good)), wantErr: []string{"schema id 3: is a JSON schema; topic format avro needs AVRO"}},
		{name: "broken schema", rec: rec(wire(4, good)), wantErr: []string{"schema id 4: not a valid Avro schema"}},
		{name: "truncated bytes", rec: rec(wire(1, good[:len(good)-3])), wantErr: []string{"does not decode with its Avro schema (id 1)"}},
		{name: "trailing bytes", rec: rec(wire(1, append(good[:len(good):len(good)], 0, 0))), wantErr: []string{"trailing bytes"}},
		{name: "garbage", rec: rec(wire(1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})), wantErr: []string{"does not decode with its Avro schema"}},
		{name: "magic byte wrong", rec: rec(append([]byte{1}, wire(1, good)[1:]...)), wantErr: []string{"want magic byte 0"}},
		{name: "too short", rec: rec([]byte{0, 0, 0}), wantErr: []string{"want magic byte 0 and a 4-byte schema id"}},
	})
}

func TestJSONSchema(t *testing.T) {
	f := newFakeRegistry(t, "", "")
	f.add(7, "JSON", customerJSONSchema)
	f.add(8, "", customerAvro)
	f.add(9, "JSON", `{"$ref":"file:///etc/passwd"}`)
	d := mustNew(t, formats.Spec{Format: "jsonschema", Type: events.UserRegistered,
		Fields: map[string]string{"eventId": "/id", "uid": "/data/gigyaUid", "siteUid": "/data/customerNo", "occurredAt": "/time", "type": ""}},
		newRegistry(t, f.URL, "", ""))
	rec := func(id int, v string) formats.Record {
		return formats.Record{Topic: "crm.customers", Value: wire(id, []byte(v))}
	}
	const secretUID = "PERSONAL-4711"
	runCases(t, d, []decodeCase{
		{name: "valid", rec: rec(7, `{"id":"c-1","time":"2026-11-26T10:00:00Z","data":{"gigyaUid":"_gid_x","customerNo":"42"}}`),
			want: events.Event{EventID: "c-1", Type: events.UserRegistered, OccurredAt: at, UID: "_gid_x", SiteUID: "42"}},
		{name: "missing required property", rec: rec(7, `{"id":"c-1","data":{}}`),
			wantErr: []string{"does not match its JSON Schema (id 7)", `at /data: keyword "required": missing gigyaUid`}},
		{name: "wrong type", rec: rec(7, `{"id":5,"data":{"gigyaUid":"_gid_x"}}`),
			wantErr: []string{`at /id: keyword "type": got number, want string`}},
		{name: "pattern, value not quoted", rec: rec(7, `{"id":"c","data":{"gigyaUid":"`+secretUID+`"}}`),
			wantErr: []string{`at /data/gigyaUid: keyword "pattern"`}},
		{name: "valid by schema, invalid as event", rec: rec(7, `{"id":"c","data":{"gigyaUid":"_gid_x","customerNo":"_gid_x"}}`),
			wantErr: []string{`"siteUid" (/data/customerNo): must differ from uid`}},
		{name: "unknown schema id", rec: rec(70, `{}`), wantErr: []string{"schema id 70: not registered"}},
		{name: "avro schema id", rec: rec(8, `{}`), wantErr: []string{"schema id 8: is a AVRO schema"}},
		{name: "external ref refused", rec: rec(9, `{}`), wantErr: []string{"schema id 9: not a valid JSON Schema"}},
		{name: "undecodable JSON", rec: rec(7, `{"id":`), wantErr: []string{"malformed JSON"}},
		{name: "magic byte wrong", rec: formats.Record{Topic: "t", Value: []byte(`{"id":"c"}`)}, wantErr: []string{"want magic byte 0"}},
	})
	_, err := d.Decode(context.Background(), rec(7, `{"id":"c","data":{"gigyaUid":"`+secretUID+`"}}`))
	if err == nil || strings.Contains(err.Error(), secretUID) {
		t.Errorf("pattern error %v quotes the record's value", err)
	}
}

// TestRegistryDownThenUp: a registry that is unreachable, answers 5xx, or
// refuses the credentials gives a *TransientError (Temporary, not an
// *events.Error), and the same record decodes once it is back.
func TestRegistryDownThenUp(t *testing.T) {
	f := newFakeRegistry(t, "", "")
	f.add(1, "", customerAvro)
	good := wire(1, avroRecord(t, customerAvro, map[string]any{"id": "c-1", "createdAt": at,
		"data": map[string]any{"gigyaUid": "_gid_x", "customerNo": "42", "visits": int64(1)}}))
	r := formats.Record{Topic: "crm.customers", Value: good}

	refused := httptestURLClosed(t)
	for name, url := range map[string]string{"connection refused": refused, "503": f.URL} {
		t.Run(name, func(t *testing.T) {
			f.down.Store(true)
			d := mustNew(t, formats.Spec{Format: "avro", Type: events.AccountLinked, Fields: crmFields}, newRegistry(t, url, "", ""))
			_, err := d.Decode(context.Background(), r)
			wantTransient(t, err)
			// A cancelled context is transient too (the worker is stopping).
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err = d.Decode(ctx, r)
			wantTransient(t, err)
			if url == refused {
				return
			}
			f.down.Store(false)
			if _, err := d.Decode(context.Background(), r); err != nil {
				t.Fatalf("after the registry came back: %v", err)
			}
		})
	}
}

func wantTransient(t *testing.T, err error) {
	t.Helper()
	var te *formats.TransientError
	if !errors.As(err, &te) || !te.Temporary() {
		t.Fatalf("error = %v (%T), want a *formats.TransientError", err, err)
	}
	var ee *events.Error
	if errors.As(err, &ee) {
		t.Fatalf("transient error %v is also an *events.Error", err)
	}
}

// httptestURLClosed returns the URL of a server that is no longer listening.
func httptestURLClosed(t testing.TB) string {
	f := newFakeRegistry(t, "", "")
	url := f.URL
	f.Close()
	return url
}

// TestSchemaCacheBounded: each id is fetched once while cached, concurrent
// misses for one id share one request, and at most SchemaCacheSize schemas
// are kept (the least recently used is fetched again).
func TestSchemaCacheBounded(t *testing.T) {
	f := newFakeRegistry(t, "", "")
	n := formats.SchemaCacheSize + 10
	for id := 1; id <= n; id++ {
		f.add(id, "", customerAvro)
	}
	payload := avroRecord(t, customerAvro, map[string]any{"id": "c-1", "createdAt": at,
		"data": map[string]any{"gigyaUid": "_gid_x", "customerNo": "42", "visits": int64(1)}})
	d := mustNew(t, formats.Spec{Format: "avro", Type: events.AccountLinked, Fields: crmFields}, newRegistry(t, f.URL, "", ""))
	decode := func(id int) {
		t.Helper()
		if _, err := d.Decode(context.Background(), formats.Record{Topic: "t", Value: wire(id, payload)}); err != nil {
			t.Fatalf("schema %d: %v", id, err)
		}
	}

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { decode(1) })
	}
	wg.Wait()
	if got := f.hits.Load(); got != 1 {
		t.Fatalf("16 concurrent decodes of one new id: %d registry requests, want 1", got)
	}
	for id := 1; id <= n; id++ {
		decode(id)
		decode(id)
	}
	if got := f.hits.Load(); got != int64(n) {
		t.Fatalf("%d ids decoded twice each: %d registry requests, want %d", n, got, n)
	}
	decode(n) // recent: cached
	if got := f.hits.Load(); got != int64(n) {
		t.Fatalf("recent id: %d registry requests, want still %d", got, n)
	}
	decode(1) // evicted: the cache holds only the last SchemaCacheSize ids
	if got := f.hits.Load(); got != int64(n+1) {
		t.Fatalf("evicted id: %d registry requests, want %d", got, n+1)
	}
}

// TestRegistryBasicAuthAndSecrets: the credentials are sent as basic auth;
// wrong ones are transient (an operator fixes them; no record is at fault);
// the password appears in no error, even when the registry echoes it.
func TestRegistryBasicAuthAndSecrets(t *testing.T) {
	const user, pass = "regnotify", "s3cret-Pa55"
	f := newFakeRegistry(t, user, pass)
	f.add(7, "JSON", customerJSONSchema)
	r := formats.Record{Topic: "user.registered", Value: wire(7, []byte(`{"id":"c","data":{"gigyaUid":"_gid_x"}}`))}
	spec := formats.Spec{Format: "jsonschema", Fields: map[string]string{"eventId": "/id", "uid": "/data/gigyaUid", "type": ""}}

	ok := mustNew(t, spec, newRegistry(t, f.URL, user, pass))
	if _, err := ok.Decode(context.Background(), r); err != nil {
		t.Fatalf("with the right credentials: %v", err)
	}
	bad := mustNew(t, spec, newRegistry(t, f.URL, user, "wrong-"+pass))
	_, err := bad.Decode(context.Background(), r)
	wantTransient(t, err)
	if !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), pass) {
		t.Errorf("wrong password: error %q, want HTTP 401 and no password", err)
	}

	f.down.Store(true)
	f.echo.Store(true)
	fresh := mustNew(t, spec, newRegistry(t, f.URL, user, pass))
	_, err = fresh.Decode(context.Background(), r)
	wantTransient(t, err)
	if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), "Basic ") {
		t.Errorf("error %q repeats the credentials the registry echoed", err)
	}
}

func TestNewRegistryRefusesUnsafeURLs(t *testing.T) {
	tests := []struct{ name, url, pass, want string }{
		{"credentials in URL", "https://u:hunter2@registry.example", "", "must not contain credentials"},
		{"password over plain http", "http://registry.example:8081", "hunter2", "only over https"},
		{"not a URL", "registry.example:8081", "", "want http(s)://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := formats.NewRegistry(tt.url, "u", tt.pass, &tls.Config{MinVersion: tls.VersionTLS12})
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("NewRegistry(%q) = %v, want an error containing %q and no password", tt.url, err, tt.want)
			}
		})
	}
	for _, url := range []string{"http://127.0.0.1:8081", "http://localhost:8081", "http://[::1]:8081", "https://registry.example"} {
		r, err := formats.NewRegistry(url, "u", "hunter2", nil)
		if err != nil {
			t.Errorf("NewRegistry(%q) with a password: %v, want allowed", url, err)
			continue
		}
		r.Close()
	}
}
