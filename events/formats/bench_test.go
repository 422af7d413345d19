package formats_test

import (
	"context"
	"testing"
	"time"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/formats"
)

// BenchmarkDecode measures the decode cost of one typical account.linked
// event in each format; regnotify is the strict decoder the others are
// compared with: right after each format's loop, the strict decoder runs as
// many times, and the format reports its ns/op as a multiple of that
// ("x-strict"), which a shared machine's load changes far less than ns.
// Registry lookups are cached after the first record, as in steady state.
func BenchmarkDecode(b *testing.B) {
	reg := newFakeRegistry(b, "", "")
	reg.add(1, "", customerAvro)
	reg.add(2, "JSON", customerJSONSchema)
	r, err := formats.NewRegistry(reg.URL, "", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	crm := map[string]string{"eventId": "/id", "uid": "/data/gigyaUid", "siteUid": "/data/customerNo", "occurredAt": "/createdAt", "type": ""}
	const data = `{"gigyaUid":"_gid_Zm9vYmFy","customerNo":"customer-42","visits":3}`
	avroValue := wire(1, avroRecord(b, customerAvro, map[string]any{"id": "7f1c0a9e-2b5d-4c1e-9a3f-5d6e7f8a9b0c", "createdAt": at,
		"data": map[string]any{"gigyaUid": "_gid_Zm9vYmFy", "customerNo": "customer-42", "visits": int64(3)}}))
	cases := []struct {
		name string
		spec formats.Spec
		rec  formats.Record
	}{
		{"regnotify", formats.Spec{}, formats.Record{Topic: "account.linked",
			Value: []byte(`{"eventId":"7f1c0a9e-2b5d-4c1e-9a3f-5d6e7f8a9b0c","type":"account.linked","occurredAt":"2026-11-26T10:00:00Z","uid":"_gid_Zm9vYmFy","siteUid":"customer-42","cid":"checkout"}`)}},
		{"json", formats.Spec{Format: "json", Type: events.AccountLinked, Fields: crm}, formats.Record{Topic: "crm.customers",
			Value: []byte(`{"id":"7f1c0a9e-2b5d-4c1e-9a3f-5d6e7f8a9b0c","type":"customer.created","createdAt":"2026-11-26T10:00:00Z","data":` + data + `}`)}},
		{"cloudevents-binary", formats.Spec{Format: "cloudevents", Types: map[string]string{"com.acme.customer.linked": "account.linked"}, Fields: map[string]string{"uid": "/gigyaUid", "siteUid": "/customerNo"}},
			formats.Record{Topic: "crm.events", Value: []byte(data), Headers: []formats.Header{
				{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("7f1c0a9e-2b5d-4c1e-9a3f-5d6e7f8a9b0c")},
				{Key: "ce_source", Value: []byte("/crm")}, {Key: "ce_type", Value: []byte("com.acme.customer.linked")},
				{Key: "ce_time", Value: []byte("2026-11-26T10:00:00Z")}, {Key: "content-type", Value: []byte("application/json")}}}},
		{"cloudevents-structured", formats.Spec{Format: "cloudevents", Types: map[string]string{"com.acme.customer.linked": "account.linked"}, Fields: map[string]string{"uid": "/gigyaUid", "siteUid": "/customerNo"}},
			formats.Record{Topic: "crm.events", Headers: []formats.Header{{Key: "content-type", Value: []byte("application/cloudevents+json; charset=utf-8")}},
				Value: []byte(`{"specversion":"1.0","id":"7f1c0a9e-2b5d-4c1e-9a3f-5d6e7f8a9b0c","source":"/crm","type":"com.acme.customer.linked","time":"2026-11-26T10:00:00Z","datacontenttype":"application/json","data":` + data + `}`)}},
		{"avro", formats.Spec{Format: "avro", Type: events.AccountLinked, Fields: crm}, formats.Record{Topic: "crm.customers", Value: avroValue}},
		{"jsonschema", formats.Spec{Format: "jsonschema", Type: events.AccountLinked, Fields: crm}, formats.Record{Topic: "crm.customers",
			Value: wire(2, []byte(`{"id":"7f1c0a9e-2b5d-4c1e-9a3f-5d6e7f8a9b0c","createdAt":"2026-11-26T10:00:00Z","data":`+data+`}`))}},
	}
	ctx := context.Background()
	strict := mustNew(b, cases[0].spec, nil)
	for _, c := range cases {
		d := mustNew(b, c.spec, r)
		if _, err := d.Decode(ctx, c.rec); err != nil { // warms the schema cache
			b.Fatalf("%s: %v", c.name, err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.rec.Value)))
			for b.Loop() {
				if _, err := d.Decode(ctx, c.rec); err != nil {
					b.Fatal(err)
				}
			}
			if c.spec.Format == "" {
				return
			}
			// b.Loop has stopped the timer: this pass is not in ns/op.
			start := time.Now()
			for range b.N {
				if _, err := strict.Decode(ctx, cases[0].rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(time.Since(start)), "x-strict")
		})
	}
}
