package controllers

import (
	"context"
	"errors"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/importfile"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/source"
)

// Field indexes on ProfileImports, to find the imports of a ConfigMap or of
// an account that changed.
const (
	importConfigMapIndex = ".spec.source.configMapRef.name"
	importSecretIndex    = ".spec.source.objectStore.secretRef.name"
	importAccountIndex   = ".spec.accountRef.name"
)

// Defaults of the reconciler's tunables.
const (
	defaultPollMin = 5 * time.Second
	defaultPollMax = 3 * time.Minute
	// accountWaitRequeue is a safety net for an import waiting for its
	// account to turn Ready: the account's watch normally wakes it first.
	accountWaitRequeue   = time.Minute
	defaultSourceRecheck = 2 * time.Minute
)

// ProfileImportReconciler runs ProfileImports: it validates the file,
// reserves an upload slot in the account's ledger, uploads the file at most
// once and polls the job until it ends.
type ProfileImportReconciler struct {
	// Client reads ProfileImports and accounts from the cache and writes
	// their status.
	client.Client
	// APIReader reads from the API server: ConfigMaps and Secrets (never
	// cached), the account's ledger, and a ProfileImport whose cached copy
	// might be stale where that matters for at-most-once.
	APIReader client.Reader
	// Recorder records events on ProfileImports.
	Recorder recorder.EventRecorder
	// Clients builds the Localytics clients; share it with the account
	// controller so that the budgets of a key are counted once.
	Clients *LocalyticsClients
	// Clock tells the time; nil means real time.
	Clock clock.PassiveClock
	// BackoffBase and BackoffMax bound the backoff after transient
	// failures; zero means 1s and 5m.
	BackoffBase, BackoffMax time.Duration
	// PollMin and PollMax bound the interval between two status requests
	// for a job: soon after submission, then backing off towards PollMax.
	// Zero means 5s and 3m.
	PollMin, PollMax time.Duration
	// MaxConcurrentReconciles is how many imports are reconciled at once;
	// zero means 2. An upload holds a worker while the file is sent.
	MaxConcurrentReconciles int
	// SourceOptions are the settings for opening sources: whether object
	// stores may be read with the operator's own credentials.
	SourceOptions source.Options
	// SourceRecheck is how often an import stalled by its object store (a
	// missing object, refused credentials) looks again: that is fixed
	// outside the cluster, where no watch sees it. Zero means 2m.
	SourceRecheck time.Duration

	backoff *transientBackoff
}

// SetupWithManager registers the controller, its indexes and its watches.
//
// ConfigMaps hold the import files. Clusters hold tens of thousands of them
// and the operator reads a few, so the manager does not cache them
// (Cache.DisableFor in main.go): their data is read from the API server when
// an import is reconciled (APIReader, internal/source). A ConfigMap created
// or changed is noticed through a metadata-only watch, which caches names and
// resourceVersions but never the data, and is mapped to the imports that name
// it through a field index on spec.source.configMapRef.name. The Secrets of
// object stores are read and watched the same way (index on
// spec.source.objectStore.secretRef.name); objects in a store are not
// watched: an import stalled by its store looks again every SourceRecheck.
//
// Accounts wake the imports that wait for them: an account turning Ready, or
// an upload slot opening in its ledger.
func (r *ProfileImportReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.PollMin <= 0 {
		r.PollMin = defaultPollMin
	}
	if r.PollMax < r.PollMin {
		r.PollMax = max(defaultPollMax, r.PollMin)
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 2
	}
	if r.SourceRecheck <= 0 {
		r.SourceRecheck = defaultSourceRecheck
	}
	r.backoff = newTransientBackoff(r.BackoffBase, r.BackoffMax)

	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &importsv1alpha1.ProfileImport{}, importConfigMapIndex, func(o client.Object) []string {
		if ref := o.(*importsv1alpha1.ProfileImport).Spec.Source.ConfigMapRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &importsv1alpha1.ProfileImport{}, importSecretIndex, func(o client.Object) []string {
		if store := o.(*importsv1alpha1.ProfileImport).Spec.Source.ObjectStore; store != nil && store.SecretRef != nil {
			return []string{store.SecretRef.Name}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &importsv1alpha1.ProfileImport{}, importAccountIndex, func(o client.Object) []string {
		return []string{o.(*importsv1alpha1.ProfileImport).Spec.AccountRef.Name}
	}); err != nil {
		return err
	}

	// The import's own status writes do not trigger reconciles: the
	// reconciler requeues itself for what it waits for. The retry
	// annotation, which does not change the generation, does.
	return ctrl.NewControllerManagedBy(mgr).
		For(&importsv1alpha1.ProfileImport{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.importsOfConfigMap)).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.importsOfSecret)).
		Watches(&importsv1alpha1.LocalyticsAccount{}, handler.EnqueueRequestsFromMapFunc(r.importsOfAccount),
			builder.WithPredicates(accountMayUnblockImports())).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("profileimport").
		Complete(r)
}

