package controllers

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// How the reconciles of a kind share its workers. A tenant whose endpoint or
// object store answers slowly, or not at all, holds a worker for as long as
// its calls' deadlines allow: a namespace holds a quarter of them, its
// share, so that the others' objects go on being reconciled. Workers no one
// else waits for are lent to a namespace whose reconciles are quick (a
// thousand imports finishing one shared upload), since each comes back
// soon: up to half the workers in all, a share's worth always left free.

const (
	// defaultWorkers is how many objects of a kind are reconciled at once.
	defaultWorkers = 8

	// reconcileTimeout is the deadline of a reconcile's context: a source's
	// validation pass and a few calls. The writes sent before it passed run
	// on to their own deadlines (sendContext), so a reconcile may last up to
	// stuckAfter.
	reconcileTimeout = sourceReadTimeout + 5*time.Minute

	// shareRequeue is a safety net for an object turned away because its
	// namespace holds its share of the workers: it is woken as soon as the
	// namespace gives one back.
	shareRequeue = 30 * time.Second

	// quickReconcile is how long a namespace's reconciles may take, on
	// average, for it to borrow idle workers beyond its share.
	quickReconcile = time.Second

	// paceMemory is how long a namespace's pace is remembered after its
	// last reconcile: a burst after a quiet while starts within its share,
	// until its first reconciles tell how quick they are now.
	paceMemory = time.Minute
)

// workerOptions are the controller options of a kind reconciled by workers
// workers (defaultWorkers when not positive).
func workerOptions(workers int) controller.Options {
	if workers <= 0 {
		workers = defaultWorkers
	}
	return controller.Options{MaxConcurrentReconciles: workers, ReconciliationTimeout: reconcileTimeout}
}

// namespaceShares counts the reconciles running per namespace, and
// remembers the requests turned away, to wake them (in the order they came)
// as soon as a worker they may take is free.
type namespaceShares struct {
	mu sync.Mutex
	// workers is how many reconciles run at once; limit is a namespace's
	// share of them.
	workers, limit int
	// running holds when each reconcile under way began, per namespace;
	// woken counts the requests sent on wake that have not come back yet.
	// total counts both.
	running map[string]map[uint64]time.Time
	woken   map[string]int
	total   int
	lastID  uint64
	// pace is a moving average of the namespace's reconciles' durations,
	// as of its last reconcile.
	pace    map[string]pace
	waiting map[string][]types.NamespacedName
	queued  map[types.NamespacedName]bool
	// wake is watched by the kind's controller: a request sent on it is
	// reconciled again.
	wake chan event.GenericEvent
	// now is the time the reconciles' durations are measured with: the
	// work's own, whatever the clock of the reconcilers' logic.
	now func() time.Time
}

// newNamespaceShares lets one namespace hold a quarter of workers, at least
// one, and borrow more as namespaceShares says.
func newNamespaceShares(workers int) *namespaceShares {
	if workers <= 0 {
		workers = defaultWorkers
	}
	return &namespaceShares{
		workers: workers,
		limit:   max(1, workers/4),
		running: map[string]map[uint64]time.Time{},
		woken:   map[string]int{},
		pace:    map[string]pace{},
		waiting: map[string][]types.NamespacedName{},
		queued:  map[types.NamespacedName]bool{},
		wake:    make(chan event.GenericEvent, 1024),
		now:     time.Now,
	}
}

// take counts a reconcile of req's namespace in, unless the namespace holds
// its share already and may not borrow: req then waits to be woken. give,
// called once the reconcile ends, counts it out.
func (s *namespaceShares) take(req types.NamespacedName) (give func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := req.Namespace
	if s.woken[ns] > 0 {
		// Whether or not this is the request woken, one of the workers
		// kept for the namespace's woken requests is taken now.
		if s.woken[ns]--; s.woken[ns] == 0 {
			delete(s.woken, ns)
		}
		s.total--
	}
	if s.room(ns) <= 0 {
		if !s.queued[req] {
			s.queued[req] = true
			s.waiting[ns] = append(s.waiting[ns], req)
		}
		return nil, false
	}
	if s.running[ns] == nil {
		s.running[ns] = map[uint64]time.Time{}
	}
	s.lastID++
	id := s.lastID
	s.running[ns][id] = s.now()
	s.total++
	return func() { s.give(ns, id) }, true
}

// room is how many more reconciles of namespace may start now, counting
// the requests woken for it as started: what is left of its share, or, if
// it is quick, the idle workers less a share kept for the others, up to
// half the workers in all. Borrowed workers cannot be taken back: a
// namespace whose reconciles turn slow all at once (its store hangs) keeps
// what it borrowed until their deadlines, and half stays for the others.
func (s *namespaceShares) room(namespace string) int {
	held := len(s.running[namespace]) + s.woken[namespace]
	own := s.limit - held
	if s.quick(namespace) {
		return max(own, min(s.workers-s.limit-s.total, s.workers/2-held))
	}
	return own
}

