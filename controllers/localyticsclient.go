package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/endpoints"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/secrets"
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
	// ReasonSecretNotLabelled: the operator runs with --require-secret-label
	// and the Secret lacks the label imports.localytics.dev/use: "true"
	// (stalled until it is labelled).
	ReasonSecretNotLabelled = "SecretNotLabelled"
)

// accountCredentials are the credentials of an account as read from its
// Secret, with the Secret's resourceVersion, which changes when they rotate.
type accountCredentials struct {
	creds         localytics.Credentials
	secretVersion string
}

// readCredentials reads the Secret of an account, if policy lets the
// operator use it. reader must be uncached (a manager's GetAPIReader): the
// operator does not cache Secrets, see
// LocalyticsAccountReconciler.SetupWithManager. A missing Secret or key, or
// a Secret the policy refuses, is a stalled phaseError naming it; the
// Secret's watch brings the account back when it appears or is labelled.
func readCredentials(ctx context.Context, reader client.Reader, account *importsv1alpha1.LocalyticsAccount,
	policy secrets.Policy) (accountCredentials, error) {
	name := account.Spec.SecretRef.Name
	secret, err := policy.Get(ctx, reader, account.Namespace, name)
	if err != nil {
		if nl, ok := secrets.IsNotLabelled(err); ok {
			return accountCredentials{}, stalled(ReasonSecretNotLabelled, nil, "%s", nl.Error())
		}
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
//
// It also remembers the client of each account whose credentials the account
// controller verified, so that the other kinds use that client instead of
// reading the Secret again on every reconcile of every object. The account
// controller sees every rotation of a Secret (it watches them) and replaces
// or forgets the client then.
type LocalyticsClients struct {
	// AllowedEndpoints are the base URLs credentials may be sent to; the
	// zero value allows https://api.localytics.com only. No client of
	// another endpoint is ever built.
	AllowedEndpoints endpoints.Allowlist

	budgets    *localytics.Budgets
	httpClient *http.Client
	options    []localytics.Option
	// started is when this process began to count calls: ledger entries
	// older than that were made by another process and are unknown to
	// budgets.
	started time.Time

	mu       sync.Mutex
	verified map[types.NamespacedName]verifiedClient

	// lists is what is known of the audience lists of each app, shared by
	// the AudienceList and account controllers.
	lists *appLists
}

// verifiedClient is the client of one version of an account and its Secret.
type verifiedClient struct {
	uid           types.UID
	generation    int64
	secretVersion string
	api           *localytics.Client
	// keyHash is ledger.HashOf the client's API key: the ledger its
	// uploads are counted in.
	keyHash string
}

// ProcessUserAgent is the User-Agent of this process's calls to Localytics:
// the operator, the host (in a cluster, the pod) and the process, so that
// the calls of two replicas or shards can be told apart, by the vendor's
// support or by the end-to-end tests.
func ProcessUserAgent() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("localytics-operator (%s; pid %d)", host, os.Getpid())
}

// NewLocalyticsClients returns a factory whose clients take the given
// options after its own (tests pass a faster retry policy, or a clock).
func NewLocalyticsClients(options ...localytics.Option) *LocalyticsClients {
	return &LocalyticsClients{
		budgets: localytics.NewBudgets(),
		httpClient: localytics.NewHTTPClient(func(next http.RoundTripper) http.RoundTripper {
			return instrumentedTransport{next: next}
		}),
		options:  options,
		started:  time.Now(),
		verified: map[types.NamespacedName]verifiedClient{},
		lists:    newAppLists(),
	}
}

// remember keeps the client the account controller verified for this
// version of the account and of its Secret.
func (f *LocalyticsClients) remember(account *importsv1alpha1.LocalyticsAccount, secretVersion, keyHash string, api *localytics.Client) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verified[client.ObjectKeyFromObject(account)] = verifiedClient{
		uid: account.UID, generation: account.Generation, secretVersion: secretVersion, api: api, keyHash: keyHash,
	}
}

