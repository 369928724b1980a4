package localytics

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestBudgetSlidingWindow(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b := NewBudgets()
	b.SetLimits("k", Limits{ProfileStatus: Limit{Calls: 3, Window: time.Minute}})

	for _, at := range []time.Duration{0, 10 * time.Second, 20 * time.Second} {
		_, ok := b.acquire("k", BudgetProfileStatus, t0.Add(at))
		g.Expect(ok).To(BeTrue(), "call at +%s", at)
	}
	retryAt, ok := b.acquire("k", BudgetProfileStatus, t0.Add(30*time.Second))
	g.Expect(ok).To(BeFalse())
	g.Expect(retryAt).To(Equal(t0.Add(time.Minute)), "when the first call leaves the window")
	g.Expect(b.NextAllowed("k", BudgetProfileStatus, t0.Add(30*time.Second))).To(Equal(t0.Add(time.Minute)))

	// A call counts until t+Window, exclusive.
	_, ok = b.acquire("k", BudgetProfileStatus, t0.Add(time.Minute-time.Nanosecond))
	g.Expect(ok).To(BeFalse())
	_, ok = b.acquire("k", BudgetProfileStatus, t0.Add(time.Minute))
	g.Expect(ok).To(BeTrue())
	g.Expect(b.NextAllowed("k", BudgetProfileStatus, t0.Add(time.Minute))).To(Equal(t0.Add(70 * time.Second)))

	// Other budgets and other keys are untouched.
	g.Expect(b.NextAllowed("k", BudgetAudienceCalls, t0)).To(Equal(t0))
	g.Expect(b.NextAllowed("other", BudgetProfileStatus, t0)).To(Equal(t0))
}

func TestBudgetUnlimited(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Now()
	b := NewBudgets()
	b.SetLimits("k", Limits{AudienceCalls: Limit{Calls: 0, Window: time.Minute}})
	for i := range 1000 {
		_, ok := b.acquire("k", BudgetAudienceCalls, t0.Add(time.Duration(i)))
		g.Expect(ok).To(BeTrue())
	}
}

func TestBudgetObserveMergesALedger(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b := NewBudgets()
	b.SetLimits("k", Limits{ProfileUploads: Limit{Calls: 3, Window: time.Hour}})
	ledger := []time.Time{t0.Add(-50 * time.Minute), t0.Add(-10 * time.Minute)}
	b.Observe("k", BudgetProfileUploads, ledger...)
	b.Observe("k", BudgetProfileUploads, ledger...) // replayed after a restart: no double count
	g.Expect(b.NextAllowed("k", BudgetProfileUploads, t0)).To(Equal(t0))
	_, ok := b.acquire("k", BudgetProfileUploads, t0)
	g.Expect(ok).To(BeTrue())
	g.Expect(b.NextAllowed("k", BudgetProfileUploads, t0)).To(Equal(t0.Add(10 * time.Minute)))
}