// importsOfConfigMap maps a ConfigMap to the imports that read it and have
// not uploaded yet: a file already uploaded is never read again.
func (r *ProfileImportReconciler) importsOfConfigMap(ctx context.Context, cm client.Object) []reconcile.Request {
	return r.waitingImports(ctx, cm.GetNamespace(), importConfigMapIndex, cm.GetName(), false)
}

// importsOfSecret maps a Secret to the imports whose object store it holds
// the credentials of, and that have not uploaded yet.
func (r *ProfileImportReconciler) importsOfSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	return r.waitingImports(ctx, secret.GetNamespace(), importSecretIndex, secret.GetName(), true)
}

// importsOfAccount maps an account to its imports that wait for it.
func (r *ProfileImportReconciler) importsOfAccount(ctx context.Context, account client.Object) []reconcile.Request {
	return r.waitingImports(ctx, account.GetNamespace(), importAccountIndex, account.GetName(), true)
}

func (r *ProfileImportReconciler) waitingImports(ctx context.Context, namespace, index, name string, skipInvalid bool) []reconcile.Request {
	var imports importsv1alpha1.ProfileImportList
	if err := r.List(ctx, &imports, client.InNamespace(namespace), client.MatchingFields{index: name}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the ProfileImports to wake", "index", index, "name", name)
		return nil
	}
	var requests []reconcile.Request
	for i := range imports.Items {
		pi := &imports.Items[i]
		if pi.Status.ActivityID != "" || isTerminal(pi) || (skipInvalid && pi.Status.Phase == importsv1alpha1.PhaseInvalid) {
			continue
		}
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pi)})
	}
	return requests
}

// accountMayUnblockImports passes the account changes an import may wait
// for. The ledger changes with every reservation, so most updates are
// filtered out: only a slot opening, a change of readiness or of the spec
// (limits, endpoint) wakes the account's imports.
func accountMayUnblockImports() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldAccount, ok1 := e.ObjectOld.(*importsv1alpha1.LocalyticsAccount)
			newAccount, ok2 := e.ObjectNew.(*importsv1alpha1.LocalyticsAccount)
			if !ok1 || !ok2 {
				return false
			}
			if oldAccount.Generation != newAccount.Generation {
				return true
			}
			for _, t := range []string{importsv1alpha1.ConditionReady, importsv1alpha1.ConditionStalled} {
				if conditionStatus(oldAccount.Status.Conditions, t) != conditionStatus(newAccount.Status.Conditions, t) {
					return true
				}
			}
			return len(newAccount.Status.UploadLedger) < len(oldAccount.Status.UploadLedger) ||
				leftOf(newAccount) > leftOf(oldAccount)
		},
	}
}

func conditionStatus(conditions []metav1.Condition, conditionType string) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(conditions, conditionType); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}

func leftOf(account *importsv1alpha1.LocalyticsAccount) int32 {
	if account.Status.UploadsLeft == nil {
		return -1
	}
	return *account.Status.UploadsLeft
}

