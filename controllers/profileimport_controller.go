package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	// MaxConcurrentReconciles is how many imports are reconciled at once
	// (a namespace holds a quarter of them, and borrows up to half while
	// its reconciles are quick; see workers.go); zero means 8. An upload
	// holds a worker while the file is sent.
	MaxConcurrentReconciles int
	// Watchdog, if set, watches the reconciles for stuck workers.
	Watchdog *Watchdog
	// Shard, if set, is the manager's --watch-label-selector: this
	// process reconciles only the objects it matches (see ShardLabel).
	Shard labels.Selector
	// SourceOptions are the settings for opening sources: whether object
	// stores may be read with the operator's own credentials, the stores
	// allowed, and which Secrets may be used (SecretPolicy, also for the
	// account's Secret when this controller reads it).
	SourceOptions source.Options
	// UploadTimeout bounds one upload; zero means 10m. An upload of unknown
	// outcome that this process did not see end (it stopped meanwhile) is
	// retried only once it cannot still be in flight.
	UploadTimeout time.Duration
	// SourceRecheck is how often an import stalled by its object store (a
	// missing object, refused credentials) looks again: that is fixed
	// outside the cluster, where no watch sees it. Zero means 2m.
	SourceRecheck time.Duration
	// MaxFileBytes is the largest source file accepted; zero (or more than
	// maxParts uploads of the Localytics limit) means that, 10 GB. A file
	// over its account's upload size goes up in parts. Tests set less.
	MaxFileBytes int64

	frame    *frame[*importsv1alpha1.ProfileImport, *importScope]
	accounts accountResolver
	jobs     sharedJobs
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
	r.PollMin, r.PollMax = pollBounds(r.PollMin, r.PollMax)
	if r.SourceRecheck <= 0 {
		r.SourceRecheck = defaultSourceRecheck
	}
	r.UploadTimeout = orUploadTimeout(r.UploadTimeout)
	r.MaxFileBytes = fileCap(r.MaxFileBytes, maxImportFileBytes)
	r.accounts = accountResolver{cached: r.Client, apiReader: r.APIReader, clients: r.Clients, secrets: r.SourceOptions.SecretPolicy}
	r.frame = newFrame(kind[*importsv1alpha1.ProfileImport, *importScope]{
		newObject:  func() *importsv1alpha1.ProfileImport { return &importsv1alpha1.ProfileImport{} },
		conditions: importConditions,
		statusOf:   func(pi *importsv1alpha1.ProfileImport) any { return &pi.Status },
		newScope: func(os *objectScope[*importsv1alpha1.ProfileImport]) *importScope {
			return &importScope{objectScope: os}
		},
		// A Localytics job cannot be cancelled and nothing else outside the
		// cluster belongs to an import: no finalizer, nothing to clean up.
		phases: []phase[*importScope]{
			r.reconcileTerminal,
			leaveLine,
			r.reconcileSource,
			r.reconcileAccount,
			r.reconcileUpload,
			r.reconcilePoll,
		},
		summarize: summarizeImport,
		patched:   recordJobEnd,
	}, r.Client, frameOptions{clock: r.Clock, backoff: newTransientBackoff(r.BackoffBase, r.BackoffMax),
		workers: r.MaxConcurrentReconciles, watchdog: r.Watchdog, shard: r.Shard})

	if err := indexReferences(ctx, mgr.GetFieldIndexer(), &importsv1alpha1.ProfileImport{}, func(o client.Object) (importsv1alpha1.Source, string) {
		pi := o.(*importsv1alpha1.ProfileImport)
		return pi.Spec.Source, pi.Spec.AccountRef.Name
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
			builder.WithPredicates(accountChanged())).
		Watches(&importsv1alpha1.LocalyticsAccount{}, handler.EnqueueRequestsFromMapFunc(r.importsForFreedSlots),
			builder.WithPredicates(accountFreedSlots())).
		// An import joining or leaving the line, or moving in it, makes the
		// imports whose place shows wrong count it again (uploadqueue.go).
		Watches(&importsv1alpha1.ProfileImport{}, handler.EnqueueRequestsFromMapFunc(r.placesToFix),
			builder.WithPredicates(lineChanged())).
		WatchesRawSource(r.frame.woken()).
		WithOptions(workerOptions(r.MaxConcurrentReconciles)).
		Named("profileimport").
		Complete(r)
}