func TestBudgetConcurrentCallersCannotOverspend(t *testing.T) {
	g := NewWithT(t)
	b := NewBudgets()
	b.SetLimits("k", Limits{ProfileUploads: Limit{Calls: 10, Window: time.Hour}})
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range 100 {
		wg.Go(func() {
			if _, ok := b.acquire("k", BudgetProfileUploads, now); ok {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	g.Expect(granted).To(Equal(10))
}

// TestBudgetsSharedByClientsOfOneKey: the vendor counts per key, so two
// clients of one key share a budget and a client of another key does not.
func TestBudgetsSharedByClientsOfOneKey(t *testing.T) {
	g := NewWithT(t)
	h := &countingHandler{next: respond(202, "application/json", `{"activity_id":"x"}`)}
	budgets := NewBudgets()
	clock := newFakeClock()
	limits := WithLimits(Limits{ProfileUploads: Limit{Calls: 2, Window: time.Hour}})
	first := newTestClient(t, h, WithBudgets(budgets), WithClock(clock), limits)
	second := newTestClient(t, h, WithBudgets(budgets), WithClock(clock))
	otherKey, err := New(first.base.String(), Credentials{Key: "other", Secret: "x"}, WithBudgets(budgets), WithClock(clock), limits)
	g.Expect(err).NotTo(HaveOccurred())

	ctx := context.Background()
	_, err = uploadProfiles(ctx, first)
	g.Expect(err).NotTo(HaveOccurred())
	clock.Advance(time.Minute)
	_, err = uploadProfiles(ctx, second)
	g.Expect(err).NotTo(HaveOccurred())

	_, err = uploadProfiles(ctx, first)
	retryAt, limited := IsRateLimited(err)
	g.Expect(limited).To(BeTrue())
	g.Expect(retryAt).To(Equal(clock.Now().Add(59 * time.Minute)))
	g.Expect(err).To(BeAssignableToTypeOf(&BudgetExceededError{}))
	g.Expect(second.NextAllowed(BudgetProfileUploads)).To(Equal(retryAt))
	g.Expect(h.count()).To(Equal(2), "the refused call was not sent")

	_, err = uploadProfiles(ctx, otherKey)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.count()).To(Equal(3))
}

// TestServerThrottleTeachesTheBudget: a 429 tells the client the server's
// window is full; the client then refuses calls itself until the time the
// server gave, or the time its own record of the window gives.
func TestServerThrottleTeachesTheBudget(t *testing.T) {
	const window = time.Minute
	tests := map[string]struct {
		retryAfter func(now time.Time) string
		// earlier calls that succeeded, at these offsets before the 429
		earlier []time.Duration
		want    time.Duration // after the 429's time
	}{
		"Retry-After in seconds": {
			retryAfter: func(time.Time) string { return "7" }, want: 7 * time.Second,
		},
		"Retry-After as an HTTP date": {
			retryAfter: func(now time.Time) string { return now.Add(42 * time.Second).UTC().Format(http.TimeFormat) },
			want:       42 * time.Second,
		},
		"no Retry-After: when the oldest known call leaves the window": {
			earlier: []time.Duration{40 * time.Second, 20 * time.Second},
			want:    20 * time.Second,
		},
		"no Retry-After and no known call: a whole window": {
			want: window,
		},
		"unreadable Retry-After falls back to the window": {
			retryAfter: func(time.Time) string { return "soon" },
			want:       window,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			clock := newFakeClock()
			throttle := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != nil {
					w.Header().Set("Retry-After", tc.retryAfter(clock.Now()))
				}
				w.WriteHeader(http.StatusTooManyRequests)
			})
			answers := []http.Handler{}
			for range tc.earlier {
				answers = append(answers, respond(200, "application/json", `{"status":"Running"}`))
			}
			h := &countingHandler{next: sequence(append(answers, throttle)...)}
			c := newTestClient(t, h, WithClock(clock), WithRetryPolicy(RetryPolicy{MaxAttempts: 1}),
				WithLimits(Limits{ProfileStatus: Limit{Calls: 10, Window: window}}))
			ctx := context.Background()

			// The earlier calls happen the given time before the 429, oldest first.
			throttledAt := clock.Now().Add(time.Hour)
			for _, ago := range tc.earlier {
				clock.Set(throttledAt.Add(-ago))
				_, err := getProfileJob(ctx, c)
				g.Expect(err).NotTo(HaveOccurred())
			}
			clock.Set(throttledAt)
			_, err := getProfileJob(ctx, c)
			retryAt, limited := IsRateLimited(err)
			g.Expect(limited).To(BeTrue())
			g.Expect(retryAt).To(Equal(throttledAt.Add(tc.want)))
			g.Expect(c.NextAllowed(BudgetProfileStatus)).To(Equal(retryAt))

			sent := h.count()
			_, err = getProfileJob(ctx, c)
			g.Expect(err).To(BeAssignableToTypeOf(&BudgetExceededError{}))
			g.Expect(h.count()).To(Equal(sent), "not sent while the server said no")

			clock.Advance(tc.want)
			g.Expect(c.NextAllowed(BudgetProfileStatus)).To(Equal(clock.Now()))
		})
	}
}

// TestBudgetCountsACallFromItsAnswer: the server counts a call when it
// arrives, after it was sent, so the client's window keeps the call until a
// window after its answer; counted from the send, the next call could reach
// the server while its slot is still taken there.
func TestBudgetCountsACallFromItsAnswer(t *testing.T) {
	g := NewWithT(t)
	clock := newFakeClock()
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		clock.Advance(2 * time.Second) // the call takes two seconds to arrive and be answered
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[]`))
	})
	c := newTestClient(t, slow, WithClock(clock), WithRetryPolicy(RetryPolicy{MaxAttempts: 1}),
		WithLimits(Limits{AudienceCalls: Limit{Calls: 1, Window: 10 * time.Second}}))
	sent := clock.Now()
	_, err := c.ListAudienceLists(context.Background(), "app")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.NextAllowed(BudgetAudienceCalls)).To(Equal(sent.Add(2*time.Second + 10*time.Second)))
}
