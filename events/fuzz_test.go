package events_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/eventstest"
)

// FuzzDecode checks, for any topic and value, that Decode does not panic,
// that every error is a well-formed *events.Error, and that every accepted
// event is valid, round-trips through Encode, and agrees with what
// encoding/json reads from the same bytes.
func FuzzDecode(f *testing.F) {
	for _, r := range eventstest.ValidRecords() {
		f.Add(r.Topic, r.Value)
	}
	for _, r := range eventstest.BadRecords() {
		// Large seeds slow every mutation down; the size limit is checked
		// before anything else, so small seeds cover the parser as well.
		if len(r.Value) <= 4<<10 {
			f.Add(r.Topic, r.Value)
		}
	}
	f.Add("events", []byte(`{"eventId":"e","type":"user.registered","uid":"u","occurredAt":"2026-01-02T03:04:05.678+05:30"}`))
	f.Add("prod-account.linked", []byte(`{"eventId":"e","uid":"u","siteUid":"s","cid":"c","x":{"a":[1,{"b":null}]}}`))
	f.Add("user.registered", []byte(`{"eventId":"\u0065","uid":"\ud83d\ude00","cid":"\"\\\/\b"}`))

	f.Fuzz(func(t *testing.T, topic string, value []byte) {
		e, err := events.Decode(topic, value)
		if err != nil {
			checkError(t, err)
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("Decode accepted %q as %+v, which Validate rejects: %v", value, e, err)
		}
		if e.Type != events.UserRegistered && e.Type != events.AccountLinked {
			t.Fatalf("Decode accepted %q with type %q", value, e.Type)
		}
		if tt, ok := events.TypeFromTopic(topic); ok && e.Type != tt {
			t.Fatalf("Decode accepted %q on topic %q with type %q", value, topic, e.Type)
		}
		if loc := e.OccurredAt.Location(); loc != time.UTC {
			t.Fatalf("Decode accepted %q with occurredAt in %v, want UTC", value, loc)
		}

		enc, err := events.Encode(e)
		if err != nil {
			t.Fatalf("Encode(%+v) of a decoded event: %v", e, err)
		}
		again, err := events.Decode(topic, enc)
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)) = Decode(%s): %v", e, enc, err)
		}
		if again != e {
			t.Fatalf("Decode(Encode(e)):\n got %+v\nwant %+v", again, e)
		}

		// encoding/json must agree: the value is valid JSON, and the fields
		// it reads (by exact name) are the ones Decode returned.
		if !json.Valid(value) {
			t.Fatalf("Decode accepted %q, which encoding/json says is not valid JSON", value)
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(value))
		d.UseNumber() // 1e400 is valid JSON but not a float64
		if err := d.Decode(&m); err != nil {
			t.Fatalf("Decode accepted %q, which encoding/json cannot read into a map: %v", value, err)
		}
		for name, got := range map[string]string{"eventId": e.EventID, "uid": e.UID, "siteUid": e.SiteUID, "cid": e.CID} {
			if want, _ := m[name].(string); got != want {
				t.Fatalf("Decode(%q): %s is %q, encoding/json reads %q", value, name, got, want)
			}
		}
		if want, ok := m["type"].(string); ok && string(e.Type) != want {
			t.Fatalf("Decode(%q): type is %q, encoding/json reads %q", value, e.Type, want)
		}
		if s, ok := m["occurredAt"].(string); ok {
			want, err := time.Parse(time.RFC3339Nano, s)
			if err != nil || !want.Equal(e.OccurredAt) {
				t.Fatalf("Decode(%q): occurredAt is %v, time.Parse reads %v, %v", value, e.OccurredAt, want, err)
			}
		} else if !e.OccurredAt.IsZero() {
			t.Fatalf("Decode(%q): occurredAt is %v, but the record has none", value, e.OccurredAt)
		}
	})
}
