package controllers

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/localytics-operator/localytics-operator/internal/jitter"
	"github.com/localytics-operator/localytics-operator/internal/ledger"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// Every failure of a phase is one of three kinds, decided here and nowhere
// else, because the kind decides both the conditions and the requeue:
//
//   - stalled: only a person can fix it (a missing Secret, refused
//     credentials, an invalid spec). Stalled=True, no requeue: a change of
//     the object or of its Secret brings the object back.
//   - waiting: the operator knows when to try again (a spent budget, a job
//     still running). Reconciling=True, requeued at that time.
//   - transient: it may work a little later (5xx, network errors, API server
//     hiccups). Reconciling=True, requeued with jittered exponential backoff.
type failureKind int

const (
	failureTransient failureKind = iota
	failureWaiting
	failureStalled
)

func (k failureKind) String() string {
	switch k {
	case failureStalled:
		return "stalled"
	case failureWaiting:
		return "waiting"
	default:
		return "transient"
	}
}

// phaseError is a classified failure of a phase: the kind, and the stable
// reason and message its conditions show.
type phaseError struct {
	kind failureKind
	// reason is a condition reason: CamelCase, stable.
	reason string
	// message is a condition message: no ids, no timestamps, so that writing
	// it again changes nothing.
	message string
	// retryAt is when a waiting failure should be tried again.
	retryAt time.Time
	// recheck, for a stalled failure that is fixed where no watch sees it
	// (an object store), is how often to look again; zero for never.
	recheck time.Duration
	// err is the cause, for logs; may be nil.
	err error
}

func (e *phaseError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: %v", e.message, e.err)
	}
	return e.message
}

func (e *phaseError) Unwrap() error { return e.err }

func stalled(reason string, err error, format string, args ...any) *phaseError {
	return &phaseError{kind: failureStalled, reason: reason, message: fmt.Sprintf(format, args...), err: err}
}

func waiting(reason string, until time.Time, err error, format string, args ...any) *phaseError {
	return &phaseError{kind: failureWaiting, reason: reason, message: fmt.Sprintf(format, args...), retryAt: until, err: err}
}

func transient(reason string, err error, format string, args ...any) *phaseError {
	return &phaseError{kind: failureTransient, reason: reason, message: fmt.Sprintf(format, args...), err: err}
}

// Reasons shared by the controllers.
const (
	// ReasonAPIRefused: the Localytics API refused a call with a 3xx or
	// 4xx that asking again would meet again (stalled).
	ReasonAPIRefused     = "APIRefused"
	ReasonRateLimited    = "RateLimited"
	ReasonAPIUnavailable = "APIUnavailable"
	ReasonQuotaExhausted = "QuotaExhausted"
	ReasonKubernetesAPI  = "KubernetesAPIError"
)

// classify turns any error of a phase into a phaseError. A phase that knows
// better returns a phaseError itself; everything else is judged by its type.
func classify(err error) *phaseError {
	var pe *phaseError
	if errors.As(err, &pe) {
		return pe
	}
	if noSlot, ok := ledger.IsNoSlot(err); ok {
		return waiting(ReasonQuotaExhausted, noSlot.NextSlot, err, "every profile upload slot of the account's window is taken")
	}
	if retryAt, ok := localytics.IsRateLimited(err); ok {
		return waiting(ReasonRateLimited, retryAt, err, "the Localytics API budget of this key is spent; waiting for the window to allow the call")
	}
	var apiErr *localytics.APIError
	if errors.As(err, &apiErr) && (localytics.IsUnauthorized(err) || localytics.IsForbidden(err)) {
		return stalled(ReasonCredentialsRefused, err, "the Localytics API refused the credentials (%d %s)", apiErr.StatusCode, http.StatusText(apiErr.StatusCode))
	}
	if code, refused := refusal(err); refused {
		return stalled(ReasonAPIRefused, err, "the Localytics API refused the call (%d %s)", code, http.StatusText(code))
	}
	if errors.As(err, &apiErr) && apiErr.StatusCode >= 500 {
		return transient(ReasonAPIUnavailable, err, "the Localytics API answered %d %s; retrying", apiErr.StatusCode, http.StatusText(apiErr.StatusCode))
	}
	if localytics.IsTransient(err) {
		// Network errors carry addresses and ports: they go to the log, the
		// condition says what it means.
		return transient(ReasonAPIUnavailable, err, "the Localytics API could not be reached; retrying")
	}
	if apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) {
		return transient(ReasonKubernetesAPI, err, "the Kubernetes API server failed a request; retrying")
	}
	return transient(ReasonKubernetesAPI, err, "an unexpected error occurred; retrying")
}

// transientBackoff spaces out the retries of transient failures per object:
// exponential, capped, with "equal jitter" so that objects failing together
// do not retry together.
type transientBackoff struct {
	limiter workqueue.TypedRateLimiter[reconcile.Request]
}

func newTransientBackoff(base, maxDelay time.Duration) *transientBackoff {
	if base <= 0 {
		base = defaultBackoffBase
	}
	if maxDelay <= 0 {
		maxDelay = defaultBackoffMax
	}
	return &transientBackoff{limiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](base, maxDelay)}
}

// next returns the delay before the next attempt for req, longer each time.
func (b *transientBackoff) next(req reconcile.Request) time.Duration {
	return jitter.Equal(b.limiter.When(req))
}

// reset forgets the failures of req, after a success or a stalled result.
func (b *transientBackoff) reset(req reconcile.Request) { b.limiter.Forget(req) }

// requeueAt is a result that wakes the object at the earliest of the given
// times that is not zero. A time already past wakes it after a second, so
// that a clock skew cannot make it spin.
func requeueAt(now time.Time, times ...time.Time) ctrl.Result {
	var earliest time.Time
	for _, t := range times {
		if !t.IsZero() && (earliest.IsZero() || t.Before(earliest)) {
			earliest = t
		}
	}
	if earliest.IsZero() {
		return ctrl.Result{}
	}
	d := earliest.Sub(now)
	if d <= 0 {
		d = time.Second
	}
	return ctrl.Result{RequeueAfter: d}
}

// minResult merges two results into the one that comes back soonest.
func minResult(a, b ctrl.Result) ctrl.Result {
	switch {
	case a.RequeueAfter == 0:
		return b
	case b.RequeueAfter == 0:
		return a
	default:
		return ctrl.Result{RequeueAfter: min(a.RequeueAfter, b.RequeueAfter)}
	}
}

// pollInterval is the wait before the next status request for a job: about
// a quarter of the time it has run so far, between lo and hi, so that a
// quick job is seen soon and a slow one costs few requests.
func pollInterval(started, now time.Time, lo, hi time.Duration) time.Duration {
	d := min(max(now.Sub(started)/4, lo), hi)
	return d + jitter.Up(d/10)
}

// refusal tells whether Localytics refused a call with a 3xx or a 4xx other
// than 429 (waits) and 401 and 403 (refused credentials), and its code: the
// same call would be refused again, so it is not retried until something
// changes. The API never redirects, and the client follows no redirect.
func refusal(err error) (int, bool) {
	var apiErr *localytics.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode < 300 || apiErr.StatusCode >= 500 {
		return 0, false
	}
	switch apiErr.StatusCode {
	case http.StatusTooManyRequests, http.StatusUnauthorized, http.StatusForbidden:
		return 0, false
	}
	return apiErr.StatusCode, true
}
