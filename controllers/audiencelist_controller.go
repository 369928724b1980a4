package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
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

// AudienceListReconciler keeps AudienceLists in sync with Localytics: it
// creates the list (A1), replaces it when its source changes (A3), renames it
// when audienceName changes (A4), deletes it with the object (A5), adopts an
// existing one, and repairs lists deleted or renamed outside the cluster,
// found with one list-by-app call (A6) per app and drift interval.
type AudienceListReconciler struct {
	// Client reads AudienceLists and accounts from the cache and writes
	// their status.
	client.Client
	// APIReader reads ConfigMaps and Secrets from the API server (never
	// cached).
	APIReader client.Reader
	// Recorder records events on AudienceLists.
	Recorder recorder.EventRecorder
	// Clients builds the Localytics clients; share it with the other
	// controllers, so that a key's audience budget is counted once.
	Clients *LocalyticsClients
	// Clock tells the time; nil means real time.
	Clock clock.PassiveClock
	// BackoffBase and BackoffMax bound the backoff after transient
	// failures; zero means 1s and 5m.
	BackoffBase, BackoffMax time.Duration
	// PollMin and PollMax bound the interval between two status requests
	// (A2) for a list's job; zero means 5s and 3m.
	PollMin, PollMax time.Duration
	// DriftInterval is how often a list is compared with what Localytics
	// holds; zero means 10m. One list-by-app call serves every list of the
	// app in an interval.
	DriftInterval time.Duration
	// UnknownCreateWait is how long, after a create whose answer was lost,
	// the list is looked for by name before it is created again; zero
	// means 10m. A create's list appears only once its job completed.
	UnknownCreateWait time.Duration
	// UploadTimeout bounds one create or replace; zero means 10m.
	UploadTimeout time.Duration
	// MaxConcurrentReconciles is how many lists are reconciled at once
	// (a namespace holds a quarter of them, and borrows up to half while its reconciles are quick; see workers.go); zero means 8.
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
	// SourceRecheck is how often a list stalled by its object store looks
	// again; zero means 2m.
	SourceRecheck time.Duration
	// MaxFileBytes is the largest source file accepted; zero (or more than
	// the Localytics limit) means the Localytics limit, 100 MB. Tests set
	// less.
	MaxFileBytes int64

	frame    *frame[*importsv1alpha1.AudienceList, *listScope]
	accounts accountResolver
	lists    *appLists
}

// listScope is what the phases of one AudienceList reconcile share.
type listScope struct {
	*objectScope[*importsv1alpha1.AudienceList]

	// Set by reconcileAccount.
	account *importsv1alpha1.LocalyticsAccount
	api     localytics.Interface
}

// app names the list's app in the shared listings.
func (s *listScope) app() appKey {
	return appKey{account: types.NamespacedName{Namespace: s.obj.Namespace, Name: s.obj.Spec.AccountRef.Name}, app: s.obj.Spec.AppID}
}