// importsOfConfigMap maps a ConfigMap to the imports that read it and have
// not uploaded yet: a file already uploaded is never read again.
func (r *ProfileImportReconciler) importsOfConfigMap(ctx context.Context, cm client.Object) []reconcile.Request {
	return r.waitingImports(ctx, cm.GetNamespace(), sourceConfigMapIndex, cm.GetName(), false)
}

// importsOfSecret maps a Secret to the imports whose object store it holds
// the credentials of, and that have not uploaded yet.
func (r *ProfileImportReconciler) importsOfSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	return r.waitingImports(ctx, secret.GetNamespace(), sourceSecretIndex, secret.GetName(), true)
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
		if notUploaded(pi, skipInvalid) {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pi)})
		}
	}
	return requests
}

// notUploaded tells an import that has not uploaded yet, and so may wait
// for its account or its source; with skipInvalid, not one whose file was
// refused (that waits for its file only).
func notUploaded(pi *importsv1alpha1.ProfileImport, skipInvalid bool) bool {
	return pi.Status.ActivityID == "" && (!skipInvalid || pi.Status.Phase != importsv1alpha1.PhaseInvalid)
}

// accountChanged passes the account changes every waiting import may wait
// for: its spec (limits, endpoint), its readiness, or the ledger of its key.
func accountChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldAccount, ok1 := e.ObjectOld.(*importsv1alpha1.LocalyticsAccount)
			newAccount, ok2 := e.ObjectNew.(*importsv1alpha1.LocalyticsAccount)
			return ok1 && ok2 && (oldAccount.Generation != newAccount.Generation || readinessChanged(oldAccount, newAccount) ||
				oldAccount.Status.KeyHash != newAccount.Status.KeyHash)
		},
	}
}

// accountFreedSlots passes the ledger changes that free slots. The ledger
// changes with every reservation, so most of its updates are filtered out.
func accountFreedSlots() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		DeleteFunc: func(event.DeleteEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldAccount, ok1 := e.ObjectOld.(*importsv1alpha1.LocalyticsAccount)
			newAccount, ok2 := e.ObjectNew.(*importsv1alpha1.LocalyticsAccount)
			if !ok1 || !ok2 || oldAccount.Generation != newAccount.Generation || readinessChanged(oldAccount, newAccount) {
				return false // accountChanged's
			}
			return len(newAccount.Status.UploadLedger) < len(oldAccount.Status.UploadLedger) ||
				leftOf(newAccount) > leftOf(oldAccount)
		},
	}
}

// readinessChanged tells whether an account turned Ready or Stalled, or
// stopped being either.
func readinessChanged(oldAccount, newAccount *importsv1alpha1.LocalyticsAccount) bool {
	for _, t := range []string{importsv1alpha1.ConditionReady, importsv1alpha1.ConditionStalled} {
		if conditionStatus(oldAccount.Status.Conditions, t) != conditionStatus(newAccount.Status.Conditions, t) {
			return true
		}
	}
	return false
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

// importScope is what the phases of one reconcile share.
type importScope struct {
	*objectScope[*importsv1alpha1.ProfileImport]

	// Set by reconcileSource: the validation of the file at revision.
	report   importfile.Report
	revision string
	// Set by reconcileAccount.
	account *importsv1alpha1.LocalyticsAccount
	api     localytics.Interface
	// keyHash names the ledger of api's key.
	keyHash string
}

// Reconcile runs the import's phases on the shared frame.
func (r *ProfileImportReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.frame.Reconcile(ctx, req)
}

// isTerminal says the job of the import ended: nothing is left to do.
func isTerminal(pi *importsv1alpha1.ProfileImport) bool {
	return pi.Status.ActivityID != "" &&
		(pi.Status.Phase == importsv1alpha1.PhaseCompleted || pi.Status.Phase == importsv1alpha1.PhaseFailed)
}
