package controllers

import (
	"context"
	"errors"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/jitter"
)

// The reconcile frame every kind runs on (after Cluster API's util/patch and
// Flux's runtime): get the object, take the delete path first, make sure of
// the finalizer before the first remote call, run the kind's phases in
// order, classify the failure, write the conditions, and patch status and
// metadata once, with the optimistic lock, only when they changed. A kind is
// its phases and a summary of its state; nothing else is written per kind.

// phase is one step of a reconcile. It returns when it wants to come back
// (zero for no wish) or a failure, which ends the reconcile: the frame keeps
// the soonest wish of all the phases that ran.
type phase[S any] func(ctx context.Context, s S) (ctrl.Result, error)

// errStaleCache means the cached object is older than the API server's:
// nothing is decided on it, and it is read again shortly.
var errStaleCache = errors.New("the cached object is stale")

// errStopping means the reconcile's context ended (the manager is stopping,
// or the reconcile ran out of time) before a remote write was started:
// nothing was sent and nothing is written.
var errStopping = errors.New("the reconcile was cut short before a remote write")

// sendContext is the context of a remote write (an upload, a create).
// Until send is called, the reconcile's context ends it too: the manager
// began to stop, and nothing was sent yet, so nothing is (send then returns
// errStopping). From send on it is detached from the reconcile's context, so
// that a write once sent is not abandoned half-way (which would make its
// outcome unknown), and ends only at its own deadline.
func sendContext(ctx context.Context, timeout time.Duration) (_ context.Context, send func() error, cancel context.CancelFunc) {
	sendCtx, cancel := context.WithTimeout(detached(ctx), timeout)
	stop := context.AfterFunc(ctx, cancel)
	send = func() error {
		if !stop() {
			return errStopping
		}
		return nil
	}
	return sendCtx, send, cancel
}

// detached keeps ctx's values (the logger) but not its cancellation, for the
// writes that record what a remote call did.
func detached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// kind is what the frame needs to know of one kind of object.
type kind[T client.Object, S any] struct {
	// newObject returns an empty object of the kind.
	newObject func() T
	// conditions are the object's Ready, Reconciling and Stalled.
	conditions func(T) kstatusConditions
	// statusOf returns the object's status, to tell whether it changed.
	statusOf func(T) any
	// finalizer is added before any phase runs and removed once the delete
	// phases succeed without asking to come back. Empty for a kind that owns
	// nothing outside the cluster: such an object is left alone once deleted.
	finalizer string
	// newScope builds what the phases of one reconcile share.
	newScope func(*objectScope[T]) S
	// phases reconcile a live object, in order.
	phases []phase[S]
	// deletePhases clean up what belongs to a deleted object outside the
	// cluster.
	deletePhases []phase[S]
	// summarize says, after the phases succeeded, whether the object is in
	// the state its spec asks for (Ready) or why it is still in progress.
	summarize func(S) summary
	// gone, optional, forgets what is kept in memory about an object that
	// no longer exists.
	gone func(ctrl.Request)
	// outside, optional, forgets what this process kept of an object that
	// now belongs to another shard.
	outside func(ctrl.Request)
	// patched, optional, sees every status write that succeeded.
	patched func(before, after T)
}

// summary is the state of an object whose phases succeeded.
type summary struct {
	ready           bool
	reason, message string
}

// objectScope is the object of one reconcile and the base its patches are
// computed against.
type objectScope[T client.Object] struct {
	obj T
	// base is the object as last written to (or read from) the API server.
	base T
	now  time.Time
	log  logr.Logger
	c    client.Client
}

// saveStatus writes the status at once, before a remote call that must be
// known to have been decided (an upload intent), or right after one whose
// result must not be lost (an activity id). With lock, a status decided on a
// stale copy fails with errStaleCache instead of overwriting a newer one.
func (s *objectScope[T]) saveStatus(ctx context.Context, lock bool) error {
	opts := []client.MergeFromOption{}
	if lock {
		opts = append(opts, client.MergeFromWithOptimisticLock{})
	}
	if err := s.c.Status().Patch(ctx, s.obj, client.MergeFromWithOptions(s.base, opts...)); err != nil {
		if lock && apierrors.IsConflict(err) {
			return errStaleCache
		}
		return err
	}
	s.base = s.obj.DeepCopyObject().(T)
	return nil
}

