package formats_test

import (
	"context"
	"errors"
	"testing"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/formats"
)

// checkOutcome is what every fuzzer asserts: no panic (the fuzzer would
// report it), an error is an *events.Error with a message (never transient:
// the registry is up), and an accepted event obeys every event rule.
func checkOutcome(t *testing.T, in any, e events.Event, err error) {
	t.Helper()
	if err != nil {
		var ee *events.Error
		if !errors.As(err, &ee) || ee.Rule == "" {
			t.Fatalf("Decode(%q): error %v (%T), want an *events.Error with a rule", in, err, err)
		}
		return
	}
	if verr := e.Validate(); verr != nil {
		t.Fatalf("Decode(%q) accepted %+v, which Validate rejects: %v", in, e, verr)
	}
}

func FuzzJSON(f *testing.F) {
	d := mustNew(f, formats.Spec{Format: "json", Fields: map[string]string{"uid": "/data/uid", "siteUid": "/data/a~1b/0"}}, nil)
	for _, s := range []string{
		`{"eventId":"e","type":"account.linked","data":{"uid":"u","a/b":["s"]}}`,
		`{"eventId":"e","type":"user.registered","occurredAt":"2026-11-26T10:00:00Z","data":{"uid":"u"},"cid":"c"}`,
		`{"eventId":1,"data":{"uid":null}}`, `[]`, `{"data":{"uid":"\ud800"}}`, `{"eventId":"e","data":{"uid":"u"}} x`,
	} {
		f.Add("events", []byte(s))
	}
	f.Fuzz(func(t *testing.T, topic string, value []byte) {
		e, err := d.Decode(context.Background(), formats.Record{Topic: topic, Value: value})
		checkOutcome(t, value, e, err)
	})
}

func FuzzCloudEvents(f *testing.F) {
	d := mustNew(f, formats.Spec{Format: "cloudevents", Types: map[string]string{"u": "user.registered", "a": "account.linked"}}, nil)
	f.Add(false, "application/json", "1.0", "u", "2026-11-26T10:00:00Z", []byte(`{"uid":"x","cid":"c"}`))
	f.Add(false, "", "1.0", "a", "", []byte(`{"uid":"x","siteUid":"y"}`))
	f.Add(true, "application/cloudevents+json; charset=utf-8", "", "", "",
		[]byte(`{"specversion":"1.0","id":"i","source":"s","type":"u","time":"2026-11-26T10:00:00Z","data":{"uid":"x"}}`))
	f.Add(true, "application/cloudevents+json", "", "", "", []byte(`{"specversion":"1.0","id":"i","source":"s","type":"a","data_base64":"eyJ1aWQiOiJ4Iiwic2l0ZVVpZCI6InkifQ=="}`))
	f.Add(false, "text/plain", "0.3", "z", "x", []byte(`{`))
	f.Fuzz(func(t *testing.T, structured bool, ct, specversion, ceType, ceTime string, value []byte) {
		r := formats.Record{Topic: "events", Value: value}
		if ct != "" {
			r.Headers = append(r.Headers, formats.Header{Key: "content-type", Value: []byte(ct)})
		}
		if !structured {
			r.Headers = append(r.Headers,
				formats.Header{Key: "ce_specversion", Value: []byte(specversion)}, formats.Header{Key: "ce_id", Value: []byte("id-1")},
				formats.Header{Key: "ce_source", Value: []byte("/src")}, formats.Header{Key: "ce_type", Value: []byte(ceType)})
			if ceTime != "" {
				r.Headers = append(r.Headers, formats.Header{Key: "ce_time", Value: []byte(ceTime)})
			}
		}
		e, err := d.Decode(context.Background(), r)
		checkOutcome(t, value, e, err)
		if err == nil && e.Type != events.UserRegistered && e.Type != events.AccountLinked {
			t.Fatalf("accepted type %q", e.Type)
		}
	})
}

// fuzzConfluent fuzzes the payload after a fixed schema id, so the registry
// (an httptest server, see fakeRegistry) is asked once.
func fuzzConfluent(f *testing.F, format, typ, schema string, seeds [][]byte) {
	reg := newFakeRegistry(f, "", "")
	reg.add(1, typ, schema)
	r, err := formats.NewRegistry(reg.URL, "", "", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(r.Close)
	d := mustNew(f, formats.Spec{Format: format, Fields: crmFields, Type: events.UserRegistered}, r)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		e, err := d.Decode(context.Background(), formats.Record{Topic: "crm.customers", Value: wire(1, payload)})
		checkOutcome(t, payload, e, err)
	})
}

func FuzzAvro(f *testing.F) {
	good := avroRecord(f, customerAvro, map[string]any{"id": "c-1", "createdAt": at,
		"data": map[string]any{"gigyaUid": "_gid_x", "customerNo": "42", "visits": int64(3)}})
	fuzzConfluent(f, "avro", "", customerAvro, [][]byte{good, good[:7], {}, {0xff, 0xff, 0xff, 0xff, 0x0f}, append(good[:len(good):len(good)], 1)})
}

func FuzzJSONSchema(f *testing.F) {
	fuzzConfluent(f, "jsonschema", "JSON", customerJSONSchema, [][]byte{
		[]byte(`{"id":"c-1","data":{"gigyaUid":"_gid_x","customerNo":"42"}}`),
		[]byte(`{"id":"c-1","data":{"gigyaUid":"_gid_x","customerNo":"_gid_x"}}`),
		[]byte(`{"id":5}`), []byte(`{"id":"c","data":{"gigyaUid":"nope"}}`), []byte(`nul`),
	})
}
