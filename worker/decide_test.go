package worker_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/worker"
)

// TestDecide covers every Gigya code of gigya.ClassOf's table, the rule for
// codes not in it, transport failures and errors that are not Gigya's: what
// the worker does next for each.
func TestDecide(t *testing.T) {
	const (
		rej = worker.OutcomeDLQRejected
		exh = worker.OutcomeDLQExhausted
		up  = worker.HealthUp
		dn  = worker.HealthDown
	)
	type want struct {
		kind    worker.Kind
		retry   bool
		harder  bool
		health  worker.Health
		outcome string
	}
	transient := want{worker.KindTransient, true, false, dn, exh}
	perUser := want{worker.KindPerUser, true, false, up, exh}
	rejected := want{worker.KindRejected, false, false, up, rej}
	siteWide := want{worker.KindSiteWide, false, false, up, rej}
	unknown := want{worker.KindUnknownUser, false, false, up, rej}
	tests := []struct {
		name string
		err  error
		want want
	}{
		{"transport", &gigya.Error{Method: "m", Err: errors.New("connection refused")}, transient},
		{"transport wrapped", fmt.Errorf("call: %w", &gigya.Error{HTTPStatus: 503}), transient},
		{"not a Gigya error", errors.New("bug"), want{worker.KindBug, false, false, worker.HealthUnknown, rej}},
		{"403048 rate limit", &gigya.Error{Code: 403048}, want{worker.KindRateLimited, true, true, up, exh}},
		{"301001 wrong data center", &gigya.Error{Code: 301001, APIDomain: "eu1.gigya.com"}, want{worker.KindWrongDataCenter, false, false, up, rej}},
	}
	for _, c := range []int{500001, 500002, 500026, 500028, 500034, 504001, 504002, 403004, 403002, 500099, 599999} {
		tests = append(tests, struct {
			name string
			err  error
			want want
		}{fmt.Sprint(c), &gigya.Error{Code: c}, transient})
	}
	add := func(w want, codes ...int) {
		for _, c := range codes {
			tests = append(tests, struct {
				name string
				err  error
				want want
			}{fmt.Sprint(c), &gigya.Error{Code: c}, w})
		}
	}
	add(perUser, 409030, 503001)
	add(unknown, 403005, 404003)
	add(siteWide, 400093, 403003, 403006, 403007, 403010)
	add(rejected, 400001, 400002, 400003, 400004, 400006, 400009, 403000, 403025, 403043, 404000, 409001, 400999, 403999, 200009)
	for _, tt := range tests {
		d := worker.Decide(tt.err)
		got := want{d.Kind, d.Retry, d.Harder, d.Health, d.Outcome}
		if got != tt.want {
			t.Errorf("Decide(%s) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[worker.Kind]string{worker.KindBug: "bug", worker.KindSiteWide: "site_wide", worker.KindRateLimited: "rate_limited", worker.Kind(99): "Kind(?)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