// forget drops the client of an account that is gone or whose credentials
// no longer work.
func (f *LocalyticsClients) forget(key types.NamespacedName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.verified, key)
}

// remembers tells whether the client of this version of the account and of
// its Secret is remembered.
func (f *LocalyticsClients) remembers(account *importsv1alpha1.LocalyticsAccount, secretVersion string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.verified[client.ObjectKeyFromObject(account)]
	return ok && v.uid == account.UID && v.generation == account.Generation && v.secretVersion == secretVersion
}

// verifiedFor returns the client remembered for this version of the account.
func (f *LocalyticsClients) verifiedFor(account *importsv1alpha1.LocalyticsAccount) (*localytics.Client, string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.verified[client.ObjectKeyFromObject(account)]
	if !ok || v.uid != account.UID || v.generation != account.Generation {
		return nil, "", false
	}
	return v.api, v.keyHash, true
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
	if !f.allows(endpoint) {
		return nil, errEndpointNotAllowed
	}
	opts := append([]localytics.Option{
		localytics.WithHTTPClient(f.httpClient),
		localytics.WithBudgets(f.budgets),
		localytics.WithLimits(limitsOf(account.Spec.Limits)),
		localytics.WithMaxUploadBytes(uploadBytesOf(account.Spec.Limits)),
	}, f.options...)
	c, err := localytics.New(endpoint, creds, opts...)
	if err != nil {
		return nil, err
	}
	f.observeLedger(account, creds.Key)
	return c, nil
}

// observeLedger counts into the key's budget the uploads the account's
// ledger records from before this process started.
func (f *LocalyticsClients) observeLedger(account *importsv1alpha1.LocalyticsAccount, apiKey string) {
	var before []time.Time
	for _, e := range account.Status.UploadLedger {
		if e.Time.Time.Before(f.started) {
			before = append(before, e.Time.Time)
		}
	}
	if len(before) > 0 {
		f.budgets.Observe(apiKey, localytics.BudgetProfileUploads, before...)
	}
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

// uploadBytesOf is the largest body of one profile upload of an account:
// its spec.limits.maxUploadBytes, the vendor's 100 MB when unset.
func uploadBytesOf(spec importsv1alpha1.AccountLimits) int64 {
	if spec.MaxUploadBytes > 0 {
		return spec.MaxUploadBytes
	}
	return maxUploadBytes
}

// gatheringOf is how long an account's uploads wait for more imports: the
// quiet period after the newest, and the most after the first.
func gatheringOf(spec importsv1alpha1.Gathering) (quiet, maxWait time.Duration) {
	quiet, maxWait = defaultQuietPeriod, defaultMaxGather
	if spec.QuietPeriod != nil && spec.QuietPeriod.Duration >= 0 {
		quiet = spec.QuietPeriod.Duration
	}
	if spec.MaxWait != nil && spec.MaxWait.Duration >= 0 {
		maxWait = spec.MaxWait.Duration
	}
	return quiet, maxWait
}

// errEndpointNotAllowed refuses a client of an endpoint the allowlist lacks.
var errEndpointNotAllowed = errors.New("the endpoint is not among the operator's --allowed-endpoints")

// allows tells whether credentials may be sent to endpoint.
func (f *LocalyticsClients) allows(endpoint string) bool {
	allowed := f.AllowedEndpoints
	if allowed.IsZero() {
		allowed = endpoints.MustParse(endpoints.DefaultLocalytics)
	}
	return allowed.Allows(endpoint)
}

// budgetWait is how long a call of kind must wait for the key's budget, zero
// when it may be made now. NextAllowed answers its own now when the call is
// allowed, so it is compared with a time taken after it.
func budgetWait(api localytics.Interface, kind localytics.BudgetKind, clk clock.PassiveClock) time.Duration {
	next := api.NextAllowed(kind)
	return max(next.Sub(clk.Now()), 0)
}
