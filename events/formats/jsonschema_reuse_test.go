package formats_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/regnotify/regnotify/events"
	"github.com/regnotify/regnotify/events/formats"
)

// TestJSONSchemaConcurrentReuse: goroutines decoding jsonschema records
// through one decoder (which recycles the parsed trees' maps) each get
// their own record's event, valid or not, every time.
func TestJSONSchemaConcurrentReuse(t *testing.T) {
	f := newFakeRegistry(t, "", "")
	f.add(7, "JSON", customerJSONSchema)
	d := mustNew(t, formats.Spec{Format: "jsonschema", Type: events.UserRegistered,
		Fields: map[string]string{"eventId": "/id", "uid": "/data/gigyaUid", "siteUid": "/data/customerNo", "type": ""}},
		newRegistry(t, f.URL, "", ""))
	var wg sync.WaitGroup
	errs := make([]string, 4)
	for g := range len(errs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, uid := "c-"+strconv.Itoa(g), "_gid_"+strconv.Itoa(g)
			good := formats.Record{Topic: "crm.customers", Value: wire(7, []byte(`{"id":"`+id+`","data":{"gigyaUid":"`+uid+`","customerNo":"s`+id+`"}}`))}
			bad := formats.Record{Topic: "crm.customers", Value: wire(7, []byte(`{"id":"`+id+`","data":{}}`))}
			want := events.Event{EventID: id, Type: events.UserRegistered, UID: uid, SiteUID: "s" + id}
			for range 200 {
				if e, err := d.Decode(context.Background(), good); err != nil || e != want {
					errs[g] = "Decode(good) = " + strconv.Quote(e.EventID+" "+e.UID+" "+e.SiteUID) + ", want " + strconv.Quote(want.EventID+" "+want.UID+" "+want.SiteUID) + errString(err)
					return
				}
				if _, err := d.Decode(context.Background(), bad); err == nil {
					errs[g] = "Decode(missing gigyaUid) succeeded, want a schema error"
					return
				}
			}
		}()
	}
	wg.Wait()
	for g, e := range errs {
		if e != "" {
			t.Errorf("goroutine %d: %s", g, e)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return " (error " + err.Error() + ")"
}
