package controllers

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/ledger"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/secrets"
)

// Reasons of an object whose account cannot be used (shared by the kinds
// that use accounts).
const (
	// ReasonAccountNotFound: the LocalyticsAccount is missing (stalled until
	// it is created).
	ReasonAccountNotFound = "AccountNotFound"
	// ReasonAccountNotReady: the account is not Ready yet (waiting) or is
	// stalled (stalled).
	ReasonAccountNotReady = "AccountNotReady"
)

// readyAccount is an account that can be used: the object, as the cache
// holds it, and a client with its credentials.
type readyAccount struct {
	account *importsv1alpha1.LocalyticsAccount
	api     localytics.Interface
	// keyHash is ledger.HashOf api's key: the ledger its uploads count in.
	keyHash string
}

// accountResolver finds the account an object names, checks that it is
// Ready and gives its client: one home for what every kind that calls the
// API needs first.
type accountResolver struct {
	// cached reads accounts (from the manager's cache).
	cached client.Reader
	// apiReader reads Secrets (never cached).
	apiReader client.Reader
	clients   *LocalyticsClients
	// secrets says which Secrets may be used, as the account controller's
	// SecretPolicy does.
	secrets secrets.Policy
}

// resolve returns the account name in namespace, ready to be used. An
// account that is not Ready yet is a waiting failure (its watch normally
// wakes the object first); a missing or stalled one is stalled.
func (a accountResolver) resolve(ctx context.Context, namespace, name string, now time.Time) (readyAccount, error) {
	account := &importsv1alpha1.LocalyticsAccount{}
	if err := a.cached.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, account); err != nil {
		if apierrors.IsNotFound(err) {
			return readyAccount{}, stalled(ReasonAccountNotFound, nil, "LocalyticsAccount %q not found in namespace %q", name, namespace)
		}
		return readyAccount{}, err
	}
	if c := meta.FindStatusCondition(account.Status.Conditions, importsv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		return readyAccount{}, stalled(ReasonAccountNotReady, nil, "LocalyticsAccount %q is stalled: %s", name, c.Message)
	}
	if !meta.IsStatusConditionTrue(account.Status.Conditions, importsv1alpha1.ConditionReady) {
		return readyAccount{}, waiting(ReasonAccountNotReady, now.Add(accountWaitRequeue), nil, "waiting for LocalyticsAccount %q to be Ready", name)
	}
	// The account controller of this process verified this version of the
	// account and remembered its client, and replaces it when the Secret
	// changes. Only until it has (just after a start), the Secret is read.
	if api, keyHash, ok := a.clients.verifiedFor(account); ok {
		return readyAccount{account: account, api: api, keyHash: keyHash}, nil
	}
	creds, err := readCredentials(ctx, a.apiReader, account, a.secrets)
	if err != nil {
		return readyAccount{}, err
	}
	api, err := a.clients.For(account, creds.creds)
	if err != nil {
		return readyAccount{}, stalled(ReasonCredentialsInvalid, err, "the credentials of LocalyticsAccount %q cannot be used: %v", name, err)
	}
	return readyAccount{account: account, api: api, keyHash: ledger.HashOf(creds.creds.Key)}, nil
}
