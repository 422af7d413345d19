package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/formats"
	"github.com/regnotify/regnotify/worker"
	"github.com/regnotify/regnotify/worker/kafkaio"
)

// devTopic is one topic of the dev setup: its site (or the header naming
// it), lane and format.
type devTopic struct {
	name, site, header, lane string
	spec                     formats.Spec
}

// crmFields are the pointers of the demo's "customer" records (json, avro,
// jsonschema): {"id":..., "data":{"gigyaUid":..., "customerNo":...}}.
var crmFields = map[string]string{"eventId": "/id", "uid": "/data/gigyaUid", "siteUid": "/data/customerNo"}

// devTopics are dev's topics. user.registered and account.linked keep
// their names (and go to brand-a) so that the README's kcat lines work.
var devTopics = []devTopic{
	{name: "user.registered", site: devSiteA},
	{name: "account.linked", site: devSiteA},
	{name: "brand-b.user.registered", site: devSiteB},
	{name: "brand-b.account.linked", site: devSiteB},
	{name: "bulk.account.linked", site: devSiteA, lane: "bulk"},
	{name: "crm.customers", header: "brand", spec: formats.Spec{Format: formats.FormatJSON, Type: events.AccountLinked, Fields: crmFields}},
	{name: "acme.events", site: devSiteB, spec: formats.Spec{Format: formats.FormatCloudEvents,
		Types: map[string]string{"com.acme.user.created": string(events.UserRegistered), "com.acme.account.linked": string(events.AccountLinked)}}},
	{name: "avro.customers", site: devSiteA, spec: formats.Spec{Format: formats.FormatAvro, Type: events.AccountLinked, Fields: crmFields}},
	{name: "jsonschema.customers", site: devSiteB, spec: formats.Spec{Format: formats.FormatJSONSchema, Type: events.AccountLinked, Fields: crmFields}},
}

func devTopicNames() []string {
	names := make([]string, len(devTopics))
	for i, t := range devTopics {
		names[i] = t.name
	}
	return names
}

func devFormatOf(topic string) string {
	for _, t := range devTopics {
		if t.name == topic {
			return orDefault(t.spec.Format, formats.FormatRegnotify)
		}
	}
	return "?"
}

const (
	devAvroSchema = `{"type":"record","name":"Customer","namespace":"com.acme","fields":[
 {"name":"id","type":"string"},
 {"name":"data","type":{"type":"record","name":"CustomerData","fields":[
  {"name":"gigyaUid","type":"string"},{"name":"customerNo","type":"string"}]}}]}`
	devJSONSchema = `{"type":"object","required":["id","data"],"properties":{
 "id":{"type":"string"},
 "data":{"type":"object","required":["gigyaUid"],"properties":{"gigyaUid":{"type":"string"},"customerNo":{"type":"string"}}}}}`
)

// devSchemaIDs are the ids of the demo's schemas in the registry.
type devSchemaIDs struct {
	avro, json int
	avroSchema avro.Schema
}

// seedDevSchemas registers the demo schemas in the in-process registry
// (franz-go's srfake, which speaks Schema Registry's REST API).
func seedDevSchemas(r *srfake.Registry) (devSchemaIDs, error) {
	ids := devSchemaIDs{avro: 1, json: 2}
	s, err := avro.Parse(devAvroSchema)
	if err != nil {
		return ids, fmt.Errorf("demo avro schema: %w", err)
	}
	ids.avroSchema = s
	r.SeedSchema("avro.customers-value", 1, ids.avro, sr.Schema{Schema: devAvroSchema, Type: sr.TypeAvro})
	r.SeedSchema("jsonschema.customers-value", 1, ids.json, sr.Schema{Schema: devJSONSchema, Type: sr.TypeJSON})
	return ids, nil
}

// confluentWire prefixes payload with the Confluent wire format header.
func confluentWire(id int, payload []byte) []byte {
	b := make([]byte, 5, 5+len(payload))
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	return append(b, payload...)
}

