package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Budgets are sliding windows over the arrival times of admitted calls: a call
// that arrived at t occupies one slot of its key's budget until t+window, and a
// call is refused with 429 while limit slots are occupied. This is the model the
// operator's upload ledger keeps (the times of the uploads inside the window), so
// an operator that counts correctly never sees a 429. A fixed window would let a
// burst of 2×limit straddle a window boundary, which the vendor's "10 per hour"
// does not promise.
//
// What spends a slot: every status and audience call that passed auth and the
// budget, whatever its outcome (404 included), because those limits are request
// rates; a profile upload only once it is accepted (202, dropped connections
// included), because only then is something queued. An upload holds a
// reservation while its body streams in, so concurrent uploads cannot overshoot
// the limit; a refused upload gives the slot back. The slot is dated at the
// request's arrival, as a gateway in front of the vendor would date it.

type budgetKey struct {
	key    string
	budget Budget
}

// slidingWindow holds the arrival times of the calls still inside the window,
// oldest first, and the slots held by uploads still streaming in.
type slidingWindow struct {
	times    []time.Time
	reserved int
}

// prune drops the calls that left the window: a slot used at t is free again at
// exactly t+window.
func (sw *slidingWindow) prune(now time.Time, window time.Duration) {
	cut := 0
	for cut < len(sw.times) && !sw.times[cut].After(now.Add(-window)) {
		cut++
	}
	sw.times = sw.times[cut:]
}

// record adds a call that arrived at t, keeping the times sorted even when
// uploads finish in a different order than they arrived.
func (sw *slidingWindow) record(t time.Time) {
	i, _ := slices.BinarySearchFunc(sw.times, t, func(a, b time.Time) int { return a.Compare(b) })
	sw.times = slices.Insert(sw.times, i, t)
}

// budgetFor returns the limit and window of b.
func (s *Server) budgetFor(b Budget) (int, time.Duration) {
	switch b {
	case BudgetProfileUploads:
		return s.limits.ProfileUploads, s.limits.ProfileUploadWindow
	case BudgetProfileStatus:
		return s.limits.ProfileStatus, s.limits.ProfileStatusWindow
	default:
		return s.limits.AudienceCalls, s.limits.AudienceCallWindow
	}
}

// budgetOf maps an endpoint to the budget it spends.
func budgetOf(ep Endpoint) Budget {
	switch ep {
	case EndpointProfileUpload:
		return BudgetProfileUploads
	case EndpointProfileStatus:
		return BudgetProfileStatus
	default:
		return BudgetAudienceCalls
	}
}

// throttled is a 429 decided by admit, with the Retry-After to send (0: none).
type throttled struct {
	budget     Budget
	limit      int
	window     time.Duration
	retryAfter time.Duration
	injected   bool
}

