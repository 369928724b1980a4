package controllers

import (
	"context"
	"errors"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/ledger"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// probeActivityID is an activity id no import can have. A status request
// (P2) for it is the cheapest call that proves the credentials: 404 means
// the key was accepted, 401 or 403 that it was not.
const probeActivityID = "00000000-0000-0000-0000-000000000000"

// reconcileBudget shows the upload ledger of the account's API key, which
// every account of the key reserves from, counted with this account's
// limits. An account that kept its own ledger (before ledgers were kept per
// key) first carries its entries into the key's. It comes back when the
// numbers next change by themselves (the oldest entry leaves the window).
func (r *LocalyticsAccountReconciler) reconcileBudget(ctx context.Context, s *accountScope) (ctrl.Result, error) {
	account := s.obj
	book := ledger.Book{Name: ledger.NameOf(s.keyHash), Limit: ledger.UploadLimitOf(account.Spec.Limits)}
	if account.Status.KeyHash != s.keyHash {
		if account.Status.KeyHash == "" {
			if err := ledger.Carry(ctx, ledger.Uncached(r.APIReader, r.Client), book, account.Status.UploadLedger, s.now); err != nil {
				return ctrl.Result{}, err
			}
		}
		// A new key (the Secret changed): the old key's slots are not its.
		account.Status.KeyHash = s.keyHash
	}
	var keyLedger importsv1alpha1.UploadLedger
	if err := r.Get(ctx, types.NamespacedName{Name: book.Name}, &keyLedger); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	summary := ledger.Summarize(keyLedger.Status.Entries, book.Limit, s.now)
	summary.InWindow = ownEntries(account.Namespace, summary.InWindow)
	ledger.ApplySummary(&account.Status, summary)
	recordUploadBudget(client.ObjectKeyFromObject(account).String(), summary.Left)
	return requeueAt(s.now, summary.Refresh), nil
}

// otherNamespace stands for the import of an entry of another namespace.
const otherNamespace = "(another namespace)"

// ownEntries are a key's ledger entries as an account of namespace shows
// them: those of the imports of other namespaces, which may belong to
// another team that uses the key, keep only their time.
func ownEntries(namespace string, entries []importsv1alpha1.UploadReservation) []importsv1alpha1.UploadReservation {
	for i, e := range entries {
		if ns, _, _ := strings.Cut(e.ProfileImport, "/"); ns != namespace {
			entries[i] = importsv1alpha1.UploadReservation{Time: e.Time, ProfileImport: otherNamespace}
		}
	}
	return entries
}

// reconcileAudienceLists shows the audience lists in use per app, as the
// AudienceList controller last saw them.
func (r *LocalyticsAccountReconciler) reconcileAudienceLists(_ context.Context, s *accountScope) (ctrl.Result, error) {
	s.obj.Status.AudienceLists = r.Clients.lists.counts(client.ObjectKeyFromObject(s.obj))
	return ctrl.Result{}, nil
}

// reconcileSecret reads the account's Secret, if the endpoint may be sent
// its credentials, and names the ledger of its key.
func (r *LocalyticsAccountReconciler) reconcileSecret(ctx context.Context, s *accountScope) (ctrl.Result, error) {
	account := s.obj
	key := client.ObjectKeyFromObject(account)
	if !r.Clients.allows(account.Spec.Endpoint) {
		// Before the Secret is even read: its values must not reach a host
		// the cluster admin did not allow.
		r.Clients.forget(key)
		return ctrl.Result{}, stalled(ReasonEndpointNotAllowed, nil,
			"spec.endpoint %s is not among the operator's --allowed-endpoints; no request was sent. Ask the cluster admin to allow it, or use an allowed endpoint",
			account.Spec.Endpoint)
	}
	creds, err := readCredentials(ctx, r.APIReader, account, r.SecretPolicy)
	if err != nil {
		r.Clients.forget(key)
		if pe := classify(err); pe.kind == failureStalled && stallReason(s.base.Status.Conditions) != pe.reason {
			// Verification results have their own events; a Secret that
			// cannot be read gets one when it becomes the reason.
			r.Recorder.Eventf(account, nil, corev1.EventTypeWarning, pe.reason, "ReadSecret", "%s", pe.message)
		}
		return ctrl.Result{}, err
	}
	s.creds, s.keyHash = creds, ledger.HashOf(creds.creds.Key)
	return ctrl.Result{}, nil
}

// reconcileCredentials verifies the credentials reconcileSecret read with
// the API, unless this version of them was already verified, and remembers
// the verified client for the other controllers.
func (r *LocalyticsAccountReconciler) reconcileCredentials(ctx context.Context, s *accountScope) (ctrl.Result, error) {
	return ctrl.Result{}, r.verifyCredentials(ctx, s)
}

func (r *LocalyticsAccountReconciler) verifyCredentials(ctx context.Context, s *accountScope) error {
	account, creds := s.obj, s.creds
	log := ctrl.LoggerFrom(ctx).WithValues("secret", klog.KRef(account.Namespace, account.Spec.SecretRef.Name))
	key := client.ObjectKeyFromObject(account)
	build := func() (*localytics.Client, error) {
		api, err := r.Clients.For(account, creds.creds)
		if err != nil {
			// The key or the endpoint cannot make a request at all (the CRD
			// validates the endpoint, so this is a key with a ':').
			return nil, stalled(ReasonCredentialsInvalid, err, "the credentials in Secret %q cannot be used: %v", account.Spec.SecretRef.Name, err)
		}
		return api, nil
	}
	if v, ok := r.verified.get(key); ok && v.matches(account, creds.secretVersion) {
		if v.refused != nil {
			return v.refused
		}
		if !r.Clients.remembers(account, creds.secretVersion) {
			api, err := build()
			if err != nil {
				return err
			}
			r.Clients.remember(account, creds.secretVersion, s.keyHash, api)
		}
		return nil
	}

	r.Clients.forget(key)
	api, err := build()
	if err != nil {
		return err
	}
	probeCtx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	_, err = api.ProfileJobStatus(probeCtx, probeActivityID)

	v := verification{uid: account.UID, generation: account.Generation, secretVersion: creds.secretVersion}
	switch {
	case err == nil || localytics.IsNotFound(err):
		log.Info("credentials verified", "endpoint", account.Spec.Endpoint)
		r.Recorder.Eventf(account, nil, corev1.EventTypeNormal, ReasonCredentialsVerified, "VerifyCredentials",
			"The credentials in Secret %q were accepted by %s", account.Spec.SecretRef.Name, account.Spec.Endpoint)
		r.verified.put(key, v)
		r.Clients.remember(account, creds.secretVersion, s.keyHash, api)
		return nil
	case localytics.IsUnauthorized(err) || localytics.IsForbidden(err):
		v.refused = classify(err)
		v.refused.message = refusedMessage(account, err)
		log.Info("credentials refused", "error", err.Error())
		r.Recorder.Eventf(account, nil, corev1.EventTypeWarning, ReasonCredentialsRefused, "VerifyCredentials", "%s", v.refused.message)
		r.verified.put(key, v)
		return v.refused
	}
	var apiErr *localytics.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode < 500 && apiErr.StatusCode != http.StatusTooManyRequests {
		// Any other answer to a plain status request means the endpoint is
		// not the Localytics API: only a change of spec.endpoint helps.
		v.refused = stalled(ReasonEndpointUnexpected, err,
			"%s answered a status request with %d %s; check spec.endpoint", account.Spec.Endpoint, apiErr.StatusCode, http.StatusText(apiErr.StatusCode))
		r.Recorder.Eventf(account, nil, corev1.EventTypeWarning, ReasonEndpointUnexpected, "VerifyCredentials", "%s", v.refused.message)
		r.verified.put(key, v)
		return v.refused
	}
	// 429, 5xx, network: classify decides when to try again; nothing is
	// remembered, so the next reconcile verifies again.
	return err
}

func refusedMessage(account *importsv1alpha1.LocalyticsAccount, err error) string {
	status := http.StatusUnauthorized
	var apiErr *localytics.APIError
	if errors.As(err, &apiErr) {
		status = apiErr.StatusCode
	}
	return "credentials refused: " + account.Spec.Endpoint + " answered " + http.StatusText(status) +
		" to the credentials in Secret \"" + account.Spec.SecretRef.Name + "\"; update the Secret's api-key and api-secret"
}
