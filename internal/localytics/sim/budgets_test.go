package sim

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// uploadOnce sends a valid P1 upload and returns the reply.
func (h *harness) uploadOnce(c creds, scope field) reply {
	h.t.Helper()
	return h.upload(http.MethodPost, "/v1/imports/profiles/upload", c, scope, field{"format", "json"}, field{"file", oneChange})
}

func TestEleventhProfileUploadInTheHourIsThrottled(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	for i := range 10 {
		g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusAccepted), "upload %d", i+1)
		h.clock.Advance(time.Minute)
	}
	// 10 minutes in: the oldest upload leaves the window in 50 minutes.
	r := h.uploadOnce(as1, org60)
	g.Expect(r.status).To(Equal(http.StatusTooManyRequests))
	g.Expect(r.header.Get("Retry-After")).To(Equal("3000"))
	g.Expect(r.header.Get("Content-Type")).To(HavePrefix("text/plain"))
	g.Expect(h.sim.Throttled()).To(Equal([]ThrottleRecord{{
		Time: epoch.Add(10 * time.Minute), Key: key1.Key, Endpoint: EndpointProfileUpload,
		Budget: BudgetProfileUploads, RetryAfter: 3000 * time.Second,
	}}))

	// The window slides: one nanosecond before the oldest slot frees, still
	// throttled, with Retry-After rounded up to a whole second.
	h.clock.Set(epoch.Add(time.Hour - time.Nanosecond))
	r = h.uploadOnce(as1, org60)
	g.Expect(r.status).To(Equal(http.StatusTooManyRequests))
	g.Expect(r.header.Get("Retry-After")).To(Equal("1"))

	h.clock.Set(epoch.Add(time.Hour))
	g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusAccepted), "the oldest slot is free again")
	r = h.uploadOnce(as1, org60)
	g.Expect(r.status).To(Equal(http.StatusTooManyRequests))
	g.Expect(r.header.Get("Retry-After")).To(Equal("60"), "the next slot is the upload made at minute 1")

	// Another key has its own budget.
	g.Expect(h.uploadOnce(as2, field{"org_id", "61"}).status).To(Equal(http.StatusAccepted))
	g.Expect(h.sim.Uploads()).To(HaveLen(12))
}

func TestRetryAfterCanBeSwitchedOff(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) {
		c.RetryAfter = false
		c.Limits.ProfileUploads = 1
	})
	g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusAccepted))
	r := h.uploadOnce(as1, org60)
	g.Expect(r.status).To(Equal(http.StatusTooManyRequests))
	g.Expect(r.header.Values("Retry-After")).To(BeEmpty())
	g.Expect(h.sim.Throttled()).To(ConsistOf(HaveField("RetryAfter", time.Duration(0))))

	h.sim.SetRetryAfter(true)
	r = h.uploadOnce(as1, org60)
	g.Expect(r.header.Get("Retry-After")).To(Equal("3600"))
}

func TestStatusAndAudienceBudgets(t *testing.T) {
	cases := map[string]struct {
		limits Limits
		calls  []func(h *harness) reply // all within budget
		over   func(h *harness) reply   // the call past the budget
		budget Budget
	}{
		"profile status, 404s included": {
			limits: Limits{ProfileStatus: 3, ProfileStatusWindow: time.Minute},
			calls: []func(h *harness) reply{
				func(h *harness) reply { return h.get("/v1/imports/profiles/status/a", as1) },
				func(h *harness) reply { return h.get("/v1/imports/profiles/status/b", as1) },
				func(h *harness) reply { return h.get("/v1/imports/profiles/status/c", as1) },
			},
			over:   func(h *harness) reply { return h.get("/v1/imports/profiles/status/d", as1) },
			budget: BudgetProfileStatus,
		},
		"audience calls share one budget across A1-A6": {
			limits: Limits{AudienceCalls: 4, AudienceCallWindow: time.Minute},
			calls: []func(h *harness) reply{
				func(h *harness) reply {
					return h.upload(http.MethodPost, "/v1/imports/audiences/list/", as1,
						app1, field{"audience_name", "n"}, field{"identifier_type", "customer_id"}, field{"file", `{"customer_id":"x"}`})
				},
				func(h *harness) reply { return h.get("/v1/imports/audiences/list/app/app-1", as1) },
				func(h *harness) reply { return h.get("/v1/imports/audiences/list/status/nope", as1) },
				func(h *harness) reply {
					return h.send(http.MethodDelete, "/v1/imports/audiences/list/1", as1, nil, "")
				},
			},
			over: func(h *harness) reply {
				return h.send(http.MethodPut, "/v1/imports/audiences/list/1/name?name=x", as1, nil, "")
			},
			budget: BudgetAudienceCalls,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, func(c *Config) { c.Limits = tc.limits })
			for i, call := range tc.calls {
				g.Expect(call(h).status).NotTo(Equal(http.StatusTooManyRequests), "call %d", i+1)
				h.clock.Advance(time.Second)
			}
			r := tc.over(h)
			g.Expect(r.status).To(Equal(http.StatusTooManyRequests))
			// The oldest call, at second 0, leaves the window at second 60.
			wait := 60 - len(tc.calls)
			g.Expect(r.header.Get("Retry-After")).To(Equal(strconv.Itoa(wait)))
			g.Expect(h.sim.Throttled()).To(ConsistOf(HaveField("Budget", tc.budget)))
			// The profile upload budget is untouched.
			g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusAccepted))
			h.clock.Advance(time.Duration(wait) * time.Second)
			g.Expect(tc.over(h).status).NotTo(Equal(http.StatusTooManyRequests))
		})
	}
}

