package gigya

import (
	"strconv"
	"strings"
)

// Class is what a caller should do about a failed Gigya call.
type Class int

const (
	// ClassPermanent failures will fail again the same way: do not retry.
	ClassPermanent Class = iota
	// ClassTransient failures may succeed later: retry with backoff.
	ClassTransient
	// ClassClock failures (403002) mean the request's timestamp was too far
	// from Gigya's clock: correct the offset and retry at once. The client
	// does this itself, once.
	ClassClock
)

// String returns "permanent", "transient" or "clock".
func (c Class) String() string {
	switch c {
	case ClassPermanent:
		return "permanent"
	case ClassTransient:
		return "transient"
	case ClassClock:
		return "clock"
	default:
		return "Class(" + strconv.Itoa(int(c)) + ")"
	}
}

// ClassOf classifies a Gigya errorCode. It is the only place where the
// table of the Gigya notes (gigya/README.md) is encoded, so that the
// worker, metrics and tests cannot disagree about it. Codes not in the table
// are transient if they are 5xxxxx (Gigya's server-side family) and
// permanent otherwise, because retrying an unknown client-side error only
// delays the dead-letter record.
func ClassOf(code int) Class {
	if info, ok := codeTable[code]; ok && code != 0 {
		return info.class
	}
	if code/100000 == 5 {
		return ClassTransient
	}
	return ClassPermanent
}

// Error is a failed Gigya call: either Gigya's answer with a non-zero
// errorCode, or a transport failure (Code 0, no usable answer). Callers
// inspect it with errors.As and its methods, never by matching its text.
type Error struct {
	Method     string // the Gigya method, e.g. "socialize.notifyRegistration"
	Code       int    // Gigya errorCode; 0 for transport failures
	Message    string // Gigya errorMessage (or what went wrong before sending)
	Details    string // Gigya errorDetails
	CallID     string // Gigya callId, for SAP support tickets
	APIDomain  string // the site's data center, set on 301001
	HTTPStatus int    // HTTP status of the response; 0 if there was none
	Err        error  // transport cause (timeouts, resets, ...); nil for Gigya answers

	// local marks a request that was never sent because it could not be
	// built (e.g. a siteUID without a partner secret). It is unexported so
	// that an Error literal with Code 0, as fakes in other packages write
	// it, still means a transport failure.
	local bool
}

// Error describes the failure in one line. It never contains a secret or the
// request body.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteString(": ")
	}
	switch {
	case e.Code != 0:
		b.WriteString(strconv.Itoa(e.Code))
		if e.Message != "" {
			b.WriteByte(' ')
			b.WriteString(e.Message)
		}
		if e.Details != "" && e.Details != e.Message {
			b.WriteString(": ")
			b.WriteString(e.Details)
		}
		if e.APIDomain != "" {
			b.WriteString(" (apiDomain ")
			b.WriteString(e.APIDomain)
			b.WriteByte(')')
		}
		if e.CallID != "" {
			b.WriteString(" (callId ")
			b.WriteString(e.CallID)
			b.WriteByte(')')
		}
	case e.local:
		b.WriteString(e.Message)
	default:
		b.WriteString("transport: ")
		switch {
		case e.Err != nil:
			b.WriteString(e.Err.Error())
		case e.HTTPStatus != 0:
			b.WriteString("HTTP status ")
			b.WriteString(strconv.Itoa(e.HTTPStatus))
		default:
			b.WriteString("no valid answer")
		}
	}
	return b.String()
}

// Unwrap returns the transport cause, so that errors.Is(err,
// context.DeadlineExceeded) works, and errors.Is(err, context.Canceled) tells
// a shutdown from a network failure.
func (e *Error) Unwrap() error { return e.Err }

// Class says what to do about the failure: transport failures are
// transient, requests that could not be built are permanent, Gigya answers
// are classified by [ClassOf].
func (e *Error) Class() Class {
	switch {
	case e.local:
		return ClassPermanent
	case e.Code == 0:
		return ClassTransient
	default:
		return ClassOf(e.Code)
	}
}

// Temporary reports whether a later attempt may succeed. A 403002 that
// survived the client's own retry counts as temporary: the next attempt
// carries a timestamp from the corrected clock.
func (e *Error) Temporary() bool {
	c := e.Class()
	return c == ClassTransient || c == ClassClock
}

// Transport reports that there was no Gigya JSON answer: connection error,
// timeout, HTTP 5xx or a body that is not Gigya's JSON.
func (e *Error) Transport() bool { return e.Code == 0 && !e.local }

// Ambiguous reports that Gigya may have applied the call although it
// failed (the request may have arrived and the answer been lost, or Gigya
// said 504002). A later 403005/404003 for the same UID may then mean the
// link already exists; confirm with GetUserInfo.
func (e *Error) Ambiguous() bool { return e.Transport() || e.Code == 504002 }

// RateLimited reports Gigya's API rate limit (403048), on which the caller
// should back off harder than for other transient failures.
func (e *Error) RateLimited() bool { return e.Code == 403048 }

// PerUser reports a limit about one UID (409030, 503001) rather than about
// Gigya as a whole, so it must not count towards outage detection.
func (e *Error) PerUser() bool { return e.Code == 409030 || e.Code == 503001 }

// UnknownUser reports that Gigya does not know the UID (403005, 404003).
// After a siteUID link that UID is gone, so this may mean "already done".
func (e *Error) UnknownUser() bool { return e.Code == 403005 || e.Code == 404003 }

// localError is a request that was never sent.
func localError(method, msg string) *Error {
	return &Error{Method: method, Message: msg, local: true}
}
