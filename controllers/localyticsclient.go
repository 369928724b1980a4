package controllers

import (
	"context"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// The keys of an account's Secret.
const (
	SecretKeyAPIKey    = "api-key"
	SecretKeyAPISecret = "api-secret"
)

// Reasons of a Secret that cannot be used.
const (
	ReasonSecretMissing    = "SecretMissing"
	ReasonSecretKeyMissing = "SecretKeyMissing"
)

// accountCredentials are the credentials of an account as read from its
// Secret, with the Secret's resourceVersion, which changes when they rotate.
type accountCredentials struct {
	creds         localytics.Credentials
	secretVersion string
}

// readCredentials reads the Secret of an account. reader must be uncached
// (a manager's GetAPIReader): the operator does not cache Secrets, see
// LocalyticsAccountReconciler.SetupWithManager. A missing Secret or key is
// a stalled phaseError naming it; the Secret's watch brings the account back
// when it appears.
func readCredentials(ctx context.Context, reader client.Reader, account *importsv1alpha1.LocalyticsAccount) (accountCredentials, error) {
	name := account.Spec.SecretRef.Name
	var secret corev1.Secret
	if err := reader.Get(ctx, types.NamespacedName{Namespace: account.Namespace, Name: name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return accountCredentials{}, stalled(ReasonSecretMissing, nil, "Secret %q not found in namespace %q", name, account.Namespace)
		}
		return accountCredentials{}, err
	}
	values := make(map[string]string, 2)
	for _, key := range []string{SecretKeyAPIKey, SecretKeyAPISecret} {
		v := string(secret.Data[key])
		if v == "" {
			return accountCredentials{}, stalled(ReasonSecretKeyMissing, nil, "Secret %q has no key %q, or it is empty", name, key)
		}
		values[key] = v
	}
	return accountCredentials{
		creds:         localytics.Credentials{Key: values[SecretKeyAPIKey], Secret: values[SecretKeyAPISecret]},
		secretVersion: secret.ResourceVersion,
	}, nil
}

// LocalyticsClients builds the Localytics API clients of accounts. Make one
// per process and give it to every controller: the vendor counts budgets per
// API key, so every client of a key must share one localytics.Budgets, and
// one HTTP client keeps one pool of connections.
type LocalyticsClients struct {
	budgets    *localytics.Budgets
	httpClient *http.Client
	options    []localytics.Option
	// started is when this process began to count calls: ledger entries
	// older than that were made by another process and are unknown to
	// budgets.
	started time.Time
}

// NewLocalyticsClients returns a factory whose clients take the given
// options after its own (tests pass a faster retry policy, or a clock).
func NewLocalyticsClients(options ...localytics.Option) *LocalyticsClients {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Counted from the end of the request, so it does not limit uploads.
	transport.ResponseHeaderTimeout = 2 * time.Minute
	transport.WriteBufferSize = 64 << 10
	return &LocalyticsClients{
		budgets: localytics.NewBudgets(),
		httpClient: &http.Client{
			Transport: instrumentedTransport{next: transport},
			// The API never redirects; following one could send the
			// credentials elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		options: options,
		started: time.Now(),
	}
}

// Budgets is the registry every client of this factory shares.
func (f *LocalyticsClients) Budgets() *localytics.Budgets { return f.budgets }

// For returns a client of the account's endpoint with its limits and the
// given credentials.
//
// The account's upload ledger is the authority on profile uploads across
// processes. Its entries made before this process started are observed into
// the shared budgets, so that a restarted operator's client knows of them;
// later entries are not, since this process's own uploads are already
// counted by the client and would count twice.
func (f *LocalyticsClients) For(account *importsv1alpha1.LocalyticsAccount, creds localytics.Credentials) (*localytics.Client, error) {
	endpoint := account.Spec.Endpoint
	if endpoint == "" {
		endpoint = importsv1alpha1.DefaultEndpoint
	}
	opts := append([]localytics.Option{
		localytics.WithHTTPClient(f.httpClient),
		localytics.WithBudgets(f.budgets),
		localytics.WithLimits(limitsOf(account.Spec.Limits)),
	}, f.options...)
	c, err := localytics.New(endpoint, creds, opts...)
	if err != nil {
		return nil, err
	}
	var before []time.Time
	for _, e := range account.Status.UploadLedger {
		if e.Time.Time.Before(f.started) {
			before = append(before, e.Time.Time)
		}
	}
	if len(before) > 0 {
		f.budgets.Observe(creds.Key, localytics.BudgetProfileUploads, before...)
	}
	return c, nil
}

// limitsOf converts an account's limits; unset ones take the vendor's.
func limitsOf(spec importsv1alpha1.AccountLimits) localytics.Limits {
	limits := localytics.DefaultLimits()
	set := func(dst *localytics.Limit, src *importsv1alpha1.RateLimit) {
		if src != nil && src.Count > 0 && src.Window.Duration > 0 {
			*dst = localytics.Limit{Calls: int(src.Count), Window: src.Window.Duration}
		}
	}
	set(&limits.ProfileUploads, spec.ProfileUploads)
	set(&limits.ProfileStatus, spec.ProfileStatus)
	set(&limits.AudienceCalls, spec.AudienceCalls)
	return limits
}
