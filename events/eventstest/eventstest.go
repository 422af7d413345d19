// Package eventstest provides sample records for tests of code that consumes
// events: valid records of both types with the events they decode to, and a
// corpus of bad records that events.Decode must reject, each with the field
// and the words its error must name. The worker's end-to-end tests produce
// them to Kafka; the events package's own tests and fuzz seeds use them too.
//
// It is test support: nothing in a production binary imports it.
package eventstest

import (
	"strings"
	"time"

	"github.com/regnotify/regnotify/events"
)

// UntypedTopic is a topic that names no event type; records on it must carry
// a "type" field. Tests that produce BadRecords or ValidRecords must create
// and consume it alongside the two default topics.
const UntypedTopic = "regnotify-test-untyped"

// Record is a valid record and the event it decodes to.
type Record struct {
	Name  string       // what the record shows, unique in ValidRecords
	Topic string       // the topic to produce it to
	Value []byte       // the record value
	Want  events.Event // what events.Decode(Topic, Value) returns
}

// BadRecord is a record events.Decode must reject.
type BadRecord struct {
	Name      string // what is wrong, unique in BadRecords
	Topic     string // the topic to produce it to
	Value     []byte // the record value
	WantField string // the *events.Error's Field ("" for the record as a whole)
	WantText  string // a phrase the error message must contain
}

// ValidRecords returns valid records of both types, on the default topics
// and on UntypedTopic, covering optional fields, escapes, time offsets and
// unknown fields. Each call returns fresh slices.
func ValidRecords() []Record {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	return []Record{
		{
			Name:  "user.registered minimal",
			Topic: "user.registered",
			Value: []byte(`{"eventId":"r-1","uid":"_gid_Zm9vYmFy"}`),
			Want:  events.Event{EventID: "r-1", Type: events.UserRegistered, UID: "_gid_Zm9vYmFy"},
		},
		{
			Name:  "user.registered full",
			Topic: "user.registered",
			Value: []byte(`{"eventId":"r-2","type":"user.registered","occurredAt":"2026-11-26T10:00:00Z","uid":"9f86d081884c7d659a2feaa0c55ad015","siteUid":"customer-1","cid":"signup"}`),
			Want:  events.Event{EventID: "r-2", Type: events.UserRegistered, OccurredAt: at, UID: "9f86d081884c7d659a2feaa0c55ad015", SiteUID: "customer-1", CID: "signup"},
		},
		{
			Name:  "account.linked from the contract",
			Topic: "account.linked",
			Value: []byte(`{"eventId": "7f1c", "type": "account.linked", "occurredAt": "2026-11-26T10:00:00Z",
 "uid": "_gid_Zm9vYmFy", "siteUid": "customer-42", "cid": "checkout"}`),
			Want: events.Event{EventID: "7f1c", Type: events.AccountLinked, OccurredAt: at, UID: "_gid_Zm9vYmFy", SiteUID: "customer-42", CID: "checkout"},
		},
		{
			Name:  "account.linked type from topic, offset time, nulls",
			Topic: "account.linked",
			Value: []byte(`{"eventId":"l-2","occurredAt":"2026-11-26T11:30:00.5+01:30","uid":"u-2","siteUid":"site 2","cid":null}`),
			Want:  events.Event{EventID: "l-2", Type: events.AccountLinked, OccurredAt: at.Add(500 * time.Millisecond), UID: "u-2", SiteUID: "site 2"},
		},
		{
			Name:  "type field on an untyped topic",
			Topic: UntypedTopic,
			Value: []byte(`{"eventId":"l-3","type":"account.linked","uid":"u-3","siteUid":"s-3"}`),
			Want:  events.Event{EventID: "l-3", Type: events.AccountLinked, UID: "u-3", SiteUID: "s-3"},
		},
		{
			Name:  "unknown fields, nested, and escapes",
			Topic: "user.registered",
			Value: []byte(`{"schema":2,"meta":{"source":"web","tags":["a",{"b":[true,false,null,-1.5e3]}]},"eventId":"r-\u00e9\"4\"","uid":"u\/4","cid":"caf\u00e9 \ud83d\ude00","UID":"ignored"}`),
			Want:  events.Event{EventID: `r-é"4"`, Type: events.UserRegistered, UID: "u/4", CID: "café 😀"},
		},
	}
}