// saveResult writes at once what a remote call just answered (an activity
// id, a refusal, an unknown outcome): lost, it would make the call look like
// one of unknown outcome, or be made again. So it is written without the
// optimistic lock (a concurrent change of the object's metadata must not
// make it fail; only this reconcile writes the object's status), on ctx, a
// recordContext that neither the manager's stop nor the reconcile's timeout
// cancels, and retried for as long as the API server may be restarting or
// a leader changing. If it still fails, the answer (keysAndValues) is
// logged at Info: the last place it is kept.
func (s *objectScope[T]) saveResult(ctx context.Context, keysAndValues ...any) error {
	delay := recordRetryMin
	for {
		err := s.saveStatus(ctx, false)
		if err == nil || apierrors.IsNotFound(err) { // gone: nothing to record on
			return err
		}
		if !mayPassSoon(err) {
			// Refused (forbidden, invalid): the same write fails again.
			s.log.Info("the answer of a remote call could not be recorded in the object's status", append(keysAndValues, "error", err.Error())...)
			return err
		}
		select {
		case <-ctx.Done():
			s.log.Info("the answer of a remote call could not be recorded in the object's status", append(keysAndValues, "error", err.Error())...)
			return err
		case <-time.After(delay + jitter.Up(delay/10)):
		}
		delay = min(2*delay, recordRetryMax)
	}
}

// recordContext is the context of the writes that record what a remote call
// answered: detached from the reconcile's, with its own deadline.
func recordContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(detached(ctx), recordTimeout)
}

// mayPassSoon tells whether a failed write to the API server may pass if
// made again: the server was out of reach, restarting, overloaded or timed
// out. A refusal (forbidden, invalid, conflict) would only be met again.
func mayPassSoon(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true // not an answer of the API server: the network
	}
	return apierrors.IsServiceUnavailable(err) || apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err) ||
		apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsUnexpectedServerError(err)
}

// saveMetadata writes labels, annotations and finalizers at once, with the
// optimistic lock.
func (s *objectScope[T]) saveMetadata(ctx context.Context) error {
	if err := s.c.Patch(ctx, s.obj, client.MergeFromWithOptions(s.base, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	s.base = s.obj.DeepCopyObject().(T)
	return nil
}

// frame runs the reconciles of one kind.
type frame[T client.Object, S any] struct {
	kind     kind[T, S]
	client   client.Client
	clock    clock.PassiveClock
	backoff  *transientBackoff
	shares   *namespaceShares
	watchdog *Watchdog
	shard    labels.Selector
}

// frameOptions are what a reconciler gives its frame besides the kind.
type frameOptions struct {
	clock   clock.PassiveClock
	backoff *transientBackoff
	// workers is the kind's MaxConcurrentReconciles, of which one namespace
	// may hold a share.
	workers  int
	watchdog *Watchdog
	// shard, if set, is the --watch-label-selector: objects it does not
	// match belong to another shard and are left alone.
	shard labels.Selector
}

func newFrame[T client.Object, S any](k kind[T, S], c client.Client, o frameOptions) *frame[T, S] {
	if o.clock == nil {
		o.clock = clock.RealClock{}
	}
	return &frame[T, S]{kind: k, client: c, clock: o.clock, backoff: o.backoff,
		shares: newNamespaceShares(o.workers), watchdog: o.watchdog, shard: o.shard}
}

// woken is the source of the requests the frame turned away and wakes
// again: every kind's controller watches it.
func (f *frame[T, S]) woken() source.Source {
	return source.Channel(f.shares.wake, &handler.EnqueueRequestForObject{})
}

// wake asks for a reconcile of the object with key soon, through woken: for
// an object another's reconcile wrote the status of, which its own watch
// does not pass. A full channel drops the wish; the object's own requeue
// brings it back.
func (f *frame[T, S]) wake(key types.NamespacedName) {
	select {
	case f.shares.wake <- event.GenericEvent{Object: &metav1.PartialObjectMetadata{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}}:
	default:
	}
}

// Reconcile implements reconcile.Reconciler.
func (f *frame[T, S]) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	// Before anything is read: a namespace that holds its share of the
	// workers (its calls are slow) waits its turn without costing a read.
	give, ok := f.shares.take(req.NamespacedName)
	if !ok {
		return ctrl.Result{RequeueAfter: shareRequeue + jitter.Up(shareRequeue)}, nil
	}
	defer give()
	defer f.watchdog.begin()()

	log := ctrl.LoggerFrom(ctx)
	obj := f.kind.newObject()
	if err := f.client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			f.backoff.reset(req)
			if f.kind.gone != nil {
				f.kind.gone(req)
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !inShard(f.shard, obj) {
		// Another shard's: it reconciles it.
		if f.kind.outside != nil {
			f.kind.outside(req)
		}
		return ctrl.Result{}, nil
	}
	os := &objectScope[T]{obj: obj, base: obj.DeepCopyObject().(T), now: f.clock.Now(), log: log, c: f.client}

	deleting := !obj.GetDeletionTimestamp().IsZero()
	fin := f.kind.finalizer
	switch {
	case deleting && (fin == "" || !controllerutil.ContainsFinalizer(obj, fin)):
		return ctrl.Result{}, nil // nothing of ours is left to clean up
	case !deleting && fin != "" && !controllerutil.ContainsFinalizer(obj, fin):
		// Before the first remote call, so that nothing is ever created
		// that the delete path does not know of.
		controllerutil.AddFinalizer(obj, fin)
		if err := os.saveMetadata(ctx); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: conflictRequeue}, nil
			}
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}

	scope := f.kind.newScope(os)
	phases := f.kind.phases
	if deleting {
		phases = f.kind.deletePhases
	}
	var err error
	for _, p := range phases {
		var r ctrl.Result
		r, err = p(ctx, scope)
		result = minResult(result, r)
		if err != nil {
			break
		}
	}
	if errors.Is(err, errStaleCache) || errors.Is(err, errStopping) {
		// Decided on a stale copy, or cut short: write nothing, read it
		// again shortly.
		return ctrl.Result{RequeueAfter: conflictRequeue}, nil
	}
	result = f.finish(ctx, req, os, scope, err, result)
	if deleting && err == nil && result.IsZero() {
		controllerutil.RemoveFinalizer(obj, fin)
	}
	return f.patch(ctx, os, result)
}

