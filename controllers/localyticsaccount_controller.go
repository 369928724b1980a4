package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/secrets"
)

// accountSecretIndex indexes LocalyticsAccounts by spec.secretRef.name, to
// find the accounts of a Secret that changed.
const accountSecretIndex = ".spec.secretRef.name"

// LocalyticsAccountReconciler verifies the credentials of LocalyticsAccounts
// and shows their budgets.
type LocalyticsAccountReconciler struct {
	// Client reads accounts from the cache and writes their status.
	client.Client
	// APIReader reads Secrets from the API server: they are not cached.
	APIReader client.Reader
	// Recorder records events on accounts.
	Recorder recorder.EventRecorder
	// Clients builds the Localytics clients, and remembers the verified
	// ones for the other controllers.
	Clients *LocalyticsClients
	// Clock tells the time; nil means real time.
	Clock clock.PassiveClock
	// BackoffBase and BackoffMax bound the backoff after transient
	// failures; zero means 1s and 5m.
	BackoffBase, BackoffMax time.Duration
	// SecretPolicy says which Secrets may hold an account's credentials
	// (the manager's flag --require-secret-label). Give the other
	// controllers the same, in their SourceOptions.
	SecretPolicy secrets.Policy
	// MaxConcurrentReconciles is how many accounts are reconciled at once
	// (a namespace holds a quarter of them, and borrows up to half while its reconciles are quick; see workers.go); zero means 8.
	MaxConcurrentReconciles int
	// Watchdog, if set, watches the reconciles for stuck workers.
	Watchdog *Watchdog
	// Shard, if set, is the manager's --watch-label-selector: this
	// process reconciles only the objects it matches (see ShardLabel).
	Shard labels.Selector

	frame *frame[*importsv1alpha1.LocalyticsAccount, *accountScope]
	// verified remembers the last definite answer of the API per account,
	// so that credentials are verified again only when the Secret or the
	// spec changed. It is lost on restart, which costs one cheap call per
	// account.
	verified verificationCache
}

// accountScope is what the phases of one account reconcile share.
type accountScope struct {
	*objectScope[*importsv1alpha1.LocalyticsAccount]
	// Set by reconcileSecret: the credentials, and ledger.HashOf their key.
	creds   accountCredentials
	keyHash string
}

// accountKeyHashIndex indexes accounts by status.keyHash, the name of their
// key's UploadLedger.
const accountKeyHashIndex = ".status.keyHash"

// SetupWithManager registers the controller, its index and its watches.
//
// Secrets: clusters hold tens of thousands of them, and the operator needs
// the data of a few. So the manager's client does not cache Secrets
// (Cache.DisableFor in main.go) and their data is read from the API server
// when an account is reconciled (APIReader); a rotation is noticed through a
// metadata-only watch, which caches names and resourceVersions but never the
// data, and is mapped to the accounts that name the Secret through a field
// index on spec.secretRef.name.
func (r *LocalyticsAccountReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.frame = newFrame(kind[*importsv1alpha1.LocalyticsAccount, *accountScope]{
		newObject:  func() *importsv1alpha1.LocalyticsAccount { return &importsv1alpha1.LocalyticsAccount{} },
		conditions: accountConditions,
		statusOf:   func(a *importsv1alpha1.LocalyticsAccount) any { return &a.Status },
		newScope: func(os *objectScope[*importsv1alpha1.LocalyticsAccount]) *accountScope {
			return &accountScope{objectScope: os}
		},
		// Nothing outside the cluster belongs to an account: no finalizer.
		phases: []phase[*accountScope]{
			r.reconcileSecret,
			r.reconcileCredentials,
			// Only for credentials Localytics accepted: the key's ledger
			// is shown to whoever can read the account.
			r.reconcileBudget,
			r.reconcileAudienceLists,
		},
		summarize: func(s *accountScope) summary {
			return summary{ready: true, reason: ReasonCredentialsVerified, message: fmt.Sprintf(
				"The credentials in Secret %q were accepted by %s", s.obj.Spec.SecretRef.Name, s.obj.Spec.Endpoint)}
		},
		// Its owning shard verifies it from now on: a client verified
		// here would miss the next rotation of its Secret.
		outside: func(req ctrl.Request) {
			r.verified.forget(req.NamespacedName)
			r.Clients.forget(req.NamespacedName)
		},
		gone: func(req ctrl.Request) {
			r.verified.forget(req.NamespacedName)
			r.Clients.forget(req.NamespacedName)
			r.Clients.lists.forget(req.NamespacedName)
			forgetUploadBudget(req.String())
		},
	}, r.Client, frameOptions{clock: r.Clock, backoff: newTransientBackoff(r.BackoffBase, r.BackoffMax),
		workers: r.MaxConcurrentReconciles, watchdog: r.Watchdog, shard: r.Shard})

	if err := mgr.GetFieldIndexer().IndexField(ctx, &importsv1alpha1.LocalyticsAccount{}, accountSecretIndex,
		func(o client.Object) []string {
			return []string{o.(*importsv1alpha1.LocalyticsAccount).Spec.SecretRef.Name}
		}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &importsv1alpha1.LocalyticsAccount{}, accountKeyHashIndex,
		func(o client.Object) []string {
			if h := o.(*importsv1alpha1.LocalyticsAccount).Status.KeyHash; h != "" {
				return []string{h}
			}
			return nil
		}); err != nil {
		return err
	}
	// A reservation made by a ProfileImport changes the key's ledger: the
	// accounts of the key show it, and requeue for the time it expires.
	return ctrl.NewControllerManagedBy(mgr).
		For(&importsv1alpha1.LocalyticsAccount{}).
		Watches(&importsv1alpha1.UploadLedger{}, handler.EnqueueRequestsFromMapFunc(r.accountsOfLedger)).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.accountsOfSecret)).
		// The AudienceList controller's listings change the lists per app.
		WatchesRawSource(source.Channel(r.Clients.lists.changes, &handler.EnqueueRequestForObject{})).
		WatchesRawSource(r.frame.woken()).
		WithOptions(workerOptions(r.MaxConcurrentReconciles)).
		Named("localyticsaccount").
		Complete(r)
}

