package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/regnotify/regnotify/events"
)

// benchRecord is the contract's example event, a typical record.
const benchRecord = `{"eventId":"7f1c0a9e-2b5d-4c1e-9a3f-5d6e7f8a9b0c","type":"account.linked","occurredAt":"2026-11-26T10:00:00Z","uid":"_gid_Zm9vYmFy","siteUid":"customer-42","cid":"checkout"}`

func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name, topic, value string
	}{
		{"typical", "account.linked", benchRecord},
		{"minimal", "user.registered", `{"eventId":"e-1","uid":"9f86d081884c7d659a2feaa0c55ad015"}`},
		{"unknown-fields", "prod.account.linked", `{"schema":3,"meta":{"source":"web","ip":"203.0.113.9","tags":["a","b"]},"eventId":"7f1c0a9e-2b5d-4c1e-9a3f-5d6e7f8a9b0c","uid":"_gid_Zm9vYmFy","siteUid":"customer-42","cid":"checkout","extra":[1,2.5,true,null]}`},
		{"escaped", "account.linked", `{"eventId":"7f1c\u002d1","uid":"_gid_Zm9vYmFy","siteUid":"customer\/42","cid":"caf\u00e9"}`},
	}
	for _, c := range cases {
		value := []byte(c.value)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(value)))
			for b.Loop() {
				if _, err := events.Decode(c.topic, value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// For comparison: encoding/json alone, without any of the checks.
	b.Run("baseline-encoding-json", func(b *testing.B) {
		value := []byte(benchRecord)
		b.ReportAllocs()
		b.SetBytes(int64(len(value)))
		for b.Loop() {
			var e events.Event
			if err := json.Unmarshal(value, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	e := events.Event{
		EventID:    "7f1c0a9e-2b5d-4c1e-9a3f-5d6e7f8a9b0c",
		Type:       events.AccountLinked,
		OccurredAt: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		UID:        "_gid_Zm9vYmFy",
		SiteUID:    "customer-42",
		CID:        "checkout",
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Encode(e); err != nil {
			b.Fatal(err)
		}
	}
}
