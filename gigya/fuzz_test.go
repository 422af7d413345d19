package gigya

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// roundTripFunc is an http.RoundTripper that never touches the network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzParseResponse feeds arbitrary HTTP answers (status, Content-Type,
// Date, body) to the client's response handling through Options.Transport:
// it must not panic; a failure is a *Error whose text never holds a secret
// in any form the client scrubs, even when the body echoes them; a success
// only comes from a JSON body whose errorCode is 0.
func FuzzParseResponse(f *testing.F) {
	date := "Thu, 26 Nov 2026 10:00:00 GMT"
	for _, s := range []struct {
		status      int
		contentType string
		date        string
		body        string
	}{
		{200, "application/json", date, `{"callId":"c1","errorCode":0,"statusCode":200,"statusReason":"OK","time":"2026-11-26T10:00:00.000Z"}`},
		{200, "application/json", date, `{"callId":"c2","errorCode":0,"UID":"site-1","isSiteUID":true,"isRegistered":true}`},
		{200, "application/json", date, `{"callId":"c3","errorCode":403002,"errorMessage":"Request has expired","errorDetails":"timestamp too far"}`},
		{200, "application/json", "", `{"callId":"c4","errorCode":403003,"errorMessage":"Invalid request signature","errorDetails":"secret=` + testSecret + ` UIDSig for ` + testPartnerSecret + `"}`},
		{200, "application/json", date, `{"errorCode":403048,"errorMessage":"API rate limit exceeded","callId":"` + testSecret + `"}`},
		{200, "application/json", date, `{"errorCode":301001,"apiDomain":"eu1.gigya.com","errorDetails":"Y2FuYXJ5LWFwcC1zZWNyZXQt%2B%2B%2B%2B%2Bg%3D%3D"}`},
		{500, "text/html", date, `<html>Internal Server Error</html>`},
		{502, "", "", ``},
		{200, "text/html", date, `<html>captive portal</html>`},
		{200, "application/json", "not a date", `{"errorCode":"500001"}`},
		{200, "application/json", date, `{"errorCode":1e400}`},
		{200, "application/json", date, `{"errorCode":-1}`},
		{200, "application/json", date, `[{"errorCode":0}]`},
		{200, "application/json", date, `{"errorCode":0,"errorCode":500001}`},
		{403, "application/json", date, `{"errorCode":403005,"errorMessage":"Unauthorized user","errorDetails":"\u0059\u0032Fu"}`},
	} {
		f.Add(s.status, s.contentType, s.date, []byte(s.body), false)
		f.Add(s.status, s.contentType, s.date, []byte(s.body), true)
	}
	f.Fuzz(func(t *testing.T, status int, contentType, date string, body []byte, getUserInfo bool) {
		if status < 100 || status > 999 {
			status = 200
		}
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Body != nil {
				_, _ = io.Copy(io.Discard, r.Body)
				_ = r.Body.Close()
			}
			h := http.Header{}
			if contentType != "" {
				h.Set("Content-Type", contentType)
			}
			if date != "" {
				h.Set("Date", date)
			}
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)),
				ContentLength: int64(len(body)), Request: r}, nil
		})
		c, err := New(Options{
			APIKey: testAPIKey, BaseURL: "https://fuzz.example.com", Auth: AuthSigned, UserKey: testUserKey,
			Secret: testSecret, PartnerSecret: testPartnerSecret, RequestTimeout: time.Second, Transport: rt,
		})
		if err != nil {
			t.Fatal(err)
		}
		if getUserInfo {
			_, err = c.GetUserInfo(context.Background(), "site-1")
		} else {
			_, err = c.NotifyRegistration(context.Background(), NotifyRequest{UID: "_gid_1", SiteUID: "site-1", Context: "ev-1"})
		}
		if err == nil {
			var a struct {
				ErrorCode *int `json:"errorCode"`
			}
			if status >= 500 || json.Unmarshal(body, &a) != nil || a.ErrorCode == nil || *a.ErrorCode != 0 {
				t.Fatalf("HTTP %d body %q accepted as a success", status, body)
			}
			return
		}
		var ge *Error
		if !errors.As(err, &ge) {
			t.Fatalf("error %T %v is not a *gigya.Error", err, err)
		}
		_ = ge.Temporary() // classification must not panic
		msg := err.Error()
		for _, s := range []string{testSecret, testPartnerSecret} {
			for _, form := range []string{s, strings.ReplaceAll(strings.ReplaceAll(s, "+", "%2B"), "/", "%2F"), PercentEncode(s)} {
				if strings.Contains(msg, form) {
					t.Fatalf("error text %q contains a secret (form %q)", msg, form)
				}
			}
		}
	})
}
