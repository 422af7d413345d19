package gigya

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkNotify measures one NotifyRegistration with a siteUID (so with
// a UIDSig) per auth mode, against an in-test server that answers at once
// without verifying. Allocations include the server's side of the exchange.
func BenchmarkNotify(b *testing.B) {
	answer := []byte(`{"callId":"c0ffee","errorCode":0,"apiVersion":2,"statusCode":200,"statusReason":"OK","time":"2026-11-26T10:00:00.000Z"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	defer srv.Close()

	for _, mode := range allModes {
		b.Run(string(mode), func(b *testing.B) {
			o := Options{APIKey: testAPIKey, UserKey: testUserKey, Auth: mode, PartnerSecret: testPartnerSecret, BaseURL: srv.URL}
			if mode == AuthBearer {
				o.PrivateKeyPEM = testKeyPEM(false)
			} else {
				o.Secret = testSecret
			}
			c, err := New(o)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := NotifyRequest{UID: "_gid_Zm9vYmFy", SiteUID: "customer-42", CID: "checkout", Context: "7f1c0d5e-event"}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.NotifyRegistration(b.Context(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