// importState is what the phases of one reconcile share.
type importState struct {
	pi *importsv1alpha1.ProfileImport
	// before is the object as last written to (or read from) the API
	// server: the base of the next status patch.
	before *importsv1alpha1.ProfileImport
	now    time.Time
	log    logr.Logger

	// Set by reconcileSource.
	report   importfile.Report
	revision string
	// Set by reconcileAccount.
	account *importsv1alpha1.LocalyticsAccount
	api     localytics.Interface

	// result is when the phases want to come back, without a failure.
	result ctrl.Result
	// progress is the Reconciling condition of an import in progress.
	progress *progressNote
	// done stops the remaining phases.
	done bool
}

// progressNote is why an import is still in progress.
type progressNote struct{ reason, message string }

// importPhase is one step of a reconcile. It returns a failure for finish
// to classify, sets st.done when the later phases have nothing to do, and
// merges the time it wants to come back into st.result.
type importPhase func(ctx context.Context, st *importState) error

// errStaleCache means the cached ProfileImport is older than the API
// server's: nothing is decided on it, the import is read again shortly.
var errStaleCache = errors.New("the cached ProfileImport is stale")

// Reconcile reads the import and runs its phases, then writes its status
// once (and, before an upload, the upload intent).
func (r *ProfileImportReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	log := ctrl.LoggerFrom(ctx)
	pi := &importsv1alpha1.ProfileImport{}
	if err := r.Get(ctx, req.NamespacedName, pi); err != nil {
		if apierrors.IsNotFound(err) {
			r.backoff.reset(req)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pi.DeletionTimestamp.IsZero() {
		// A Localytics job cannot be cancelled and nothing else outside the
		// cluster belongs to an import: no finalizer, nothing to clean up.
		return ctrl.Result{}, nil
	}

	st := &importState{pi: pi, before: pi.DeepCopy(), now: r.Clock.Now(), log: log}
	defer func() {
		if retErr != nil || equality.Semantic.DeepEqual(st.before.Status, pi.Status) {
			return
		}
		// Optimistic lock: a status decided on a stale copy of the import
		// (the cache lags behind this reconciler's own writes) must not
		// overwrite a newer one, least of all an activity id.
		err := r.Status().Patch(ctx, pi, client.MergeFromWithOptions(st.before, client.MergeFromWithOptimisticLock{}))
		switch {
		case apierrors.IsConflict(err):
			log.V(1).Info("the import changed while it was reconciled; reconciling again")
			result = ctrl.Result{RequeueAfter: conflictRequeue}
		case apierrors.IsNotFound(err):
			result = ctrl.Result{}
		case err != nil:
			retErr = err
		default:
			recordJobEnd(st.before, pi)
		}
	}()

	if isTerminal(pi) {
		r.reconcileTerminal(pi)
		return ctrl.Result{}, nil
	}

	phases := []importPhase{
		r.reconcileSource,
		r.reconcileAccount,
		r.reconcileUpload,
		r.reconcilePoll,
	}
	var err error
	for _, phase := range phases {
		if err = phase(ctx, st); err != nil || st.done {
			break
		}
	}
	if errors.Is(err, errStaleCache) {
		// Leave the status alone: it was read from a stale cache.
		pi.Status = *st.before.Status.DeepCopy()
		return ctrl.Result{RequeueAfter: conflictRequeue}, nil
	}
	return r.finish(ctx, req, st, err), nil
}

// isTerminal says the job of the import ended: nothing is left to do.
func isTerminal(pi *importsv1alpha1.ProfileImport) bool {
	return pi.Status.ActivityID != "" &&
		(pi.Status.Phase == importsv1alpha1.PhaseCompleted || pi.Status.Phase == importsv1alpha1.PhaseFailed)
}

// setResult merges a wish to come back after d into the state's result.
func (st *importState) setResult(d time.Duration) {
	st.result = minResult(st.result, ctrl.Result{RequeueAfter: max(d, time.Millisecond)})
}
