package localytics

import (
	"context"
	"errors"
	"time"

	"github.com/localytics-operator/localytics-operator/internal/jitter"
)

// RetryPolicy bounds the retries the client makes inside one call. Longer
// waits belong to the caller: a controller requeues instead of holding a
// worker, so a wait over MaxWait ends the call with the error.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts, the first included; 0 or 1
	// disables retries.
	MaxAttempts int
	// InitialBackoff is the delay before the second attempt after a 5xx or a
	// network error; it doubles with each attempt, up to MaxBackoff.
	InitialBackoff time.Duration
	// MaxBackoff caps the exponential delay; 0 means no cap.
	MaxBackoff time.Duration
	// MaxWait is the longest wait for a spent budget (a 429's Retry-After, or
	// the client's own window) that the client sleeps through itself.
	MaxWait time.Duration
}

// DefaultRetryPolicy makes up to 4 attempts over at most a few seconds.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:    4,
		InitialBackoff: 250 * time.Millisecond,
		MaxBackoff:     4 * time.Second,
		MaxWait:        5 * time.Second,
	}
}

// retryDelay is the client's one retry policy: whether the failed attempt
// (1-based) may be repeated and after how long. resendable says whether the
// request can be sent again; an upload cannot, because its streamed body is
// consumed and because repeating a POST that the server may have accepted
// could import the file twice.
//
//   - A spent budget (local, or a server 429) is retried when its wait is
//     short; nothing was sent or counted, so this is safe for uploads too,
//     provided the server refused it (a 429 on an upload is final: its body is
//     gone).
//   - 5xx, network errors and undecodable 2xx answers are retried, with
//     jittered, capped exponential backoff, only for resendable calls.
//   - Anything else (4xx, invalid requests, unknown outcomes) is final.
func (p RetryPolicy) retryDelay(attempt int, err error, resendable bool, now time.Time) (time.Duration, bool) {
	if attempt >= p.MaxAttempts || err == nil || IsUnknownOutcome(err) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	var budgetErr *BudgetExceededError
	if retryAt, limited := IsRateLimited(err); limited {
		if !resendable && !errors.As(err, &budgetErr) {
			return 0, false
		}
		wait := retryAt.Sub(now)
		if wait > p.MaxWait {
			return 0, false
		}
		// A little spread so that callers woken by the same window do not
		// arrive together.
		return max(wait, 0) + jitter.Up(p.InitialBackoff/4), true
	}
	if !resendable || !IsTransient(err) {
		return 0, false
	}
	return p.backoff(attempt), true
}

// backoff is InitialBackoff·2^(attempt-1) capped at MaxBackoff, with "equal
// jitter": half of it fixed, half random, so retries spread out but never
// come back immediately.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.InitialBackoff
	for i := 1; i < attempt && d < time.Hour && (p.MaxBackoff <= 0 || d < p.MaxBackoff); i++ {
		d *= 2
	}
	if p.MaxBackoff > 0 {
		d = min(d, p.MaxBackoff)
	}
	return jitter.Equal(d)
}

// sleep waits for d or until ctx ends. It refuses to start a wait that would
// outlast ctx's deadline, so a call gives up with its real error at once
// instead of with a bare deadline error later.
func sleep(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return context.DeadlineExceeded
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
