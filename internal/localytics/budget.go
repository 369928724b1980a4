package localytics

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// BudgetKind names one of the API key's rate budgets (docs/localytics-api.md, "Limits
// and errors").
type BudgetKind int

const (
	// BudgetProfileUploads counts P1 calls: 10 per hour by default.
	BudgetProfileUploads BudgetKind = iota + 1
	// BudgetProfileStatus counts P2 calls: 60 per minute by default.
	BudgetProfileStatus
	// BudgetAudienceCalls counts A1–A6 calls together: 60 per minute by
	// default.
	BudgetAudienceCalls
)

const numBudgetKinds = 3

func (k BudgetKind) String() string {
	switch k {
	case BudgetProfileUploads:
		return "profile-uploads"
	case BudgetProfileStatus:
		return "profile-status"
	case BudgetAudienceCalls:
		return "audience-calls"
	default:
		return fmt.Sprintf("BudgetKind(%d)", int(k))
	}
}

func (k BudgetKind) valid() bool { return k >= BudgetProfileUploads && k <= BudgetAudienceCalls }

// Limit is a number of calls allowed in any sliding window of the given
// length. Calls <= 0 means the client enforces no limit (the server may
// still answer 429, which the client then honours).
type Limit struct {
	Calls  int
	Window time.Duration
}

func (l Limit) String() string { return fmt.Sprintf("%d per %s", l.Calls, l.Window) }

func (l Limit) unlimited() bool { return l.Calls <= 0 || l.Window <= 0 }

// Limits are an API key's budgets. They are overridable because accounts
// differ and tests compress an hour into seconds.
type Limits struct {
	ProfileUploads Limit
	ProfileStatus  Limit
	AudienceCalls  Limit
}

// DefaultLimits are the vendor's documented budgets.
func DefaultLimits() Limits {
	return Limits{
		ProfileUploads: Limit{Calls: 10, Window: time.Hour},
		ProfileStatus:  Limit{Calls: 60, Window: time.Minute},
		AudienceCalls:  Limit{Calls: 60, Window: time.Minute},
	}
}

// For returns the limit of one budget.
func (l Limits) For(kind BudgetKind) Limit {
	switch kind {
	case BudgetProfileUploads:
		return l.ProfileUploads
	case BudgetProfileStatus:
		return l.ProfileStatus
	case BudgetAudienceCalls:
		return l.AudienceCalls
	default:
		return Limit{}
	}
}

// Budgets is the in-process record of the calls made with each API key. The
// vendor counts per key, not per client, so every Client built for the same
// key must share one Budgets: build one per process and pass it to New with
// WithBudgets. It is safe for concurrent use.
//
// Budgets only knows what this process did and what 429s told it. Calls made
// by other processes (another replica, the process before a restart) can be
// added with Observe, e.g. from the upload ledger kept in the account's
// status.
type Budgets struct {
	mu       sync.Mutex
	accounts map[string]*accountBudget
}

// NewBudgets returns an empty registry.
func NewBudgets() *Budgets {
	return &Budgets{accounts: map[string]*accountBudget{}}
}

// accountBudget holds the windows of one API key, guarded by Budgets.mu:
// calls are rare enough that one lock for the registry costs nothing.
type accountBudget struct {
	limits  Limits
	windows [numBudgetKinds]window
}

// window is a sliding window: the times of the calls still inside it, oldest
// first, and a time before which the server said no call may be made.
type window struct {
	calls        []time.Time
	blockedUntil time.Time
}

// account returns the budget of apiKey, creating it with limits when new.
// Must be called with b.mu held.
func (b *Budgets) account(apiKey string) *accountBudget {
	a, ok := b.accounts[apiKey]
	if !ok {
		a = &accountBudget{limits: DefaultLimits()}
		b.accounts[apiKey] = a
	}
	return a
}

// SetLimits sets the limits of apiKey. New calls it; the limits of the most
// recent call win, so that a changed account spec takes effect.
func (b *Budgets) SetLimits(apiKey string, limits Limits) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.account(apiKey).limits = limits
}

// NextAllowed returns when a call of kind may next be made with apiKey; a
// time not after now means now.
func (b *Budgets) NextAllowed(apiKey string, kind BudgetKind, now time.Time) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.account(apiKey)
	return a.nextAllowed(kind, now)
}