// runDemo produces n sample events, waits until the worker committed them
// all and prints what became of them.
func runDemo(ctx context.Context, out io.Writer, n int, brokers []string, cfg worker.Config, m *worker.Metrics, ids devSchemaIDs) error {
	first, second, expect := demoEvents(n, ids)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	wr := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, Transport: tr}
	defer wr.Close()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: tr}
	topics := append(append([]string{}, cfg.Topics...), cfg.BulkTopics...)
	start := time.Now()
	fmt.Fprintf(out, "demo: producing %d events (%s); waiting for the worker...\n", len(first)+len(second), expect)
	// Claims and redeliveries come after the links they refer to have
	// ended, so that each ends as announced: a claim processed before
	// the link it competes with would win the siteUID instead.
	for _, batch := range [][]kafka.Message{first, second} {
		if err := wr.WriteMessages(ctx, batch...); err != nil {
			return fmt.Errorf("demo: produce: %w", err)
		}
		for {
			done, err := kafkaio.CaughtUp(ctx, client, cfg.Group, topics)
			if err == nil && done {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	fmt.Fprintf(out, "\ndemo: all %d events ended in %v\n", len(first)+len(second), time.Since(start).Round(time.Millisecond))
	return printDemoSummary(out, m)
}

// printDemoSummary prints the outcomes, then the events by site and by
// format.
func printDemoSummary(out io.Writer, m *worker.Metrics) error {
	s := m.Snapshot()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "outcome\tevents\t")
	for _, o := range []string{worker.OutcomeNotified, worker.OutcomeAlreadyDone, worker.OutcomeDLQInvalid, worker.OutcomeDLQRejected, worker.OutcomeDLQExhausted} {
		fmt.Fprintf(tw, "%s\t%d\t\n", o, s.Events[o])
	}
	fmt.Fprintf(tw, "total\t%d\t\n", s.Total())
	fmt.Fprintf(tw, "gigya calls\t%d\t\n", s.GigyaCalls)
	fmt.Fprintf(tw, "retries\t%d\t\n", s.Retries)
	if err := tw.Flush(); err != nil {
		return err
	}
	bySite, byFormat, topicsOf := demoBreakdown(m)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nsite\tnotified\talready_done\tdead-lettered")
	for _, site := range sortedKeys(bySite) {
		c := bySite[site]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", site, c[0], c[1], c[2])
	}
	fmt.Fprintln(tw, "\nformat\tnotified\talready_done\tdead-lettered\ttopics")
	for _, f := range []string{formats.FormatRegnotify, formats.FormatJSON, formats.FormatCloudEvents, formats.FormatAvro, formats.FormatJSONSchema} {
		c := byFormat[f]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", f, c[0], c[1], c[2], strings.Join(topicsOf[f], ", "))
	}
	return tw.Flush()
}

// demoBreakdown sums regnotify_events_total by site and by format:
// notified, already done, dead-lettered.
func demoBreakdown(m *worker.Metrics) (bySite, byFormat map[string]*[3]int, topicsOf map[string][]string) {
	bySite, byFormat, topicsOf = map[string]*[3]int{}, map[string]*[3]int{}, map[string][]string{}
	for _, t := range devTopics {
		f := orDefault(t.spec.Format, formats.FormatRegnotify)
		topicsOf[f] = append(topicsOf[f], t.name)
		if byFormat[f] == nil {
			byFormat[f] = &[3]int{}
		}
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		return
	}
	for _, mf := range mfs {
		if mf.GetName() != "regnotify_events_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			col := 2
			switch labels["outcome"] {
			case worker.OutcomeNotified:
				col = 0
			case worker.OutcomeAlreadyDone:
				col = 1
			}
			v := int(mt.GetCounter().GetValue())
			site := orDefault(labels["site"], "(no site)")
			if bySite[site] == nil {
				bySite[site] = &[3]int{}
			}
			bySite[site][col] += v
			if c := byFormat[devFormatOf(labels["topic"])]; c != nil {
				c[col] += v
			}
		}
	}
	return
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// demoEvents returns n sample events: mostly valid links and registrations
// spread over both sites and every format, and a share of each kind of
// trouble: invalid events, links Gigya rejects (a siteUID another account
// owns: 409001) and redelivered links (already done). The mix is
// deterministic. The claims and redeliveries are returned apart (later):
// they refer to links among msgs.
func demoEvents(n int, ids devSchemaIDs) (msgs, later []kafka.Message, summary string) {
	r := mrand.New(mrand.NewPCG(42, 42))
	var linked []kafka.Message
	var valid, invalid, rejected, redelivered, regs, links int
	bad := [][]byte{
		[]byte(`{"eventId":"bad-1","uid":"_gid_x","siteUid":"_gid_x"}`),
		[]byte(`{"eventId":"bad-2","uid":"_gid_y","siteUid":"kunde-ü"}`),
		[]byte(`{"uid":"_gid_z","siteUid":"customer-z"}`),
		[]byte(`{"eventId":"bad-4","uid":"_gid_w"`),
		[]byte(`{"eventId":"bad-5","type":"user.registered","uid":"_gid_v","siteUid":"c-v"}`),
	}
	for i := 0; len(msgs)+len(later) < n; i++ {
		uid := fmt.Sprintf("_gid_demo%05d", i)
		site := fmt.Sprintf("customer-%05d", i)
		switch x := r.IntN(100); {
		case x < 8:
			if invalid%4 == 3 {
				// Routed to no site: the header names none.
				msgs = append(msgs, crmRecord("crm.customers", "brand-z", uid, site))
			} else {
				msgs = append(msgs, kafka.Message{Topic: string(events.AccountLinked), Key: []byte(uid), Value: bad[r.IntN(len(bad))]})
			}
			invalid++
		case x < 14 && len(linked) > 0:
			// Another account claims a siteUID already linked: 409001.
			prev, _ := events.Decode(string(events.AccountLinked), linked[r.IntN(len(linked))].Value)
			later = append(later, regnotifyRecord(string(events.AccountLinked), events.Event{EventID: "claim-" + uid, Type: events.AccountLinked, UID: uid, SiteUID: prev.SiteUID}))
			rejected++
		case x < 20 && len(linked) > 0:
			later = append(later, linked[r.IntN(len(linked))]) // a redelivery
			redelivered++
		case x < 45:
			msgs = append(msgs, demoRegistration(regs, uid))
			regs++
			valid++
		default:
			m, keep := demoLink(links, uid, site, ids)
			msgs = append(msgs, m)
			if keep {
				linked = append(linked, m)
			}
			links++
			valid++
		}
	}
	return msgs, later, fmt.Sprintf("%d valid, %d invalid, %d claiming a taken siteUID, %d redelivered", valid, invalid, rejected, redelivered)
}

func regnotifyRecord(topic string, ev events.Event) kafka.Message {
	v, _ := events.Encode(ev)
	return kafka.Message{Topic: topic, Key: []byte(ev.UID), Value: v}
}

// demoRegistration is the i-th valid registration: in turn on brand-a,
// brand-b, and CloudEvents in binary and in structured mode.
func demoRegistration(i int, uid string) kafka.Message {
	ev := events.Event{EventID: "reg-" + uid, Type: events.UserRegistered, UID: uid, OccurredAt: time.Now().UTC().Truncate(time.Second)}
	data, _ := json.Marshal(map[string]string{"uid": uid})
	switch i % 4 {
	case 1:
		return regnotifyRecord("brand-b.user.registered", ev)
	case 2:
		return kafka.Message{Topic: "acme.events", Key: []byte(uid), Value: data, Headers: []kafka.Header{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte(ev.EventID)},
			{Key: "ce_type", Value: []byte("com.acme.user.created")}, {Key: "ce_source", Value: []byte("/acme/signup")},
			{Key: "ce_time", Value: []byte(ev.OccurredAt.Format(time.RFC3339))}, {Key: "content-type", Value: []byte("application/json")}}}
	case 3:
		v, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": ev.EventID, "type": "com.acme.user.created",
			"source": "/acme/signup", "time": ev.OccurredAt.Format(time.RFC3339), "datacontenttype": "application/json", "data": json.RawMessage(data)})
		return kafka.Message{Topic: "acme.events", Key: []byte(uid), Value: v,
			Headers: []kafka.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}}
	}
	return regnotifyRecord(string(events.UserRegistered), ev)
}