// finish sets the conditions from the outcome of the phases and returns when
// to reconcile again. It is the one place that turns a classified failure
// into conditions and a requeue.
func (f *frame[T, S]) finish(ctx context.Context, req ctrl.Request, os *objectScope[T], scope S, err error, wish ctrl.Result) ctrl.Result {
	log := ctrl.LoggerFrom(ctx)
	conditions := f.kind.conditions(os.obj)
	if err == nil {
		f.backoff.reset(req)
		s := f.kind.summarize(scope)
		if s.ready {
			conditions.ready(s.reason, s.message)
		} else {
			conditions.reconciling(s.reason, s.message)
		}
		return wish
	}

	failure := classify(err)
	switch failure.kind {
	case failureStalled:
		f.backoff.reset(req)
		if previous := meta.FindStatusCondition(*f.kind.conditions(os.base).conditions, importsv1alpha1.ConditionStalled); previous == nil ||
			previous.Status != metav1.ConditionTrue || previous.Reason != failure.reason {
			log.Info("stalled", "reason", failure.reason, "message", failure.message)
		}
		conditions.stalled(failure.reason, failure.message)
		return minResult(ctrl.Result{RequeueAfter: failure.recheck}, wish)
	case failureWaiting:
		log.V(1).Info("waiting", "reason", failure.reason, "until", failure.retryAt)
		conditions.reconciling(failure.reason, failure.message)
		return minResult(requeueAt(os.now, failure.retryAt), wish)
	default:
		delay := f.backoff.next(req)
		log.Info("retrying after a transient failure", "reason", failure.reason, "after", delay, "error", err.Error())
		conditions.reconciling(failure.reason, failure.message)
		return minResult(ctrl.Result{RequeueAfter: delay}, wish)
	}
}

// patch writes what the reconcile changed: the status first, then the
// metadata (a finalizer removed last, since the object may go with it),
// each with the optimistic lock, each only if it changed. A conflict means
// another writer came first: the object is reconciled again shortly.
func (f *frame[T, S]) patch(ctx context.Context, os *objectScope[T], result ctrl.Result) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	desired := os.obj.DeepCopyObject().(T)
	handle := func(err error) (ctrl.Result, error) {
		switch {
		case apierrors.IsConflict(err):
			log.V(1).Info("the object changed while it was reconciled; reconciling again")
			return ctrl.Result{RequeueAfter: conflictRequeue}, nil
		case apierrors.IsNotFound(err):
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}

	if !equality.Semantic.DeepEqual(f.kind.statusOf(os.base), f.kind.statusOf(desired)) {
		written := desired.DeepCopyObject().(T)
		if err := f.client.Status().Patch(ctx, written, client.MergeFromWithOptions(os.base, client.MergeFromWithOptimisticLock{})); err != nil {
			return handle(err)
		}
		if f.kind.patched != nil {
			f.kind.patched(os.base, written)
		}
		os.base.SetResourceVersion(written.GetResourceVersion())
		desired.SetResourceVersion(written.GetResourceVersion())
	}
	if metadataChanged(os.base, desired) {
		if err := f.client.Patch(ctx, desired, client.MergeFromWithOptions(os.base, client.MergeFromWithOptimisticLock{})); err != nil {
			return handle(err)
		}
	}
	return result, nil
}

// metadataChanged tells whether a reconcile changed what it may change of
// an object's metadata.
func metadataChanged(before, after client.Object) bool {
	return !equality.Semantic.DeepEqual(before.GetFinalizers(), after.GetFinalizers()) ||
		!equality.Semantic.DeepEqual(before.GetAnnotations(), after.GetAnnotations()) ||
		!equality.Semantic.DeepEqual(before.GetLabels(), after.GetLabels())
}
