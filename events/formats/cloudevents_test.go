package formats_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/formats"
)

// ceHeaders are binary-mode headers of a valid event, with overrides
// (a nil value drops the header).
func ceHeaders(over map[string]*string) []formats.Header {
	base := []struct{ k, v string }{
		{"ce_specversion", "1.0"}, {"ce_id", "ce-1"}, {"ce_source", "/crm"}, {"ce_type", "com.acme.user.created"},
		{"ce_time", "2026-11-26T10:00:00Z"}, {"content-type", "application/json"},
	}
	var hs []formats.Header
	seen := map[string]bool{}
	for _, b := range base {
		seen[b.k] = true
		v := b.v
		if o, ok := over[b.k]; ok {
			if o == nil {
				continue
			}
			v = *o
		}
		hs = append(hs, formats.Header{Key: b.k, Value: []byte(v)})
	}
	for k, v := range over {
		if !seen[k] && v != nil {
			hs = append(hs, formats.Header{Key: k, Value: []byte(*v)})
		}
	}
	return hs
}

func ptr(s string) *string { return &s }

func TestCloudEvents(t *testing.T) {
	d := mustNew(t, formats.Spec{Format: "cloudevents",
		Types:  map[string]string{"com.acme.user.created": "user.registered", "com.acme.account.linked": "account.linked"},
		Fields: map[string]string{"uid": "/user/gigyaUid", "siteUid": "/user/no"}}, nil)
	const data = `{"user":{"gigyaUid":"_gid_x","no":"42"},"cid":"web"}`
	bin := func(over map[string]*string, value string) formats.Record {
		return formats.Record{Topic: "acme.events", Value: []byte(value), Headers: ceHeaders(over)}
	}
	structured := func(ct, value string) formats.Record {
		return formats.Record{Topic: "acme.events", Value: []byte(value), Headers: []formats.Header{{Key: "content-type", Value: []byte(ct)}}}
	}
	want := events.Event{EventID: "ce-1", Type: events.UserRegistered, OccurredAt: at, UID: "_gid_x", SiteUID: "42", CID: "web"}
	linked := want
	linked.Type = events.AccountLinked
	const env = `{"specversion":"1.0","id":"ce-1","source":"/crm","type":"com.acme.account.linked","time":"2026-11-26T11:00:00+01:00","datacontenttype":"application/json","data":` + data + `}`
	runCases(t, d, []decodeCase{
		{name: "binary", rec: bin(nil, data), want: want},
		{name: "binary without content-type", rec: bin(map[string]*string{"content-type": nil}, data), want: want},
		{name: "binary with +json content-type", rec: bin(map[string]*string{"content-type": ptr("application/vnd.acme+json; charset=utf-8")}, data), want: want},
		{name: "binary without time", rec: bin(map[string]*string{"ce_time": nil}, data), want: func() events.Event { e := want; e.OccurredAt = time.Time{}; return e }()},
		{name: "structured", rec: structured("application/cloudevents+json", env), want: linked},
		{name: "structured with charset", rec: structured("application/cloudevents+json; charset=utf-8", env), want: linked},
		{name: "structured data_base64", rec: structured("application/cloudevents+json",
			`{"specversion":"1.0","id":"ce-1","source":"/crm","type":"com.acme.account.linked","time":"2026-11-26T10:00:00Z","data_base64":"`+base64.StdEncoding.EncodeToString([]byte(data))+`"}`), want: linked},

		{name: "unmapped ce_type", rec: bin(map[string]*string{"ce_type": ptr("com.acme.user.deleted")}, data),
			wantErr: []string{`field "type" (header ce_type)`, `"com.acme.user.deleted" is not in the topic's types map`}},
		{name: "bad specversion", rec: bin(map[string]*string{"ce_specversion": ptr("0.3")}, data), wantErr: []string{`header ce_specversion: want "1.0"; got "0.3"`}},
		{name: "missing id", rec: bin(map[string]*string{"ce_id": nil}, data), wantErr: []string{"header ce_id: required CloudEvents attribute"}},
		{name: "empty source", rec: bin(map[string]*string{"ce_source": ptr("")}, data), wantErr: []string{"header ce_source: required CloudEvents attribute"}},
		{name: "missing type", rec: bin(map[string]*string{"ce_type": nil}, data), wantErr: []string{"header ce_type: required"}},
		{name: "bad time", rec: bin(map[string]*string{"ce_time": ptr("yesterday")}, data), wantErr: []string{`"occurredAt" (header ce_time): must be an RFC 3339`}},
		{name: "id too long", rec: bin(map[string]*string{"ce_id": ptr(string(make([]byte, 129)))}, data), wantErr: []string{`"eventId" (header ce_id)`}},
		{name: "data not JSON", rec: bin(map[string]*string{"content-type": ptr("text/plain")}, data), wantErr: []string{"header content-type: data must be JSON"}},
		{name: "missing uid in data", rec: bin(nil, `{"user":{"no":"42"}}`), wantErr: []string{`"uid" (/user/gigyaUid): required field is missing`}},
		{name: "mistyped uid in data", rec: bin(nil, `{"user":{"gigyaUid":true}}`), wantErr: []string{`"uid" (/user/gigyaUid): must be a string, got boolean`}},
		{name: "siteUid missing on account.linked", rec: bin(map[string]*string{"ce_type": ptr("com.acme.account.linked")}, `{"user":{"gigyaUid":"u"}}`),
			wantErr: []string{`"siteUid" (/user/no): required for account.linked`}},
		{name: "neither mode", rec: formats.Record{Topic: "t", Value: []byte(data)}, wantErr: []string{"not a CloudEvent"}},
		{name: "structured batch", rec: structured("application/cloudevents-batch+json", `[`+env+`]`), wantErr: []string{"header content-type: want application/cloudevents+json"}},
		{name: "structured bad specversion", rec: structured("application/cloudevents+json", `{"specversion":"2.0","id":"i","source":"s","type":"com.acme.user.created","data":{}}`),
			wantErr: []string{`attribute specversion: want "1.0"`}},
		{name: "structured mistyped id", rec: structured("application/cloudevents+json", `{"specversion":"1.0","id":7,"source":"s","type":"t"}`),
			wantErr: []string{"attribute id: must be a string, got number"}},
		{name: "structured unmapped type", rec: structured("application/cloudevents+json", `{"specversion":"1.0","id":"i","source":"s","type":"x.y","data":{}}`),
			wantErr: []string{`field "type" (attribute type)`, `"x.y"`}},
		{name: "structured xml data", rec: structured("application/cloudevents+json", `{"specversion":"1.0","id":"i","source":"s","type":"com.acme.user.created","datacontenttype":"application/xml","data":"<a/>"}`),
			wantErr: []string{"attribute datacontenttype: data must be JSON"}},
		{name: "structured bad base64", rec: structured("application/cloudevents+json", `{"specversion":"1.0","id":"i","source":"s","type":"com.acme.user.created","data_base64":"!!"}`),
			wantErr: []string{"attribute data_base64: not valid base64"}},
	})

	// Without a types map the type is the topic's (or the configured one).
	plain := mustNew(t, formats.Spec{Format: "cloudevents"}, nil)
	runCases(t, plain, []decodeCase{
		{name: "type from topic, default pointers", rec: formats.Record{Topic: "acme.user.registered", Value: []byte(`{"uid":"u","cid":"c"}`), Headers: ceHeaders(map[string]*string{"ce_type": ptr("anything")})},
			want: events.Event{EventID: "ce-1", Type: events.UserRegistered, OccurredAt: at, UID: "u", CID: "c"}},
		{name: "no type anywhere", rec: formats.Record{Topic: "acme.events", Value: []byte(`{"uid":"u"}`), Headers: ceHeaders(nil)},
			wantErr: []string{`field "type" (header ce_type): the topic has no types map`}},
	})
}