// Observe records calls of kind made with apiKey outside this process, so
// that they count against the budget. A time already recorded is not
// recorded twice, so replaying the same ledger is harmless.
func (b *Budgets) Observe(apiKey string, kind BudgetKind, at ...time.Time) {
	if !kind.valid() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	w := &b.account(apiKey).windows[kind-1]
	for _, t := range at {
		i, found := slices.BinarySearchFunc(w.calls, t, func(a, b time.Time) int { return a.Compare(b) })
		if !found {
			w.calls = slices.Insert(w.calls, i, t)
		}
	}
}

// acquire records a call of kind at now if the budget allows it. Otherwise it
// records nothing and returns when the next call may be made. The check and
// the record are one step so that concurrent callers cannot both take the
// last slot.
func (b *Budgets) acquire(apiKey string, kind BudgetKind, now time.Time) (retryAt time.Time, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.account(apiKey)
	if next := a.nextAllowed(kind, now); next.After(now) {
		return next, false
	}
	w := &a.windows[kind-1]
	// Keep calls sorted even if a caller's clock stepped back.
	i, _ := slices.BinarySearchFunc(w.calls, now, func(a, b time.Time) int { return a.Compare(b) })
	w.calls = slices.Insert(w.calls, i, now)
	return now, true
}

// refund forgets a call recorded by acquire at the given time, for a call the
// server did not count: one that never reached it, or that it refused with
// 429.
func (b *Budgets) refund(apiKey string, kind BudgetKind, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := &b.account(apiKey).windows[kind-1]
	if i := slices.IndexFunc(w.calls, at.Equal); i >= 0 {
		w.calls = slices.Delete(w.calls, i, i+1)
	}
}

// settle moves a call recorded by acquire at the given time to when its
// answer came: the server counted it at some moment in between.
func (b *Budgets) settle(apiKey string, kind BudgetKind, at, answeredAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := &b.account(apiKey).windows[kind-1]
	i := slices.IndexFunc(w.calls, at.Equal)
	if i < 0 || !answeredAt.After(at) {
		return
	}
	w.calls = slices.Delete(w.calls, i, i+1)
	j, _ := slices.BinarySearchFunc(w.calls, answeredAt, func(a, b time.Time) int { return a.Compare(b) })
	w.calls = slices.Insert(w.calls, j, answeredAt)
}

// throttled records a 429 received at now and returns when the next call
// may be made. With Retry-After that is now+retryAfter. Without it the
// server has more calls in its window than this process knows of (other
// processes use the key, or it restarted); the earliest time a slot is sure
// to free is when the oldest call we know of leaves the window, or a whole
// window from now when we know of none.
func (b *Budgets) throttled(apiKey string, kind BudgetKind, now time.Time, retryAfter time.Duration, hasRetryAfter bool) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.account(apiKey)
	limit := a.limits.For(kind)
	w := &a.windows[kind-1]
	w.prune(limit, now)

	var until time.Time
	switch {
	case hasRetryAfter:
		until = now.Add(retryAfter)
	case len(w.calls) > 0 && limit.Window > 0:
		until = w.calls[0].Add(limit.Window)
	case limit.Window > 0:
		until = now.Add(limit.Window)
	default:
		// No window to reason from and no Retry-After: a short pause
		// rather than hammering the server.
		until = now.Add(time.Second)
	}
	if until.After(w.blockedUntil) {
		w.blockedUntil = until
	}
	// What NextAllowed will say: our own window may end later still.
	return a.nextAllowed(kind, now)
}

// nextAllowed must be called with Budgets.mu held.
func (a *accountBudget) nextAllowed(kind BudgetKind, now time.Time) time.Time {
	if !kind.valid() {
		return now
	}
	limit := a.limits.For(kind)
	w := &a.windows[kind-1]
	w.prune(limit, now)
	next := now
	if !limit.unlimited() && len(w.calls) >= limit.Calls {
		// The call that must leave the window before another fits.
		next = w.calls[len(w.calls)-limit.Calls].Add(limit.Window)
	}
	if w.blockedUntil.After(next) {
		next = w.blockedUntil
	}
	return next
}

// prune forgets calls that have left the window: a call at t counts until
// t+Window, exclusive.
func (w *window) prune(limit Limit, now time.Time) {
	if limit.Window <= 0 {
		w.calls = w.calls[:0]
		return
	}
	cutoff := now.Add(-limit.Window)
	drop := 0
	for drop < len(w.calls) && !w.calls[drop].After(cutoff) {
		drop++
	}
	w.calls = slices.Delete(w.calls, 0, drop)
}
