// Package secretlabel proves the operator's stricter Secret mode
// (--require-secret-label): only Secrets labelled
// imports.localytics.dev/use: "true" are used, for LocalyticsAccounts and
// object stores alike, and nothing is sent with one that is not.
//
// It is a suite of its own because its manager runs in that mode, which the
// controllers suite's, serving specs whose Secrets carry no label, does not.
package secretlabel_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/endpoints"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
	"github.com/localytics-operator/localytics-operator/internal/secrets"
	"github.com/localytics-operator/localytics-operator/internal/source"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

const (
	apiKey    = "label-key"
	apiSecret = "label-secret"
	orgID     = 60
)

var (
	ctx       context.Context
	scheme    = runtime.NewScheme()
	k8sClient client.Client
	store     *testenv.ObjectStore
	simulator *sim.Server
	simURL    string
	// simRequests counts every request that reached the simulator.
	simRequests atomic.Int64
)

func TestSecretLabel(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "An operator that requires the Secret label")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var cancel context.CancelFunc
	ctx, cancel = context.WithCancel(context.Background())
	DeferCleanup(cancel)

	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(importsv1alpha1.AddToScheme(scheme)).To(Succeed())
	env, err := testenv.New()
	Expect(err).NotTo(HaveOccurred())
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	Expect(os.Setenv("AWS_EC2_METADATA_DISABLED", "true")).To(Succeed())
	store, err = testenv.StartObjectStore()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(store.Stop)

	simulator = sim.New(sim.Config{
		Accounts:   []sim.Account{{Key: apiKey, Secret: apiSecret, OrgIDs: []int64{orgID}}},
		PendingFor: 100 * time.Millisecond,
		RunningFor: 200 * time.Millisecond,
	})
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		simRequests.Add(1)
		simulator.ServeHTTP(w, r)
	}))
	simURL = server.URL
	DeferCleanup(server.Close)
	DeferCleanup(simulator.Close)

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Client: client.Options{Cache: &client.CacheOptions{
			DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
		}},
	})
	Expect(err).NotTo(HaveOccurred())

	// As main.go wires --require-secret-label: one policy for every Secret.
	policy := secrets.Policy{RequireLabel: true}
	clients := controllers.NewLocalyticsClients(localytics.WithRetryPolicy(localytics.RetryPolicy{MaxAttempts: 1}))
	clients.AllowedEndpoints = endpoints.MustParse("http://127.0.0.1")
	Expect((&controllers.LocalyticsAccountReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clients: clients,
		Recorder:    mgr.GetEventRecorder("localyticsaccount-controller"),
		BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second,
		SecretPolicy: policy,
	}).SetupWithManager(ctx, mgr)).To(Succeed())
	Expect((&controllers.ProfileImportReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clients: clients,
		Recorder:    mgr.GetEventRecorder("profileimport-controller"),
		BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second,
		PollMin: 100 * time.Millisecond, PollMax: 500 * time.Millisecond,
		SourceRecheck: 500 * time.Millisecond,
		SourceOptions: source.Options{AllowedEndpoints: endpoints.MustParse(store.Endpoint), SecretPolicy: policy},
	}).SetupWithManager(ctx, mgr)).To(Succeed())

	mgrCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	DeferCleanup(func() {
		stop()
		Eventually(done).WithTimeout(time.Minute).Should(BeClosed())
	})
})

func newNamespace() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "secretlabel-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// createSecret creates a Secret with data, labelled for the operator's use
// or not.
func createSecret(ns, name string, labelled bool, data map[string]string) *corev1.Secret {
	GinkgoHelper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
	if labelled {
		secret.Labels = map[string]string{secrets.LabelUse: secrets.LabelUseValue}
	}
	Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	return secret
}

// setLabel labels the Secret for the operator's use, or removes the label.
func setLabel(secret *corev1.Secret, labelled bool) {
	GinkgoHelper()
	fresh := &corev1.Secret{}
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(secret), fresh)).To(Succeed())
	patch := client.MergeFrom(fresh.DeepCopy())
	if labelled {
		fresh.Labels = map[string]string{secrets.LabelUse: secrets.LabelUseValue}
	} else {
		delete(fresh.Labels, secrets.LabelUse)
	}
	Expect(k8sClient.Patch(ctx, fresh, patch)).To(Succeed())
}