// admit checks the key's budget for ep at arrival time now. For a profile
// upload it only reserves a slot (commitUpload or releaseUpload settle it);
// every other call spends its slot here.
func (s *Server) admit(key string, ep Endpoint, now time.Time) *throttled {
	b := budgetOf(ep)
	limit, window := s.budgetFor(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.Throttle > 0 {
		s.faults.Throttle--
		return s.throttleLocked(key, ep, now, &throttled{budget: b, limit: limit, window: window, retryAfter: time.Second, injected: true})
	}
	if limit < 0 {
		return nil
	}
	sw := s.windowLocked(key, b)
	sw.prune(now, window)
	if len(sw.times)+sw.reserved >= limit {
		// The next slot opens when the oldest call leaves the window; when every
		// slot is held by an upload still streaming in, that is unknown, and a
		// second is a fair guess.
		wait := time.Second
		if len(sw.times) > 0 {
			wait = max(sw.times[0].Add(window).Sub(now), time.Nanosecond)
		}
		return s.throttleLocked(key, ep, now, &throttled{budget: b, limit: limit, window: window, retryAfter: wait})
	}
	if b == BudgetProfileUploads {
		sw.reserved++
	} else {
		sw.record(now)
	}
	return nil
}

// throttleLocked records a 429 and settles whether it carries Retry-After.
func (s *Server) throttleLocked(key string, ep Endpoint, now time.Time, t *throttled) *throttled {
	if !s.retryAfter {
		t.retryAfter = 0
	} else {
		t.retryAfter = roundUpToSecond(t.retryAfter)
	}
	s.throttled = append(s.throttled, ThrottleRecord{
		Time: now, Key: key, Endpoint: ep, Budget: t.budget, RetryAfter: t.retryAfter, Injected: t.injected,
	})
	return t
}

func (s *Server) windowLocked(key string, b Budget) *slidingWindow {
	k := budgetKey{key: key, budget: b}
	sw := s.budgets[k]
	if sw == nil {
		sw = &slidingWindow{}
		s.budgets[k] = sw
	}
	return sw
}

// commitUploadLocked turns an upload's reservation into a spent slot dated at
// its arrival.
func (s *Server) commitUploadLocked(key string, arrival time.Time) {
	if s.limits.ProfileUploads < 0 {
		return
	}
	sw := s.windowLocked(key, BudgetProfileUploads)
	if sw.reserved > 0 { // a Reset may have come between reserve and commit
		sw.reserved--
	}
	sw.record(arrival)
}

// releaseUpload gives back the reservation of an upload that was refused.
func (s *Server) releaseUpload(key string) {
	if s.limits.ProfileUploads < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := s.windowLocked(key, BudgetProfileUploads)
	if sw.reserved > 0 {
		sw.reserved--
	}
}

// roundUpToSecond rounds d up to whole seconds, at least one: Retry-After
// carries whole seconds, and rounding down would invite a retry that is still
// too early.
func roundUpToSecond(d time.Duration) time.Duration {
	secs := (d + time.Second - 1) / time.Second
	return max(secs, 1) * time.Second
}

// writeThrottled answers 429.
func writeThrottled(w http.ResponseWriter, t *throttled) {
	if t.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(t.retryAfter/time.Second), 10))
	}
	msg := fmt.Sprintf("rate limit exceeded: %s budget is %d per %s", t.budget, t.limit, t.window)
	if t.injected {
		msg = "rate limit exceeded (injected)"
	}
	writeError(w, &apiError{status: http.StatusTooManyRequests, msg: msg})
}

// BudgetUsage is the state of one budget of one key, for inspection.
type BudgetUsage struct {
	Budget Budget `json:"budget"`
	Limit  int    `json:"limit"`
	// Window is the budget's window; JSON writes it as a Go duration ("1h0m0s").
	Window time.Duration `json:"-"`
	// Used counts the slots inside the window, reservations included.
	Used int `json:"used"`
	// NextSlot is when the oldest used slot frees; zero when none is used.
	NextSlot time.Time `json:"next_slot,omitzero"`
}

// MarshalJSON writes Window as a Go duration string, for people reading
// /_sim/budgets.
func (u BudgetUsage) MarshalJSON() ([]byte, error) {
	type plain BudgetUsage // without this method
	return json.Marshal(struct {
		plain
		Window string `json:"window"`
	}{plain(u), u.Window.String()})
}

// Budgets returns the current use of every budget of key.
func (s *Server) Budgets(key string) []BudgetUsage {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []BudgetUsage
	for _, b := range []Budget{BudgetProfileUploads, BudgetProfileStatus, BudgetAudienceCalls} {
		limit, window := s.budgetFor(b)
		u := BudgetUsage{Budget: b, Limit: limit, Window: window}
		if sw := s.budgets[budgetKey{key: key, budget: b}]; sw != nil {
			sw.prune(now, window)
			u.Used = len(sw.times) + sw.reserved
			if len(sw.times) > 0 {
				u.NextSlot = sw.times[0].Add(window)
			}
		}
		out = append(out, u)
	}
	return out
}
