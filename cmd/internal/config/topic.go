package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/regnotify/regnotify/events"
)

// fieldNames are the event fields a topic's `fields` may point to, per
// format; cloudevents takes eventId, occurredAt and type from its attributes.
var fieldNames = map[string][]string{
	"json":        {"eventId", "uid", "siteUid", "cid", "occurredAt", "type"},
	"avro":        {"eventId", "uid", "siteUid", "cid", "occurredAt", "type"},
	"jsonschema":  {"eventId", "uid", "siteUid", "cid", "occurredAt", "type"},
	"cloudevents": {"uid", "siteUid", "cid"},
	"regnotify":   nil,
}

// topic validates one entry of topics; sites maps a site's name to its line.
// It also returns the name as written, for messages.
func (p *parser) topic(rt *rawTopic, i int, sites map[string]int) (Topic, string, error) {
	at := fmt.Sprintf("topics[%d]", i)
	t := Topic{Line: p.itemLine("topics", i)}
	if rt == nil {
		return t, "", p.errf(t.Line, at, "expected a mapping")
	}
	vals := map[string]value{}
	for _, f := range []struct {
		dst *string
		src *scalar
		key string
	}{
		{&t.Name, rt.Name, "name"}, {&t.Site, rt.Site, "site"}, {&t.Lane, rt.Lane, "lane"},
		{&t.Format, rt.Format, "format"}, {&t.Type, rt.Type, "type"},
	} {
		v, err := p.str(f.src, at+"."+f.key)
		if err != nil {
			return t, "", err
		}
		*f.dst, vals[f.key] = v.text, v
	}
	if err := p.checkTopic(&t, at, vals); err != nil {
		return t, "", err
	}
	if err := p.route(&t, rt, at, vals["name"].raw, vals["site"], sites); err != nil {
		return t, "", err
	}
	var err error
	if t.Fields, err = p.fields(rt.Fields, at+".fields", t.Format); err != nil {
		return t, "", err
	}
	if t.Types, err = p.types(rt.Types, at+".types", t.Format); err != nil {
		return t, "", err
	}
	name := vals["name"].raw
	return t, name, p.topicType(&t, at, name, vals["type"])
}

func (p *parser) checkTopic(t *Topic, at string, vals map[string]value) error {
	if t.Name == "" {
		return p.errf(t.Line, at+".name", "a topic needs a name")
	}
	if !topicName.MatchString(t.Name) {
		v := vals["name"]
		return p.errf(v.line, v.key, "topic name %q is not a Kafka topic name (letters, digits, . _ -; at most 249)", v.raw)
	}
	switch t.Lane {
	case "":
		t.Lane = LaneLive
	case LaneLive, LaneBulk:
	default:
		v := vals["lane"]
		return p.errf(v.line, v.key, "lane %q must be live or bulk", v.raw)
	}
	if t.Format == "" {
		t.Format = FormatRegnotify
	}
	if _, ok := fieldNames[t.Format]; !ok {
		v := vals["format"]
		return p.errf(v.line, v.key, "format %q must be regnotify, json, cloudevents, avro or jsonschema", v.raw)
	}
	return nil
}

// route checks site XOR siteFrom, and that a named site exists.
func (p *parser) route(t *Topic, rt *rawTopic, at, name string, site value, sites map[string]int) error {
	if rt.SiteFrom != nil {
		h, err := p.str(rt.SiteFrom.Header, at+".siteFrom.header")
		if err != nil {
			return err
		}
		f, err := p.str(rt.SiteFrom.Field, at+".siteFrom.field")
		if err != nil {
			return err
		}
		t.SiteFrom = SiteFrom{Header: h.text, Field: f.text}
		switch {
		case t.Site != "":
			return p.errf(site.line, site.key, "set site or siteFrom, not both")
		case h.text != "" && f.text != "":
			return p.errf(f.line, f.key, "siteFrom takes header or field, not both")
		case t.SiteFrom.IsZero():
			return p.errf(t.Line, at+".siteFrom", "siteFrom needs header or field")
		case f.text != "":
			if msg := pointerProblem(f.text); msg != "" {
				return p.errf(f.line, f.key, "%q %s", f.raw, msg)
			}
		}
		return nil
	}
	if t.Site == "" {
		return p.errf(t.Line, at+".site", "topic %s needs site or siteFrom", name)
	}
	if _, ok := sites[t.Site]; !ok {
		return p.errf(site.line, site.key, "unknown site %q (not in sites)", site.raw)
	}
	return nil
}

func (p *parser) fields(raw map[string]*scalar, at, format string) (map[string]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	allowed := fieldNames[format]
	out := map[string]string{}
	for _, k := range sortedKeys(raw) {
		v, err := p.str(raw[k], at+"."+k)
		if err != nil {
			return nil, err
		}
		if len(allowed) == 0 {
			return nil, p.errf(v.line, v.key, "format %s has fixed field names; fields is for json, cloudevents, avro and jsonschema", format)
		}
		if !slices.Contains(allowed, k) {
			return nil, p.errf(v.line, v.key, "unknown field %q for format %s (one of %s)", k, format, strings.Join(allowed, ", "))
		}
		if msg := pointerProblem(v.text); msg != "" {
			return nil, p.errf(v.line, v.key, "%q %s", v.raw, msg)
		}
		out[k] = v.text
	}
	return out, nil
}

func (p *parser) types(raw map[string]*scalar, at, format string) (map[string]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, k := range sortedKeys(raw) {
		v, err := p.str(raw[k], at+"."+k)
		if err != nil {
			return nil, err
		}
		if format != "cloudevents" {
			return nil, p.errf(v.line, at, "types is for format cloudevents only")
		}
		if !isEventType(v.text) {
			return nil, p.errf(v.line, v.key, "%q must be user.registered or account.linked", v.raw)
		}
		out[k] = v.text
	}
	return out, nil
}

// topicType fills t.Type from the name's suffix and checks they agree.
func (p *parser) topicType(t *Topic, at, name string, v value) error {
	fromName, named := events.TypeFromTopic(t.Name)
	switch {
	case t.Type != "" && !isEventType(t.Type):
		return p.errf(v.line, v.key, "type %q must be user.registered or account.linked", v.raw)
	case t.Type != "" && named && string(fromName) != t.Type:
		return p.errf(v.line, v.key, "type %s disagrees with the topic name %s", t.Type, name)
	case t.Type == "" && named:
		t.Type = string(fromName)
	case t.Type == "" && !(t.Format == "cloudevents" && len(t.Types) > 0):
		return p.errf(t.Line, at+".type", "topic %s needs a type: its name does not end in user.registered or account.linked", name)
	}
	return nil
}

// pointerProblem says what is wrong with a JSON Pointer (RFC 6901), or "".
func pointerProblem(ptr string) string {
	if !strings.HasPrefix(ptr, "/") {
		return "must be a JSON Pointer starting with /"
	}
	for i := 0; i < len(ptr); i++ {
		if ptr[i] == '~' && (i+1 == len(ptr) || (ptr[i+1] != '0' && ptr[i+1] != '1')) {
			return "is not a JSON Pointer: ~ must be followed by 0 or 1"
		}
	}
	return ""
}

func isEventType(s string) bool {
	return s == string(events.UserRegistered) || s == string(events.AccountLinked)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
