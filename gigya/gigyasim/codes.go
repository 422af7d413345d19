package gigyasim

import (
	"fmt"
	"time"
)

// Gigya errorCodes the simulator answers. Which ones Gigya documents for which
// situation, and which are our guesses, is in README.md.
const (
	codeOK                 = 0
	codeWrongDataCenter    = 301001
	codeInvalidRequest     = 400001
	codeMissingParameter   = 400002
	codeInvalidParameter   = 400006
	codeInvalidAPIKey      = 400093
	codeUnauthorized       = 403000
	codeRequestExpired     = 403002
	codeInvalidSignature   = 403003
	codeDuplicateNonce     = 403004
	codeUnauthorizedUser   = 403005
	codeSecretOverHTTP     = 403006
	codePermissionDenied   = 403007
	codeInvalidSecret      = 403010
	codeRateLimited        = 403048
	codeNotFound           = 404000
	codeIdentityExists     = 409001
	codeTooManyConcurrent  = 409030
	codeGeneralServerError = 500001
	codeTimeout            = 504002
)

// Limits and windows. Gigya's numbers where it documents them (README.md).
const (
	// RequestWindow is how far a signed request's timestamp or a bearer
	// token's iat may be from the simulator's clock.
	RequestWindow = 2 * time.Minute
	// UIDSigWindow is how far UIDTimestamp may be from the simulator's clock.
	UIDSigWindow = 5 * time.Minute
	// MaxConcurrentPerUID is how many calls for one UID may be in flight;
	// one more gets 409030.
	MaxConcurrentPerUID = 5

	maxSiteUIDLength    = 252
	maxCIDLength        = 100
	maxRequestBodyBytes = 1 << 20
	responseTimeFormat  = "2006-01-02T15:04:05.000Z"
	responseAPIVersion  = 2
	statsMethodUnknown  = "unknown"
)

// Pseudo-codes in Call.Code and as Stats.Calls keys ("pending", "dropped",
// "canceled") for calls that got no errorCode.
const (
	CodePending  = -1 // the call has not been answered yet
	CodeDropped  = -2 // the "drop" outage closed the connection without an answer
	CodeCanceled = -3 // the client went away before the answer (during Latency)
)

// CodeHTTP is the pseudo-code of a call answered with a bare HTTP status
// (SiteFaults.HTTPStatus, e.g. 503): -status; as a Stats key "http_503".
func CodeHTTP(status int) int { return -status }

// errorMessage is the errorMessage Gigya sends with code (approximate texts).
func errorMessage(code int) string {
	switch code {
	case codeWrongDataCenter:
		return "Invalid data center"
	case codeInvalidRequest:
		return "Invalid request format"
	case codeMissingParameter:
		return "Missing required parameter"
	case codeInvalidParameter:
		return "Invalid parameter value"
	case codeInvalidAPIKey:
		return "Invalid ApiKey parameter"
	case codeUnauthorized:
		return "Unauthorized"
	case codeRequestExpired:
		return "Request has expired"
	case codeInvalidSignature:
		return "Invalid request signature"
	case codeDuplicateNonce:
		return "Duplicate nonce"
	case codeUnauthorizedUser:
		return "Unauthorized user"
	case codeSecretOverHTTP:
		return "Secret sent over a non-secure connection"
	case codePermissionDenied:
		return "Permission denied"
	case codeInvalidSecret:
		return "Invalid secret"
	case codeRateLimited:
		return "Api rate limit exceeded" // sic: Gigya's spelling
	case codeNotFound:
		return "Not found"
	case codeIdentityExists:
		return "Identity already exists"
	case codeTooManyConcurrent:
		return "Too many concurrent requests for the same UID"
	case codeGeneralServerError:
		return "General Server error"
	case codeTimeout:
		return "Timeout"
	}
	return ""
}

// apiError is a Gigya error answer: errorCode and errorDetails.
type apiError struct {
	code      int
	details   string
	apiDomain string // 301001 only
}

func errorf(code int, format string, args ...any) *apiError {
	return &apiError{code: code, details: fmt.Sprintf(format, args...)}
}
