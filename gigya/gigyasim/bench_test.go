package gigyasim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkSimulatorNotify measures the simulator's hot path over real HTTP:
// parallel notifyRegistration calls with secret auth, each for its own UID.
func BenchmarkSimulatorNotify(b *testing.B) {
	sim, err := New(Config{APIKey: testAPIKey, UserKey: testUserKey, Secret: testSecret})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 256
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			f := baseForm("uid-" + strconv.FormatInt(n.Add(1), 10))
			f.Set("userKey", testUserKey)
			f.Set("secret", testSecret)
			resp, err := client.Post(srv.URL+"/"+MethodNotifyRegistration, "application/x-www-form-urlencoded", strings.NewReader(f.Encode()))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	if got := sim.Stats().Calls[MethodNotifyRegistration]["0"]; got != int(n.Load()) {
		b.Errorf("%d calls succeeded, want %d", got, n.Load())
	}
}
