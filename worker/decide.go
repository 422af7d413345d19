package worker

import (
	"errors"

	"github.com/regnotify/regnotify/gigya"
	"github.com/regnotify/regnotify/worker/deadletter"
)

// Kind is what a failed Gigya call means for the event: the one failure
// vocabulary of the worker. Decide maps an error to a Kind and its
// Decision; the handling of each kind is in Worker.notify.
type Kind int

const (
	// KindBug is an error that is not a Gigya answer nor a classified
	// transport failure: a bug or misconfiguration; retrying cannot help.
	KindBug Kind = iota
	// KindRejected is a permanent answer about this event: dead-letter it.
	KindRejected
	// KindUnknownUser is 403005/404003: Gigya does not know the UID. After
	// a siteUID link that may mean "already done" (confirmed with
	// GetUserInfo); otherwise it is rejected.
	KindUnknownUser
	// KindSiteWide is an answer about the site's setup, not the event
	// (400093, 403003, 403006, 403007, 403010). Today: rejected like
	// KindRejected. Next: pause the site, do not dead-letter.
	KindSiteWide
	// KindWrongDataCenter is 301001: the site lives in another data
	// center (Error.APIDomain). Today: rejected like KindRejected. Next:
	// follow apiDomain.
	KindWrongDataCenter
	// KindTransient is a temporary failure of Gigya as a whole (transport
	// failures, 5xxxxx): retry, and count it towards an outage.
	KindTransient
	// KindPerUser is a temporary limit about one UID (409030, 503001):
	// retry; it says nothing about Gigya's health.
	KindPerUser
	// KindRateLimited is Gigya's API rate limit (403048): the site's
	// budgets slow down and the event waits for quota (Worker.notify),
	// never dead-lettered for it, no retry budget spent.
	KindRateLimited
)

var kindNames = [...]string{"bug", "rejected", "unknown_user", "site_wide", "wrong_data_center", "transient", "per_user", "rate_limited"}

// String returns the kind's name, e.g. "rate_limited".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(?)"
}

// Health is what a failure says about Gigya as a whole (the outage
// detector's input).
type Health int

const (
	// HealthUnknown says nothing: the error did not come from Gigya.
	HealthUnknown Health = iota
	// HealthUp means Gigya answered: it is up.
	HealthUp
	// HealthDown counts towards an outage.
	HealthDown
)

// Decision is what happens after a failed call.
type Decision struct {
	Kind   Kind
	Retry  bool   // try again after a backoff
	Harder bool   // double the next backoff delay
	Health Health // what it says about Gigya as a whole
	// Outcome is the event's outcome if it ends here (Retry false), or
	// when its retry budget runs out (OutcomeDLQExhausted).
	Outcome string
}

// Decide is the worker's retry decision: from the error of a Gigya call, what
// happens next. It is pure; gigya.ClassOf is the code table underneath.
func Decide(err error) Decision {
	var ge *gigya.Error
	if !errors.As(err, &ge) {
		return Decision{Kind: KindBug, Outcome: OutcomeDLQRejected}
	}
	k := kindOf(ge)
	d := Decision{Kind: k, Health: HealthUp, Outcome: OutcomeDLQRejected}
	switch k {
	case KindTransient:
		d.Retry, d.Health, d.Outcome = true, HealthDown, OutcomeDLQExhausted
	case KindPerUser:
		d.Retry, d.Outcome = true, OutcomeDLQExhausted
	case KindRateLimited:
		d.Retry, d.Harder, d.Outcome = true, true, OutcomeDLQExhausted
	}
	return d
}

func kindOf(ge *gigya.Error) Kind {
	switch {
	case ge.Transport():
		return KindTransient
	case ge.RateLimited():
		return KindRateLimited
	case ge.PerUser():
		return KindPerUser
	case ge.Temporary():
		return KindTransient
	case ge.UnknownUser():
		return KindUnknownUser
	}
	switch ge.Code {
	case 400093, 403003, 403006, 403007, 403010:
		return KindSiteWide
	case 301001:
		return KindWrongDataCenter
	}
	return KindRejected
}

// dlqClass is the dead-letter class of an outcome: the class follows from
// the outcome, never chosen apart from it.
func dlqClass(outcome string) string {
	switch outcome {
	case OutcomeDLQInvalid:
		return deadletter.ClassInvalidEvent
	case OutcomeDLQExhausted:
		return deadletter.ClassRetriesExhausted
	default:
		return deadletter.ClassRejected
	}
}
