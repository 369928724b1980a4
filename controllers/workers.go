package controllers

import (
	"fmt"
	"net/http"
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
// its calls' deadlines allow: no namespace may hold more than a quarter of
// them, so that the others' objects go on being reconciled.

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
// remembers the requests turned away, to wake one of them (in the order
// they came) as soon as their namespace gives a share back.
type namespaceShares struct {
	mu      sync.Mutex
	limit   int
	running map[string]int
	waiting map[string][]types.NamespacedName
	queued  map[types.NamespacedName]bool
	// wake is watched by the kind's controller: a request sent on it is
	// reconciled again.
	wake chan event.GenericEvent
}

// newNamespaceShares lets one namespace hold a quarter of workers, at least
// one.
func newNamespaceShares(workers int) *namespaceShares {
	if workers <= 0 {
		workers = defaultWorkers
	}
	return &namespaceShares{
		limit:   max(1, workers/4),
		running: map[string]int{},
		waiting: map[string][]types.NamespacedName{},
		queued:  map[types.NamespacedName]bool{},
		wake:    make(chan event.GenericEvent, 1024),
	}
}

// take counts a reconcile of req's namespace in, unless the namespace holds
// its share already: req then waits to be woken.
func (s *namespaceShares) take(req types.NamespacedName) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[req.Namespace] >= s.limit {
		if !s.queued[req] {
			s.queued[req] = true
			s.waiting[req.Namespace] = append(s.waiting[req.Namespace], req)
		}
		return false
	}
	s.running[req.Namespace]++
	return true
}

// give counts a reconcile of namespace out, and wakes the request of the
// namespace that has waited longest.
func (s *namespaceShares) give(namespace string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[namespace]--; s.running[namespace] <= 0 {
		delete(s.running, namespace)
	}
	waiting := s.waiting[namespace]
	if len(waiting) == 0 {
		return
	}
	next := waiting[0]
	if s.waiting[namespace] = waiting[1:]; len(s.waiting[namespace]) == 0 {
		delete(s.waiting, namespace)
	}
	delete(s.queued, next)
	select {
	case s.wake <- event.GenericEvent{Object: &metav1.PartialObjectMetadata{
		ObjectMeta: metav1.ObjectMeta{Namespace: next.Namespace, Name: next.Name}}}:
	default: // full: its safety requeue brings it back
	}
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