func createAccount(ns string) *importsv1alpha1.LocalyticsAccount {
	GinkgoHelper()
	account := &importsv1alpha1.LocalyticsAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"},
		Spec: importsv1alpha1.LocalyticsAccountSpec{
			SecretRef: importsv1alpha1.LocalObjectReference{Name: "credentials"},
			Endpoint:  simURL,
		},
	}
	Expect(k8sClient.Create(ctx, account)).To(Succeed())
	return account
}

// eventuallyCondition waits until obj has the condition, and returns it.
func eventuallyCondition(obj client.Object, conditionType string, want metav1.ConditionStatus, reason string) metav1.Condition {
	GinkgoHelper()
	fresh := obj.DeepCopyObject().(client.Object)
	var found metav1.Condition
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), fresh)).To(Succeed())
		var conditions []metav1.Condition
		switch o := fresh.(type) {
		case *importsv1alpha1.LocalyticsAccount:
			conditions = o.Status.Conditions
		case *importsv1alpha1.ProfileImport:
			conditions = o.Status.Conditions
		}
		c := meta.FindStatusCondition(conditions, conditionType)
		g.Expect(c).NotTo(BeNil(), "no %s condition yet", conditionType)
		g.Expect(c.Status).To(Equal(want), "%s: %s", c.Reason, c.Message)
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		found = *c
	}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	return found
}

const labelMessage = `lacks the label imports.localytics.dev/use: "true", which this operator requires (its flag --require-secret-label)`

var _ = It("uses an account's Secret only while it carries the label, and sends nothing before", func() {
	ns := newNamespace()
	secret := createSecret(ns, "credentials", false, map[string]string{"api-key": apiKey, "api-secret": apiSecret})
	before := simRequests.Load()
	account := createAccount(ns)

	cond := eventuallyCondition(account, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonSecretNotLabelled)
	Expect(cond.Message).To(ContainSubstring(`Secret "credentials" ` + labelMessage))
	Expect(cond.Message).To(ContainSubstring("kubectl label secret -n " + ns + " credentials imports.localytics.dev/use=true"))
	eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionFalse, controllers.ReasonSecretNotLabelled)
	Consistently(simRequests.Load).WithTimeout(2*time.Second).Should(Equal(before), "no request is sent with an unlabelled Secret")

	// The Secret's watch brings the account back once it is labelled.
	setLabel(secret, true)
	eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionTrue, controllers.ReasonCredentialsVerified)
	Expect(simRequests.Load()).To(BeNumerically(">", before))

	// And stalls it again when the label goes.
	setLabel(secret, false)
	eventuallyCondition(account, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonSecretNotLabelled)
})

var _ = It("reads an object with a store Secret only once it carries the label", func() {
	ns := newNamespace()
	createSecret(ns, "credentials", true, map[string]string{"api-key": apiKey, "api-secret": apiSecret})
	account := createAccount(ns)
	eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionTrue, controllers.ReasonCredentialsVerified)
	storeSecret := createSecret(ns, "store", false, map[string]string{
		source.SecretKeyAccessKeyID: store.AccessKey, source.SecretKeySecretAccessKey: store.SecretKey,
	})
	Expect(store.Put(ctx, ns, "profiles.json", []byte(`{"customer_id":"c1","changes":[{"op":"assign","attr":"plan","value":"gold"}]}`+"\n"))).To(Succeed())
	pi := &importsv1alpha1.ProfileImport{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "from-store"},
		Spec: importsv1alpha1.ProfileImportSpec{
			AccountRef: importsv1alpha1.LocalObjectReference{Name: "acme"},
			OrgID:      ptr.To[int64](orgID),
			Source: importsv1alpha1.Source{ObjectStore: &importsv1alpha1.ObjectStoreSource{
				URL:       store.URL(ns, "profiles.json"),
				SecretRef: &importsv1alpha1.LocalObjectReference{Name: "store"},
			}},
		},
	}
	Expect(k8sClient.Create(ctx, pi)).To(Succeed())

	cond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonSecretNotLabelled)
	Expect(cond.Message).To(ContainSubstring(`Secret "store" ` + labelMessage))
	Consistently(func() int {
		return store.Requests("GetObject", ns, "profiles.json") + store.Requests("HeadObject", ns, "profiles.json")
	}).WithTimeout(2*time.Second).Should(BeZero(), "the store is not asked with an unlabelled Secret")

	setLabel(storeSecret, true)
	eventuallyCondition(pi, importsv1alpha1.ConditionReady, metav1.ConditionTrue, controllers.ReasonCompleted)
	Expect(simulator.Profiles(sim.Scope{OrgID: orgID})).To(HaveKey("c1"))
})