// Reconcile runs the account's phases on the shared frame.
func (r *LocalyticsAccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.frame.Reconcile(ctx, req)
}

// accountsOfLedger maps a key's UploadLedger to the accounts of the key.
func (r *LocalyticsAccountReconciler) accountsOfLedger(ctx context.Context, l client.Object) []reconcile.Request {
	hash, ok := strings.CutPrefix(l.GetName(), importsv1alpha1.UploadLedgerNamePrefix)
	if !ok {
		return nil
	}
	var accounts importsv1alpha1.LocalyticsAccountList
	if err := r.List(ctx, &accounts, client.MatchingFields{accountKeyHashIndex: hash}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the accounts of an upload ledger", "uploadLedger", l.GetName())
		return nil
	}
	requests := make([]reconcile.Request, 0, len(accounts.Items))
	for i := range accounts.Items {
		// One that is not Ready waits out its own backoff (its
		// verification may be failing): it shows the ledger when it next
		// reconciles.
		if a := &accounts.Items[i]; meta.IsStatusConditionTrue(a.Status.Conditions, importsv1alpha1.ConditionReady) {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(a)})
		}
	}
	return requests
}

// accountsOfSecret maps a Secret to the accounts that name it.
func (r *LocalyticsAccountReconciler) accountsOfSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var accounts importsv1alpha1.LocalyticsAccountList
	if err := r.List(ctx, &accounts, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{accountSecretIndex: secret.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the accounts of a Secret", "secret", client.ObjectKeyFromObject(secret))
		return nil
	}
	requests := make([]reconcile.Request, 0, len(accounts.Items))
	for _, a := range accounts.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&a)})
	}
	return requests
}

// verification is what the API said about one version of an account's
// credentials.
type verification struct {
	// uid, generation and secretVersion identify what was verified.
	uid           types.UID
	generation    int64
	secretVersion string
	// refused is the stalled failure the API answered, nil when the
	// credentials were accepted.
	refused *phaseError
}

func (v verification) matches(account *importsv1alpha1.LocalyticsAccount, secretVersion string) bool {
	return v.uid == account.UID && v.generation == account.Generation && v.secretVersion == secretVersion
}

type verificationCache struct {
	mu sync.Mutex
	m  map[types.NamespacedName]verification
}

func (c *verificationCache) get(key types.NamespacedName) (verification, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *verificationCache) put(key types.NamespacedName, v verification) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[types.NamespacedName]verification{}
	}
	c.m[key] = v
}

func (c *verificationCache) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}