// SetupWithManager registers the controller, its indexes and its watches.
//
// ConfigMaps and Secrets are read uncached and watched by metadata only, as
// for ProfileImports (see ProfileImportReconciler.SetupWithManager); a list
// whose ConfigMap changes is replaced. Accounts wake the lists that wait for
// them. The deletion of a list wakes the lists of its app that wait for room
// under the per-app cap.
func (r *AudienceListReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	r.PollMin, r.PollMax = pollBounds(r.PollMin, r.PollMax)
	if r.DriftInterval <= 0 {
		r.DriftInterval = defaultDriftInterval
	}
	if r.UnknownCreateWait <= 0 {
		r.UnknownCreateWait = defaultUnknownCreateWait
	}
	if r.SourceRecheck <= 0 {
		r.SourceRecheck = defaultSourceRecheck
	}
	r.UploadTimeout = orUploadTimeout(r.UploadTimeout)
	r.MaxFileBytes = fileCap(r.MaxFileBytes, maxUploadBytes)
	r.accounts = accountResolver{cached: r.Client, apiReader: r.APIReader, clients: r.Clients, secrets: r.SourceOptions.SecretPolicy}
	r.lists = r.Clients.lists
	r.frame = newFrame(kind[*importsv1alpha1.AudienceList, *listScope]{
		newObject:  func() *importsv1alpha1.AudienceList { return &importsv1alpha1.AudienceList{} },
		conditions: listConditions,
		statusOf:   func(al *importsv1alpha1.AudienceList) any { return &al.Status },
		finalizer:  importsv1alpha1.AudienceListFinalizer,
		newScope: func(os *objectScope[*importsv1alpha1.AudienceList]) *listScope {
			return &listScope{objectScope: os}
		},
		phases: []phase[*listScope]{
			r.reconcileSource,
			r.reconcileAccount,
			r.reconcileJob,
			r.reconcileDrift,
			r.reconcileCreate,
			r.reconcileContent,
			r.reconcileName,
		},
		deletePhases: []phase[*listScope]{
			r.reconcileDelete,
		},
		summarize: summarizeList,
	}, r.Client, frameOptions{clock: r.Clock, backoff: newTransientBackoff(r.BackoffBase, r.BackoffMax),
		workers: r.MaxConcurrentReconciles, watchdog: r.Watchdog, shard: r.Shard})

	if err := indexReferences(ctx, mgr.GetFieldIndexer(), &importsv1alpha1.AudienceList{}, func(o client.Object) (importsv1alpha1.Source, string) {
		al := o.(*importsv1alpha1.AudienceList)
		return al.Spec.Source, al.Spec.AccountRef.Name
	}); err != nil {
		return err
	}

	// The list's own status writes do not trigger reconciles: it requeues
	// itself for its jobs and its drift checks.
	return ctrl.NewControllerManagedBy(mgr).
		For(&importsv1alpha1.AudienceList{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&importsv1alpha1.AudienceList{}, handler.EnqueueRequestsFromMapFunc(r.listsWaitingForRoom),
			builder.WithPredicates(deletedOnly())).
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.listsOf(sourceConfigMapIndex))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.listsOf(sourceSecretIndex))).
		Watches(&importsv1alpha1.LocalyticsAccount{}, handler.EnqueueRequestsFromMapFunc(r.listsOf(accountRefIndex)),
			builder.WithPredicates(accountReadinessChanged())).
		WatchesRawSource(r.frame.woken()).
		WithOptions(workerOptions(r.MaxConcurrentReconciles)).
		Named("audiencelist").
		Complete(r)
}

// Reconcile runs the list's phases on the shared frame.
func (r *AudienceListReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.frame.Reconcile(ctx, req)
}

// listsOf maps an object to the lists that name it through index.
func (r *AudienceListReconciler) listsOf(index string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var lists importsv1alpha1.AudienceListList
		if err := r.List(ctx, &lists, client.InNamespace(o.GetNamespace()), client.MatchingFields{index: o.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing the AudienceLists to wake", "index", index, "name", o.GetName())
			return nil
		}
		requests := make([]reconcile.Request, 0, len(lists.Items))
		for i := range lists.Items {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&lists.Items[i])})
		}
		return requests
	}
}

// listsWaitingForRoom maps a deleted list to the lists of its account and
// app that wait for room under the cap.
func (r *AudienceListReconciler) listsWaitingForRoom(ctx context.Context, o client.Object) []reconcile.Request {
	gone, ok := o.(*importsv1alpha1.AudienceList)
	if !ok {
		return nil
	}
	var requests []reconcile.Request
	for _, req := range r.listsOf(accountRefIndex)(ctx, &importsv1alpha1.LocalyticsAccount{ObjectMeta: accountMeta(gone)}) {
		var al importsv1alpha1.AudienceList
		if r.Get(ctx, req.NamespacedName, &al) != nil || al.Spec.AppID != gone.Spec.AppID {
			continue
		}
		if c := readyCondition(al.Status.Conditions); c != nil && c.Reason == ReasonListLimitReached {
			requests = append(requests, req)
		}
	}
	return requests
}

// deletedOnly passes the deletion of objects only.
func deletedOnly() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
	}
}

// accountReadinessChanged passes the account changes a list may wait for: a
// change of its spec or of its readiness (the ledger's churn is not one).
func accountReadinessChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldAccount, ok1 := e.ObjectOld.(*importsv1alpha1.LocalyticsAccount)
			newAccount, ok2 := e.ObjectNew.(*importsv1alpha1.LocalyticsAccount)
			if !ok1 || !ok2 {
				return false
			}
			return oldAccount.Generation != newAccount.Generation || readinessChanged(oldAccount, newAccount)
		},
	}
}

// listFormat is the importfile format of a list's source.
func listFormat(al *importsv1alpha1.AudienceList) importfile.Format {
	if al.Spec.SourceFormat == importsv1alpha1.AudienceFormatLines {
		return importfile.FormatAudienceLines
	}
	return importfile.FormatAudienceJSONL
}