// BadRecords returns at least 30 distinct bad records: size and encoding,
// malformed JSON, wrong types, missing and null fields, every field rule,
// type/topic disagreement, duplicate keys and deep nesting. Each call returns
// fresh slices.
//
// The largest value is 1,000,000 bytes, not 1 MiB: Kafka brokers and
// kafka-go's Writer refuse messages over 1 MiB by default, batch overhead
// included, and the record must reach the worker to be rejected there.
func BadRecords() []BadRecord {
	const ur, al = "user.registered", "account.linked"
	// ok is the start of a valid user.registered event, to be completed.
	const ok = `{"eventId":"e-1","uid":"u-1"`
	b := func(name, topic, value, field, text string) BadRecord {
		return BadRecord{Name: name, Topic: topic, Value: []byte(value), WantField: field, WantText: text}
	}
	return []BadRecord{
		// The record as a whole.
		b("empty value", ur, "", "", "empty record"),
		b("only whitespace", ur, " \n\t", "", "blank"),
		b("1 MB value", ur, ok+`,"pad":"`+strings.Repeat("x", 1_000_000-len(ok)-10)+`"}`, "", "the limit is 65536"),
		b("one byte over the limit", ur, ok+`,"pad":"`+strings.Repeat("x", events.MaxRecordSize-len(ok)-9)+`"}`, "", "the limit is 65536"),
		b("invalid UTF-8 byte", ur, `{"eventId":"e-1","uid":"u-`+"\xff"+`"}`, "", "invalid UTF-8 at byte offset 26"),
		b("truncated UTF-8 sequence", ur, ok+`,"cid":"caf`+"\xc3"+`"}`, "", "invalid UTF-8"),
		b("UTF-8 byte order mark", ur, "\xef\xbb\xbf"+ok+"}", "", "byte order mark"),
		b("JSON array", ur, `[`+ok+`}]`, "", "not a JSON object: the record is a JSON array"),
		b("JSON string", ur, `"e-1"`, "", "not a JSON object: the record is a JSON string"),
		b("JSON null", ur, `null`, "", "not a JSON object: the record is a JSON null"),
		b("JSON number", ur, `42`, "", "not a JSON object: the record is a JSON number"),
		b("not JSON at all", ur, `eventId=e-1&uid=u-1`, "", "malformed JSON at byte offset 0"),
		b("truncated object", ur, ok, "", "malformed JSON"),
		b("trailing comma", ur, ok+`,}`, "", "malformed JSON"),
		b("single-quoted string", ur, `{"eventId":'e-1',"uid":"u-1"}`, "eventId", "malformed JSON"),
		b("unquoted key", ur, `{eventId:"e-1","uid":"u-1"}`, "", "want an object key"),
		b("two objects", ur, ok+`}`+ok+`}`, "", "trailing data"),
		b("bad literal in unknown field", ur, ok+`,"x":tru}`, "", "malformed JSON"),
		b("leading zero in unknown field", ur, ok+`,"x":01}`, "", "malformed JSON"),
		b("raw NUL byte in uid", ur, `{"eventId":"e-1","uid":"u-`+"\x00"+`1"}`, "uid", "control character U+0000"),
		b("invalid escape in uid", ur, `{"eventId":"e-1","uid":"u-\x1"}`, "uid", "invalid escape"),
		b("nesting 33 levels", ur, ok+`,"x":`+strings.Repeat("[", 32)+strings.Repeat("]", 32)+`}`, "", "nesting deeper than 32"),
		b("nesting 10000 levels", ur, ok+`,"x":`+strings.Repeat(`{"a":`, 10000)+"1"+strings.Repeat("}", 10000)+`}`, "", "nesting deeper than 32"),
		b("duplicate uid", ur, ok+`,"uid":"u-2"}`, "uid", "duplicate key"),
		b("duplicate unknown key", ur, ok+`,"x":1,"x":1}`, "", `duplicate key "x"`),

		// eventId.
		b("eventId missing", ur, `{"uid":"u-1"}`, "eventId", "missing"),
		b("eventId null", ur, `{"eventId":null,"uid":"u-1"}`, "eventId", "null"),
		b("eventId empty", ur, `{"eventId":"","uid":"u-1"}`, "eventId", "must not be empty"),
		b("eventId a number", ur, `{"eventId":17,"uid":"u-1"}`, "eventId", "must be a string, got number"),
		b("eventId 129 characters", ur, `{"eventId":"`+strings.Repeat("é", 129)+`","uid":"u-1"}`, "eventId", "at most 128"),

		// type.
		b("unknown type", ur, ok+`,"type":"user.deleted"}`, "type", `unknown type "user.deleted"`),
		b("type an array", ur, ok+`,"type":["user.registered"]}`, "type", "must be a string, got array"),
		b("type disagrees with topic", al, ok+`,"type":"user.registered","siteUid":"s-1"}`, "type", "does not match topic"),
		b("no type and untyped topic", UntypedTopic, ok+`}`, "type", "does not name an event type"),

		// occurredAt.
		b("occurredAt not RFC 3339", ur, ok+`,"occurredAt":"2026-11-26 10:00:00"}`, "occurredAt", "RFC 3339"),
		b("occurredAt Unix seconds", ur, ok+`,"occurredAt":1795686400}`, "occurredAt", "must be a string, got number"),
		b("occurredAt impossible date", ur, ok+`,"occurredAt":"2026-02-30T10:00:00Z"}`, "occurredAt", "RFC 3339"),

		// uid.
		b("uid missing", ur, `{"eventId":"e-1"}`, "uid", "missing"),
		b("uid null", ur, `{"eventId":"e-1","uid":null}`, "uid", "null"),
		b("uid a number", ur, `{"eventId":"e-1","uid":12345}`, "uid", "must be a string, got number"),
		b("uid an object", ur, `{"eventId":"e-1","uid":{"id":"u-1"}}`, "uid", "must be a string, got object"),
		b("uid spelled UID", ur, `{"eventId":"e-1","UID":"u-1"}`, "uid", "case-sensitive"),
		b("uid empty", ur, `{"eventId":"e-1","uid":""}`, "uid", "must not be empty"),
		b("escaped NUL in uid", ur, `{"eventId":"e-1","uid":"u-1\u0000"}`, "uid", "control character U+0000"),
		b("newline in uid", ur, `{"eventId":"e-1","uid":"u-1\n"}`, "uid", "control character U+000A"),
		b("unpaired surrogate in uid", ur, `{"eventId":"e-1","uid":"u-\ud800"}`, "uid", "unpaired UTF-16 surrogate"),

		// siteUid.
		b("siteUid missing on account.linked", al, ok+`}`, "siteUid", "missing"),
		b("siteUid null on account.linked", al, ok+`,"siteUid":null}`, "siteUid", "null"),
		b("siteUid empty on account.linked", al, ok+`,"siteUid":""}`, "siteUid", "required"),
		b("siteUid non-ASCII", al, ok+`,"siteUid":"café"}`, "siteUid", "printable ASCII"),
		b("siteUid with a tab", ur, ok+`,"siteUid":"a\tb"}`, "siteUid", "printable ASCII"),
		b("siteUid 253 characters", al, ok+`,"siteUid":"`+strings.Repeat("s", 253)+`"}`, "siteUid", "at most 252"),
		b("siteUid equal to uid", al, ok+`,"siteUid":"u-1"}`, "siteUid", "must differ from uid"),
		b("siteUid a boolean", al, ok+`,"siteUid":true}`, "siteUid", "must be a string, got boolean"),

		// cid.
		b("cid 101 characters", ur, ok+`,"cid":"`+strings.Repeat("c", 101)+`"}`, "cid", "at most 100"),
		b("cid an object", ur, ok+`,"cid":{}}`, "cid", "must be a string, got object"),
		b("cid with DEL", ur, ok+`,"cid":"a\u007f"}`, "cid", "control character U+007F"),
	}
}
