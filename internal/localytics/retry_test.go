package localytics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestRetryDelayPolicy(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := RetryPolicy{MaxAttempts: 4, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, MaxWait: 10 * time.Second}
	apiErr := func(code int) error { return &APIError{StatusCode: code, Endpoint: "GET /x"} }
	netErr := &NetworkError{Endpoint: "GET /x", Err: errors.New("connection reset")}
	tests := map[string]struct {
		attempt    int
		err        error
		resendable bool
		wantRetry  bool
		wantMin    time.Duration
		wantMax    time.Duration
	}{
		"500 on a GET":                   {attempt: 1, err: apiErr(500), resendable: true, wantRetry: true, wantMin: 50 * time.Millisecond, wantMax: 100 * time.Millisecond},
		"503 on a GET, third attempt":    {attempt: 3, err: apiErr(503), resendable: true, wantRetry: true, wantMin: 200 * time.Millisecond, wantMax: 400 * time.Millisecond},
		"wrapped 502":                    {attempt: 1, err: fmt.Errorf("polling: %w", apiErr(502)), resendable: true, wantRetry: true, wantMin: 50 * time.Millisecond, wantMax: 100 * time.Millisecond},
		"network error on a GET":         {attempt: 1, err: netErr, resendable: true, wantRetry: true, wantMin: 50 * time.Millisecond, wantMax: 100 * time.Millisecond},
		"undecodable answer":             {attempt: 1, err: &DecodeError{Err: errors.New("x")}, resendable: true, wantRetry: true, wantMin: 50 * time.Millisecond, wantMax: 100 * time.Millisecond},
		"attempts are bounded":           {attempt: 4, err: apiErr(500), resendable: true},
		"400 is final":                   {attempt: 1, err: apiErr(400), resendable: true},
		"401 is final":                   {attempt: 1, err: apiErr(401), resendable: true},
		"404 is final":                   {attempt: 1, err: apiErr(404), resendable: true},
		"invalid request is final":       {attempt: 1, err: ErrInvalidRequest, resendable: true},
		"cancelled context is final":     {attempt: 1, err: &NetworkError{Err: context.Canceled}, resendable: true},
		"500 on an upload is not resent": {attempt: 1, err: apiErr(500), resendable: false},
		"network error on an upload":     {attempt: 1, err: netErr, resendable: false},
		"unknown outcome is final":       {attempt: 1, err: &UnknownOutcomeError{Err: netErr}, resendable: true},
		"429 with a short Retry-After": {
			attempt: 1, err: &APIError{StatusCode: 429, RetryAt: now.Add(2 * time.Second)}, resendable: true,
			wantRetry: true, wantMin: 2 * time.Second, wantMax: 2*time.Second + 25*time.Millisecond,
		},
		"429 with a long Retry-After is the caller's to wait": {
			attempt: 1, err: &APIError{StatusCode: 429, RetryAt: now.Add(time.Minute)}, resendable: true,
		},
		"429 on an upload is not resent: its body is gone": {
			attempt: 1, err: &APIError{StatusCode: 429, RetryAt: now}, resendable: false,
		},
		"local budget refusal of an upload may wait: nothing was read": {
			attempt: 1, err: &BudgetExceededError{RetryAt: now.Add(time.Second)}, resendable: false,
			wantRetry: true, wantMin: time.Second, wantMax: time.Second + 25*time.Millisecond,
		},
		"local budget refusal far away": {
			attempt: 1, err: &BudgetExceededError{RetryAt: now.Add(time.Hour)}, resendable: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			for range 50 { // the delay is random
				d, retry := p.retryDelay(tc.attempt, tc.err, tc.resendable, now)
				g.Expect(retry).To(Equal(tc.wantRetry))
				if tc.wantRetry {
					g.Expect(d).To(BeNumerically(">=", tc.wantMin))
					g.Expect(d).To(BeNumerically("<=", tc.wantMax))
				}
			}
		})
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	g := NewWithT(t)
	p := RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	seen := map[time.Duration]bool{}
	for attempt := 1; attempt <= 10; attempt++ {
		full := min(100*time.Millisecond<<(attempt-1), time.Second)
		for range 20 {
			d := p.backoff(attempt)
			g.Expect(d).To(BeNumerically(">=", full/2))
			g.Expect(d).To(BeNumerically("<=", full))
			seen[d] = true
		}
	}
	g.Expect(len(seen)).To(BeNumerically(">", 20), "delays are spread")
	g.Expect(RetryPolicy{InitialBackoff: time.Millisecond}.backoff(200)).To(BeNumerically("<=", 2*time.Hour), "no overflow without a cap")
}

// TestRetriesOverHTTP drives the policy through real requests.
func TestRetriesOverHTTP(t *testing.T) {
	ok := respond(200, "application/json", `[]`)
	tests := map[string]struct {
		answers      []http.Handler
		wantErr      bool
		wantRequests int
	}{
		"5xx then success": {
			answers:      []http.Handler{respond(503, "", ""), respond(500, "text/plain", "oops"), ok},
			wantRequests: 3,
		},
		"lost connection then success": {
			answers:      []http.Handler{http.HandlerFunc(dropConnection), ok},
			wantRequests: 2,
		},
		"429 with Retry-After 0 then success": {
			answers: []http.Handler{http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(429)
			}), ok},
			wantRequests: 2,
		},
		"429 with a long Retry-After is returned at once": {
			answers: []http.Handler{http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(429)
			})},
			wantErr: true, wantRequests: 1,
		},
		"5xx forever gives up after MaxAttempts": {
			answers: []http.Handler{respond(500, "", "")}, wantErr: true, wantRequests: 3,
		},
		"403 is not retried": {
			answers: []http.Handler{respond(403, "", "")}, wantErr: true, wantRequests: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := &countingHandler{next: sequence(tc.answers...)}
			c := newTestClient(t, h)
			_, err := c.ListAudienceLists(context.Background(), "app-1")
			g.Expect(err != nil).To(Equal(tc.wantErr), "err: %v", err)
			g.Expect(h.count()).To(Equal(tc.wantRequests))
		})
	}
}

func TestRetryRespectsContext(t *testing.T) {
	g := NewWithT(t)
	h := &countingHandler{next: respond(503, "", "")}
	slow := RetryPolicy{MaxAttempts: 5, InitialBackoff: 10 * time.Second, MaxBackoff: 10 * time.Second}
	c := newTestClient(t, h, WithRetryPolicy(slow))

	t.Run("a deadline shorter than the backoff ends the call at once", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.ListAudienceLists(ctx, "app-1")
		g.Expect(time.Since(start)).To(BeNumerically("<", time.Second))
		g.Expect(errors.As(err, new(*APIError))).To(BeTrue(), "the real error, not a bare deadline")
		g.Expect(asAPIError(err).StatusCode).To(Equal(503))
	})
	t.Run("cancelling during the backoff ends the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.ListAudienceLists(ctx, "app-1")
		g.Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		g.Expect(err).To(HaveOccurred())
	})
	t.Run("a cancelled context sends nothing more", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		before := h.count()
		_, err := c.ListAudienceLists(ctx, "app-1")
		g.Expect(errors.Is(err, context.Canceled)).To(BeTrue())
		g.Expect(h.count()).To(Equal(before))
	})
}
