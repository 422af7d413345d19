package formats_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hamba/avro/v2"
)

// fakeRegistry is an httptest server speaking Confluent Schema Registry's
// documented REST API (GET /schemas/ids/{id}: 200 {"schema", "schemaType"},
// 404 {"error_code": 40403}, 401 {"error_code": 40101}, 5xx on trouble).
// No real registry runs here. It counts the requests it answered.
type fakeRegistry struct {
	*httptest.Server
	user, pass string
	hits       atomic.Int64
	down       atomic.Bool // answer 503
	echo       atomic.Bool // when down, echo the Authorization header in the body

	mu      sync.Mutex
	schemas map[int]fakeSchema
}

type fakeSchema struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType,omitempty"` // absent for AVRO, as the registry does
}

func newFakeRegistry(t testing.TB, user, pass string) *fakeRegistry {
	f := &fakeRegistry{user: user, pass: pass, schemas: map[int]fakeSchema{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRegistry) add(id int, typ, schema string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.schemas[id] = fakeSchema{Schema: schema, SchemaType: typ}
}

func (f *fakeRegistry) serve(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	fail := func(status, code int, msg string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error_code":%d,"message":%q}`, code, msg)
	}
	if f.down.Load() {
		msg := "service unavailable"
		if f.echo.Load() {
			msg += ", you sent " + r.Header.Get("Authorization")
			if u, p, ok := r.BasicAuth(); ok {
				msg += " (" + u + ":" + p + ")"
			}
		}
		fail(http.StatusServiceUnavailable, 50301, msg)
		return
	}
	if u, p, ok := r.BasicAuth(); f.user != "" && (!ok || u != f.user || p != f.pass) {
		fail(http.StatusUnauthorized, 40101, "Unauthorized")
		return
	}
	idText, ok := strings.CutPrefix(r.URL.Path, "/schemas/ids/")
	id, err := strconv.Atoi(idText)
	if r.Method != http.MethodGet || !ok || err != nil {
		fail(http.StatusNotFound, 404, "HTTP 404 Not Found")
		return
	}
	f.mu.Lock()
	s, ok := f.schemas[id]
	f.mu.Unlock()
	if !ok {
		fail(http.StatusNotFound, 40403, "Schema "+idText+" not found")
		return
	}
	_ = json.NewEncoder(w).Encode(s)
}

// wire frames a payload in the Confluent wire format.
func wire(id int, payload []byte) []byte {
	b := make([]byte, 5, 5+len(payload))
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	return append(b, payload...)
}

const customerAvro = `{"type":"record","name":"Customer","namespace":"com.acme","fields":[
  {"name":"id","type":"string"},
  {"name":"createdAt","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"data","type":{"type":"record","name":"Data","fields":[
    {"name":"gigyaUid","type":"string"},
    {"name":"customerNo","type":["null","string"],"default":null},
    {"name":"visits","type":"long"}]}}]}`

// customerAvroMistyped has a long gigyaUid: a mistyped pointed field.
const customerAvroMistyped = `{"type":"record","name":"Customer","namespace":"com.acme","fields":[
  {"name":"id","type":"string"},
  {"name":"data","type":{"type":"record","name":"Data","fields":[{"name":"gigyaUid","type":"long"}]}}]}`

const customerJSONSchema = `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
  "required":["id","data"],
  "properties":{"id":{"type":"string"},"time":{"type":"string"},
    "data":{"type":"object","required":["gigyaUid"],"properties":{
      "gigyaUid":{"type":"string","pattern":"^_gid_"},"customerNo":{"type":"string"}}}}}`

func avroRecord(t testing.TB, schema string, v any) []byte {
	t.Helper()
	b, err := avro.Marshal(avro.MustParse(schema), v)
	if err != nil {
		t.Fatalf("avro.Marshal: %v", err)
	}
	return b
}