// crmRecord is a "customer" record of the json topic, routed by its brand
// header.
func crmRecord(topic, brand, uid, siteUID string) kafka.Message {
	v, _ := json.Marshal(map[string]any{"id": "crm-" + uid, "data": map[string]string{"gigyaUid": uid, "customerNo": siteUID}})
	return kafka.Message{Topic: topic, Key: []byte(uid), Value: v, Headers: []kafka.Header{{Key: "brand", Value: []byte(brand)}}}
}

// demoLink is the i-th valid link, spread over the topics; keep says it
// is on account.linked, where the claims and redeliveries refer to it.
func demoLink(i int, uid, siteUID string, ids devSchemaIDs) (m kafka.Message, keep bool) {
	ev := events.Event{EventID: "link-" + uid, Type: events.AccountLinked, UID: uid, SiteUID: siteUID, CID: "demo"}
	rec := map[string]any{"id": "crm-" + uid, "data": map[string]any{"gigyaUid": uid, "customerNo": siteUID}}
	switch i % 10 {
	case 1:
		return regnotifyRecord("brand-b.account.linked", ev), false
	case 3:
		return crmRecord("crm.customers", devSiteA, uid, siteUID), false
	case 5:
		// A siteFrom value may also be the site's apiKey.
		return crmRecord("crm.customers", devAPIKeyB, uid, siteUID), false
	case 6:
		b, _ := avro.Marshal(ids.avroSchema, rec)
		return kafka.Message{Topic: "avro.customers", Key: []byte(uid), Value: confluentWire(ids.avro, b)}, false
	case 8:
		b, _ := json.Marshal(rec)
		return kafka.Message{Topic: "jsonschema.customers", Key: []byte(uid), Value: confluentWire(ids.json, b)}, false
	case 9:
		return regnotifyRecord("bulk.account.linked", ev), false
	}
	return regnotifyRecord(string(events.AccountLinked), ev), true
}
