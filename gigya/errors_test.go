package gigya

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestClassOf covers every code of the table in gigya/README.md, plus the
// rule for codes not in it.
func TestClassOf(t *testing.T) {
	tests := []struct {
		code int
		want Class
	}{
		// transient, retry with backoff
		{500001, ClassTransient}, {500002, ClassTransient}, {500026, ClassTransient},
		{500028, ClassTransient}, {500034, ClassTransient}, {504001, ClassTransient},
		{504002, ClassTransient}, {409030, ClassTransient}, {503001, ClassTransient},
		{403048, ClassTransient}, {403004, ClassTransient},
		// fix clock, retry at once
		{403002, ClassClock},
		// permanent
		{400001, ClassPermanent}, {400002, ClassPermanent}, {400003, ClassPermanent},
		{400004, ClassPermanent}, {400006, ClassPermanent}, {400009, ClassPermanent},
		{400093, ClassPermanent}, {403000, ClassPermanent}, {403003, ClassPermanent},
		{403005, ClassPermanent}, {403006, ClassPermanent}, {403007, ClassPermanent},
		{403010, ClassPermanent}, {403025, ClassPermanent}, {403043, ClassPermanent},
		{404000, ClassPermanent}, {404003, ClassPermanent}, {409001, ClassPermanent},
		{301001, ClassPermanent},
		// not in the table
		{500099, ClassTransient}, {599999, ClassTransient},
		{400999, ClassPermanent}, {403999, ClassPermanent}, {200009, ClassPermanent},
	}
	for _, tt := range tests {
		if got := ClassOf(tt.code); got != tt.want {
			t.Errorf("ClassOf(%d) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestClassString(t *testing.T) {
	tests := []struct {
		c    Class
		want string
	}{{ClassPermanent, "permanent"}, {ClassTransient, "transient"}, {ClassClock, "clock"}, {Class(9), "Class(9)"}}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Class(%d).String() = %q, want %q", int(tt.c), got, tt.want)
		}
	}
}

func TestErrorPredicates(t *testing.T) {
	type flags struct {
		class                                                              Class
		temporary, transport, ambiguous, rateLimited, perUser, unknownUser bool
	}
	tests := []struct {
		name string
		err  *Error
		want flags
	}{
		{"connection reset", &Error{Err: io.ErrUnexpectedEOF}, flags{ClassTransient, true, true, true, false, false, false}},
		{"HTTP 503", &Error{HTTPStatus: 503}, flags{ClassTransient, true, true, true, false, false, false}},
		{"timeout 504002", &Error{Code: 504002}, flags{ClassTransient, true, false, true, false, false, false}},
		{"timeout 504001", &Error{Code: 504001}, flags{ClassTransient, true, false, false, false, false, false}},
		{"server error", &Error{Code: 500001}, flags{ClassTransient, true, false, false, false, false, false}},
		{"rate limit", &Error{Code: 403048}, flags{ClassTransient, true, false, false, true, false, false}},
		{"concurrent per UID", &Error{Code: 409030}, flags{ClassTransient, true, false, false, false, true, false}},
		{"calls per UID", &Error{Code: 503001}, flags{ClassTransient, true, false, false, false, true, false}},
		{"expired after retry", &Error{Code: 403002}, flags{ClassClock, true, false, false, false, false, false}},
		{"unauthorized user", &Error{Code: 403005}, flags{ClassPermanent, false, false, false, false, false, true}},
		{"not found", &Error{Code: 404003}, flags{ClassPermanent, false, false, false, false, false, true}},
		{"invalid parameter", &Error{Code: 400006}, flags{ClassPermanent, false, false, false, false, false, false}},
		{"not sent", localError(methodNotifyRegistration, "x"), flags{ClassPermanent, false, false, false, false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.err
			got := flags{e.Class(), e.Temporary(), e.Transport(), e.Ambiguous(), e.RateLimited(), e.PerUser(), e.UnknownUser()}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	cause := fmt.Errorf("post: %w", context.DeadlineExceeded)
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Method: methodNotifyRegistration, Code: 403005, Message: "Unauthorized user", Details: "no such UID", CallID: "abc"},
			"socialize.notifyRegistration: 403005 Unauthorized user: no such UID (callId abc)"},
		{&Error{Method: methodNotifyRegistration, Code: 400006, Message: "Invalid parameter value", Details: "Invalid parameter value"},
			"socialize.notifyRegistration: 400006 Invalid parameter value"},
		{&Error{Method: methodGetUserInfo, Code: 301001, Message: "Invalid data center", APIDomain: "eu1.gigya.com"},
			"socialize.getUserInfo: 301001 Invalid data center (apiDomain eu1.gigya.com)"},
		{&Error{Method: methodNotifyRegistration, Err: cause},
			"socialize.notifyRegistration: transport: post: context deadline exceeded"},
		{&Error{Method: methodNotifyRegistration, HTTPStatus: 503},
			"socialize.notifyRegistration: transport: HTTP status 503"},
		{&Error{Code: 500001}, "500001"},
		{localError(methodNotifyRegistration, "UID is required"), "socialize.notifyRegistration: UID is required"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	var err error = &Error{Method: methodNotifyRegistration, Err: cause}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false, want true", err)
	}
}