// quick tells a namespace whose reconciles took under quickReconcile on
// average, none of those under way longer: one it borrows comes back soon.
// A namespace of unknown pace is not quick.
func (s *namespaceShares) quick(namespace string) bool {
	p, ok := s.pace[namespace]
	now := s.now()
	if !ok || p.average >= quickReconcile || now.Sub(p.at) > paceMemory {
		return false
	}
	for _, began := range s.running[namespace] {
		if now.Sub(began) >= quickReconcile {
			return false
		}
	}
	return true
}

// pace is how long a namespace's reconciles take, and when it was known.
type pace struct {
	average time.Duration
	at      time.Time
}

// give counts the reconcile id of namespace out, and wakes as many waiting
// requests as may now start, of the namespaces that hold the fewest
// workers first.
func (s *namespaceShares) give(namespace string, id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	took := s.now().Sub(s.running[namespace][id])
	if delete(s.running[namespace], id); len(s.running[namespace]) == 0 {
		delete(s.running, namespace)
	}
	s.total--
	now := s.now()
	if p, ok := s.pace[namespace]; ok && now.Sub(p.at) <= paceMemory {
		s.pace[namespace] = pace{average: p.average - p.average/4 + took/4, at: now}
	} else {
		s.pace[namespace] = pace{average: took, at: now}
	}
	if len(s.pace) > 4*s.workers {
		// The namespaces gone quiet are forgotten.
		maps.DeleteFunc(s.pace, func(_ string, p pace) bool { return now.Sub(p.at) > paceMemory })
	}
	held := func(ns string) int { return len(s.running[ns]) + s.woken[ns] }
	order := slices.Sorted(maps.Keys(s.waiting))
	slices.SortStableFunc(order, func(x, y string) int { return cmp.Compare(held(x), held(y)) })
	for _, ns := range order {
		for len(s.waiting[ns]) > 0 && s.room(ns) > 0 {
			if !s.wakeNext(ns) {
				return // the channel is full: the safety requeues bring them back
			}
		}
	}
}

// wakeNext wakes the request of namespace that has waited longest, unless
// the wake channel is full.
func (s *namespaceShares) wakeNext(namespace string) bool {
	waiting := s.waiting[namespace]
	next := waiting[0]
	select {
	case s.wake <- event.GenericEvent{Object: &metav1.PartialObjectMetadata{
		ObjectMeta: metav1.ObjectMeta{Namespace: next.Namespace, Name: next.Name}}}:
	default:
		return false
	}
	if s.waiting[namespace] = waiting[1:]; len(s.waiting[namespace]) == 0 {
		delete(s.waiting, namespace)
	}
	delete(s.queued, next)
	s.woken[namespace]++
	s.total++
	return true
}

// Watchdog notices workers that are stuck: its Check, the manager's liveness
// probe, fails while a reconcile has run longer than any of its deadlines
// allow, which only a wedged process does. The kubelet then restarts it.
// Make one per process and give it to every reconciler; nil watches nothing.
type Watchdog struct {
	mu      sync.Mutex
	clock   clock.PassiveClock
	next    uint64
	running map[uint64]time.Time
	// limit is stuckAfter(the upload timeout); tests shorten it.
	limit time.Duration
}

// NewWatchdog returns a Watchdog on the real clock for uploads bounded by
// uploadTimeout (the manager's --upload-timeout).
func NewWatchdog(uploadTimeout time.Duration) *Watchdog {
	return &Watchdog{clock: clock.RealClock{}, running: map[uint64]time.Time{}, limit: stuckAfter(uploadTimeout)}
}

// stuckAfter is how long a reconcile may run before the worker running it
// counts as stuck: its deadline, then an upload sent just before it and the
// record of its answer.
func stuckAfter(uploadTimeout time.Duration) time.Duration {
	return reconcileTimeout + ShutdownGraceFor(uploadTimeout) + time.Minute
}

// begin records a reconcile that starts; the function it returns records
// its end.
func (w *Watchdog) begin() (end func()) {
	if w == nil {
		return func() {}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	id := w.next
	w.next++
	w.running[id] = w.clock.Now()
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.running, id)
	}
}

// Check implements healthz.Checker.
func (w *Watchdog) Check(*http.Request) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock.Now()
	for _, started := range w.running {
		if ran := now.Sub(started); ran > w.limit {
			return fmt.Errorf("a reconcile has run for %s, longer than its deadlines allow (%s): a worker is stuck", ran.Round(time.Second), w.limit)
		}
	}
	return nil
}
