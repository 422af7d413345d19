package gigyasim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Outage modes for Faults.Outage.
const (
	OutageNone  = ""      // no outage ("none" is accepted as a synonym)
	OutageError = "error" // every API call answers 500001
	OutageDrop  = "drop"  // every API call's connection is closed without an answer
)

// Faults are the failures the simulator injects into API calls (never into
// the /_sim admin endpoints). The zero value injects nothing.
//
// Transient faults (Outage, RateLimit, ErrorRate) are decided before any
// verification or state change, so a call that failed with one of them
// changed nothing: no account, nonce or jti was recorded.
//
// In JSON, durations are Go duration strings ("50ms", "1m30s"); a JSON number
// is refused rather than guessed at. Decoding into a Faults overwrites only
// the fields present, which is what makes partial updates through
// PUT /_sim/faults work.
type Faults struct {
	// Latency delays every API call by a fixed amount (after the per-UID
	// concurrency check, so slow calls hold their UID's slot). Default 0.
	Latency time.Duration `json:"latency"`
	// Jitter adds a uniform random delay in [-Jitter, +Jitter] to Latency
	// (the total is never below zero). Default 0.
	Jitter time.Duration `json:"jitter"`
	// RateLimit caps API calls per second across all callers; calls above it
	// get 403048. The burst is max(1, RateLimit/10). 0 (default) = no limit.
	RateLimit float64 `json:"rateLimit"`
	// ErrorRate is the probability (0..1) that a call gets 500001. Default 0.
	ErrorRate float64 `json:"errorRate"`
	// Outage is OutageNone (default), OutageError or OutageDrop.
	Outage string `json:"outage"`
	// ClockSkew is added to the simulator's clock: the Date header, the
	// "time" field and every timestamp window check. Default 0.
	ClockSkew time.Duration `json:"clockSkew"`
}

// Validate reports the first field out of range.
func (f Faults) Validate() error {
	switch {
	case f.Latency < 0:
		return errors.New("latency must not be negative")
	case f.Jitter < 0:
		return errors.New("jitter must not be negative")
	case f.RateLimit < 0 || math.IsNaN(f.RateLimit) || math.IsInf(f.RateLimit, 0):
		return errors.New("rateLimit must be a finite number >= 0")
	case !(f.ErrorRate >= 0 && f.ErrorRate <= 1):
		return errors.New("errorRate must be between 0 and 1")
	}
	switch f.Outage {
	case OutageNone, "none", OutageError, OutageDrop:
		return nil
	}
	return fmt.Errorf("outage %q: want none, error or drop", f.Outage)
}

// faultsJSON is the wire form of Faults: durations as strings.
type faultsJSON struct {
	Latency   string  `json:"latency"`
	Jitter    string  `json:"jitter"`
	RateLimit float64 `json:"rateLimit"`
	ErrorRate float64 `json:"errorRate"`
	Outage    string  `json:"outage"`
	ClockSkew string  `json:"clockSkew"`
}

// MarshalJSON writes durations as Go duration strings and Outage "" as "none".
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{
		Latency:   f.Latency.String(),
		Jitter:    f.Jitter.String(),
		RateLimit: f.RateLimit,
		ErrorRate: f.ErrorRate,
		Outage:    outageName(f.Outage),
		ClockSkew: f.ClockSkew.String(),
	})
}

// UnmarshalJSON overwrites only the fields present in b and refuses unknown
// fields, so a typo in an admin request is an error, not a silent no-op.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	out := *f
	for name, raw := range fields {
		var err error
		switch name {
		case "latency":
			out.Latency, err = decodeDuration(raw)
		case "jitter":
			out.Jitter, err = decodeDuration(raw)
		case "clockSkew":
			out.ClockSkew, err = decodeDuration(raw)
		case "rateLimit":
			err = json.Unmarshal(raw, &out.RateLimit)
		case "errorRate":
			err = json.Unmarshal(raw, &out.ErrorRate)
		case "outage":
			err = json.Unmarshal(raw, &out.Outage)
		default:
			return fmt.Errorf("unknown field %q", name)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	*f = out
	return nil
}

func decodeDuration(raw json.RawMessage) (time.Duration, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, errors.New(`want a Go duration string such as "50ms"`)
	}
	return time.ParseDuration(s)
}

// outageName spells OutageNone "none".
func outageName(o string) string {
	if o == OutageNone {
		return "none"
	}
	return o
}

// faultState is one immutable snapshot of the faults with the limiter built
// for them; the hot path reads it through an atomic pointer.
type faultState struct {
	f       Faults
	limiter *rate.Limiter // nil: no rate limit
}

func newFaultState(f Faults) *faultState {
	if f.Outage == "none" {
		f.Outage = OutageNone
	}
	st := &faultState{f: f}
	if f.RateLimit > 0 {
		burst := int(f.RateLimit / 10)
		if burst < 1 {
			burst = 1
		}
		st.limiter = rate.NewLimiter(rate.Limit(f.RateLimit), burst)
	}
	return st
}
