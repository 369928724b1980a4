package localytics

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidRequest marks a call refused before anything was sent because its
// arguments cannot be right (no scope, two scopes, an unknown format, an empty
// id, a file over the size cap). Retrying it cannot help.
var ErrInvalidRequest = errors.New("invalid request")

// ErrFileTooLarge marks an upload refused before sending because its declared
// size is over the client's cap; it wraps ErrInvalidRequest.
var ErrFileTooLarge = fmt.Errorf("%w: file too large", ErrInvalidRequest)

// maxBodyExcerpt caps APIError.Body: enough for a vendor message such as
// "audience list limit reached", short enough for a condition message.
const maxBodyExcerpt = 200

// APIError is a response with a non-2xx status code. Error bodies are
// undocumented and often empty text/plain, so only a short, sanitised excerpt
// is kept and nothing depends on its shape.
type APIError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// Endpoint is the method and path template, e.g.
	// "GET /v1/imports/profiles/status/{activity_id}": stable, without ids,
	// so that messages built from it do not change between reconciles.
	Endpoint string
	// Body is at most 200 bytes of the response body, valid UTF-8, control
	// characters and runs of white space folded to one space, credentials
	// redacted.
	Body string
	// RetryAfter is the server's Retry-After, zero when it sent none.
	RetryAfter time.Duration
	// RetryAt is, on a 429, when the client expects the budget to allow the
	// next call: from Retry-After when sent, otherwise from the client's own
	// record of the budget's window.
	RetryAt time.Time
}

// Error is stable for a given status and body: no timestamps, no ids.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "localytics: %s: %d %s", e.Endpoint, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		fmt.Fprintf(&b, ": %s", e.Body)
	}
	return b.String()
}

// BudgetExceededError is a call the client refused to send because the API
// key's budget for it is spent (by this process, or as a 429 told it).
// Nothing reached the server and, for an upload, nothing was read from the
// file.
type BudgetExceededError struct {
	// Kind is the budget that is spent.
	Kind BudgetKind
	// Endpoint is the method and path template of the refused call.
	Endpoint string
	// RetryAt is the earliest time a call of this kind may be made.
	RetryAt time.Time
}

// Error leaves RetryAt out so that a condition message built from it stays
// the same while the caller waits.
func (e *BudgetExceededError) Error() string {
	return fmt.Sprintf("localytics: %s: the %s budget of this API key is spent; the call was not sent", e.Endpoint, e.Kind)
}