func TestRefusedCallsSpendNoUploadBudget(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) { c.Limits.ProfileUploads = 1 })
	g.Expect(h.upload(http.MethodPost, "/v1/imports/profiles/upload", as1, org60, field{"format", "xml"}, field{"file", "x"}).status).To(Equal(http.StatusBadRequest))
	g.Expect(h.upload(http.MethodPost, "/v1/imports/profiles/upload", as2, org60, field{"format", "json"}, field{"file", "x"}).status).To(Equal(http.StatusForbidden))
	g.Expect(h.upload(http.MethodPost, "/v1/imports/profiles/upload", creds{key1.Key, "wrong"}, org60, field{"format", "json"}, field{"file", "x"}).status).To(Equal(http.StatusUnauthorized))
	g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusAccepted))
	g.Expect(h.sim.Budgets(key1.Key)).To(ContainElement(BudgetUsage{
		Budget: BudgetProfileUploads, Limit: 1, Window: time.Hour, Used: 1, NextSlot: epoch.Add(time.Hour),
	}))
}

func TestConcurrentUploadsNeverOvershootTheBudget(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for range 25 {
		wg.Go(func() {
			body, ct := form(org60, field{"format", "json"}, field{"file", oneChange})
			r, err := h.trySend(http.MethodPost, "/v1/imports/profiles/upload", as1, body, ct)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses[-1]++
				return
			}
			statuses[r.status]++
		})
	}
	wg.Wait()
	g.Expect(statuses).To(Equal(map[int]int{http.StatusAccepted: 10, http.StatusTooManyRequests: 15}))
	g.Expect(h.sim.Uploads()).To(HaveLen(10))
}

func TestNegativeLimitsDisableBudgets(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) { c.Limits.ProfileUploads = -1 })
	for range 15 {
		g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusAccepted))
	}
	g.Expect(h.sim.Throttled()).To(BeEmpty())
}

func TestWindowsCanBeShortInRealTime(t *testing.T) {
	g := NewWithT(t)
	s := New(Config{Accounts: []Account{key1}, Limits: Limits{ProfileUploads: 1, ProfileUploadWindow: 150 * time.Millisecond}})
	t.Cleanup(s.Close)
	h := &harness{t: t, sim: s, srv: newServer(t, s)}
	g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusAccepted))
	g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusTooManyRequests))
	g.Eventually(func() int { return h.uploadOnce(as1, org60).status }).
		WithTimeout(3 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(http.StatusAccepted))
}

func TestDefaultLimitsAreTheVendors(t *testing.T) {
	g := NewWithT(t)
	g.Expect(DefaultLimits()).To(Equal(Limits{
		ProfileUploads: 10, ProfileUploadWindow: time.Hour,
		ProfileStatus: 60, ProfileStatusWindow: time.Minute,
		AudienceCalls: 60, AudienceCallWindow: time.Minute,
		AudienceListsPerApp: 500, MaxUploadBytes: 100_000_000,
	}))
	g.Expect(Limits{}.withDefaults()).To(Equal(DefaultLimits()))
	g.Expect(Limits{ProfileUploads: 3}.withDefaults().ProfileUploadWindow).To(Equal(time.Hour))
}
