package events_test

import (
	"errors"
	"testing"
	"time"

	"github.com/regnotify/regnotify/events"
)

func TestErrorSource(t *testing.T) {
	tests := []struct {
		err  events.Error
		want string
	}{
		{events.Error{Rule: "r"}, "invalid event: r"},
		{events.Error{Field: "uid", Rule: "r"}, `invalid event: field "uid": r`},
		{events.Error{Field: "uid", Source: "/data/gigyaUid", Rule: "r"}, `invalid event: field "uid" (/data/gigyaUid): r`},
		{events.Error{Source: "header ce_specversion", Rule: "r"}, "invalid event: header ce_specversion: r"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestParseTime: the exported parser applies Decode's occurredAt rule.
func TestParseTime(t *testing.T) {
	got, err := events.ParseTime("2026-11-26T12:00:00+02:00")
	if want := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC); err != nil || !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("ParseTime = %v, %v; want %v in UTC", got, err, want)
	}
	for _, bad := range []string{"2026-11-26 10:00:00Z", "2026-11-26T10:00:00,5Z", "2026-11-26T10:00:00+24:00", "2026-11-26t10:00:00z", ""} {
		_, err := events.ParseTime(bad)
		var ee *events.Error
		if !errors.As(err, &ee) || ee.Field != "occurredAt" {
			t.Errorf("ParseTime(%q) = %v, want an *events.Error for occurredAt", bad, err)
		}
	}
}