// NetworkError is a call that got no HTTP response: connection refused or
// reset, timeouts, a cancelled context. Err is usually a *url.Error, whose URL
// never carries credentials because the client never puts them there.
type NetworkError struct {
	// Endpoint is the method and path template of the call.
	Endpoint string
	// Err is the transport's error.
	Err error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("localytics: %s: %v", e.Endpoint, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// FileReadError is an upload that failed because its file did: a read error,
// a length other than declared, more bytes than the cap, or an
// importfile.LineError in Strict mode. Err is the file's error; the request
// was abandoned before its body was complete, so nothing was accepted.
type FileReadError struct {
	// Endpoint is the method and path template of the call.
	Endpoint string
	// Err is the file's error.
	Err error
}

func (e *FileReadError) Error() string {
	return fmt.Sprintf("localytics: %s: reading the file to upload: %v", e.Endpoint, e.Err)
}

func (e *FileReadError) Unwrap() error { return e.Err }

// DecodeError is a 2xx response whose body could not be understood, even with
// the tolerance docs/localytics-api.md asks for.
type DecodeError struct {
	// Endpoint is the method and path template of the call.
	Endpoint string
	// StatusCode is the (successful) HTTP status code.
	StatusCode int
	// Body is a sanitised excerpt of the body, as in APIError.
	Body string
	// Err says what was wrong.
	Err error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("localytics: %s: decoding the %d response: %v", e.Endpoint, e.StatusCode, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// UnknownOutcomeError is an upload that reached the server and may have been
// carried out, but whose result the client does not know: the connection was
// lost after the request was sent, a gateway answered 502 or 504, or the
// server answered 2xx without a readable activity id (or with one the
// operator cannot store; see InvalidActivityIDError). Repeating the upload
// could apply the file twice (increment changes double); the caller's
// at-most-once ledger has to decide. IsTransient is false for it on purpose.
type UnknownOutcomeError struct {
	// Endpoint is the method and path template of the call.
	Endpoint string
	// Err is the underlying NetworkError, APIError or DecodeError.
	Err error
}

func (e *UnknownOutcomeError) Error() string {
	return fmt.Sprintf("localytics: %s: the upload may have been accepted, outcome unknown: %v", e.Endpoint, unwrapEndpoint(e.Err))
}

func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// unwrapEndpoint avoids repeating "localytics: METHOD PATH:" when one of our
// errors is wrapped by another.
func unwrapEndpoint(err error) string {
	switch e := err.(type) { //nolint:errorlint // only our own errors, unwrapped one level, get the short form
	case *NetworkError:
		return e.Err.Error()
	case *DecodeError:
		return fmt.Sprintf("decoding the %d response: %v", e.StatusCode, e.Err)
	case *APIError:
		s := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
		if e.Body != "" {
			s += ": " + e.Body
		}
		return s
	default:
		return err.Error()
	}
}

// apiStatus returns the status code of the APIError in err's chain, or 0.
func apiStatus(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// IsUnauthorized reports whether the server rejected the credentials (401).
// Only a new Secret fixes it.
func IsUnauthorized(err error) bool { return apiStatus(err) == http.StatusUnauthorized }

// IsForbidden reports whether the credentials lack access to the org or app
// (403).
func IsForbidden(err error) bool { return apiStatus(err) == http.StatusForbidden }

// IsNotFound reports whether the activity, audience list or app is unknown
// (404). A DeleteAudienceList that gets it can treat the list as gone.
func IsNotFound(err error) bool { return apiStatus(err) == http.StatusNotFound }

// IsFileTooLarge reports whether an upload was refused for its size, by the
// server (413) or by the client before sending.
func IsFileTooLarge(err error) bool {
	return apiStatus(err) == http.StatusRequestEntityTooLarge || errors.Is(err, ErrFileTooLarge)
}

// IsRateLimited reports whether err is a 429 from the server or a call the
// client refused because the budget is spent, and when the next call of that
// kind may be made. The time is absolute so that a caller can compute its
// requeue delay when it needs it.
func IsRateLimited(err error) (retryAt time.Time, ok bool) {
	var budgetErr *BudgetExceededError
	if errors.As(err, &budgetErr) {
		return budgetErr.RetryAt, true
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests {
		return apiErr.RetryAt, true
	}
	return time.Time{}, false
}

// IsUnknownOutcome reports whether an upload may have been carried out
// although the client could not tell (see UnknownOutcomeError).
func IsUnknownOutcome(err error) bool {
	var unknown *UnknownOutcomeError
	return errors.As(err, &unknown)
}

// IsTransient reports whether the same call may succeed later without anyone
// changing anything: 5xx, network errors and undecodable responses. It is
// false for an upload of unknown outcome, which must not be repeated blindly.
func IsTransient(err error) bool {
	if err == nil || IsUnknownOutcome(err) {
		return false
	}
	if status := apiStatus(err); status != 0 {
		return status >= 500
	}
	var netErr *NetworkError
	var decodeErr *DecodeError
	return errors.As(err, &netErr) || errors.As(err, &decodeErr)
}

// excerpt turns a response body into something safe to keep in an error and
// show in a condition: valid UTF-8, no control characters, white space folded,
// credentials removed, at most maxBodyExcerpt bytes.
func excerpt(body []byte, redact func(string) string) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if redact != nil {
		s = redact(s)
	}
	if len(s) <= maxBodyExcerpt {
		return s
	}
	const ellipsis = "..."
	cut := maxBodyExcerpt - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
