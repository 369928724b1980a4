// Package sharding proves that two operator processes sharing one
// LocalyticsAccount, or each with an account of the same API key in a
// namespace of its own, never exceed the key's upload budget: the budget
// lives in the key's UploadLedger, reserved through the API server's
// optimistic concurrency, not in either process's memory.
//
// It is a suite of its own because each of its two managers must see only
// its shard of ProfileImports (a label-selected cache), which the controllers
// suite's manager, watching every object, would not allow.
package sharding_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/endpoints"
	"github.com/localytics-operator/localytics-operator/internal/ledger"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

const (
	shardLabel = "imports.localytics.dev/shard"
	orgID      = 60
	uploads    = 10 // the account's budget per window
	imports    = 12 // more than the budget, split over two shards
)

var (
	ctx       context.Context
	scheme    = runtime.NewScheme()
	cfg       *rest.Config
	k8sClient client.Client
)

func TestSharding(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Two managers sharing one account")
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
	cfg, err = env.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

// startShard starts a manager, as a separate operator process would be, that
// reconciles only the ProfileImports labelled with its shard. Its Localytics
// clients, and so its in-memory budgets, are its own.
func startShard(namespace, shard string) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{
			DefaultNamespaces: map[string]cache.Config{namespace: {}},
			ByObject: map[client.Object]cache.ByObject{
				&importsv1alpha1.ProfileImport{}: {Label: labels.SelectorFromSet(labels.Set{shardLabel: shard})},
			},
		},
		Client: client.Options{Cache: &client.CacheOptions{
			DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
		}},
		// Two managers in one test process register controllers of the same name.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())

	clients := controllers.NewLocalyticsClients(localytics.WithRetryPolicy(localytics.RetryPolicy{MaxAttempts: 1}))
	clients.AllowedEndpoints = endpoints.MustParse("http://127.0.0.1")
	Expect((&controllers.LocalyticsAccountReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clients: clients,
		Recorder:    mgr.GetEventRecorder("localyticsaccount-controller-" + shard),
		BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second,
	}).SetupWithManager(ctx, mgr)).To(Succeed())
	Expect((&controllers.ProfileImportReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clients: clients,
		Recorder:    mgr.GetEventRecorder("profileimport-controller-" + shard),
		BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second,
		PollMin: 100 * time.Millisecond, PollMax: 500 * time.Millisecond,
		MaxConcurrentReconciles: 4,
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
}

var _ = It("never lets two managers sharing one account exceed its upload budget", func() {
	ns := newNamespace()
	spendOneBudget("shard-key", []string{ns, ns})
})

var _ = It("never lets two accounts of one API key, in two namespaces, with a manager each, exceed the key's budget", func() {
	spendOneBudget("shared-key", []string{newNamespace(), newNamespace()})
})

func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sharding-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// spendOneBudget gives each of two shards an account "acme" of the API key
// in its namespace (the same namespace, or one each), queues more imports
// than the key's budget across them, and checks that the budget is spent
// whole, and no more: one UploadLedger of the key, shown by every account.
func spendOneBudget(key string, namespaces []string) {
	simulator := sim.New(sim.Config{
		Accounts: []sim.Account{{Key: key, Secret: key + "-secret", OrgIDs: []int64{orgID}}},
		Limits: sim.Limits{
			ProfileUploads: uploads, ProfileUploadWindow: time.Hour,
			ProfileStatus: 600, ProfileStatusWindow: time.Minute,
		},
		PendingFor: 100 * time.Millisecond,
		RunningFor: 200 * time.Millisecond,
	})
	server := httptest.NewServer(simulator)
	DeferCleanup(server.Close)
	DeferCleanup(simulator.Close)

	for i, ns := range namespaces {
		if i > 0 && ns == namespaces[0] {
			continue
		}
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "credentials"},
			Data:       map[string][]byte{"api-key": []byte(key), "api-secret": []byte(key + "-secret")},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &importsv1alpha1.LocalyticsAccount{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"},
			Spec: importsv1alpha1.LocalyticsAccountSpec{
				SecretRef: importsv1alpha1.LocalObjectReference{Name: "credentials"},
				Endpoint:  server.URL,
				Limits: importsv1alpha1.AccountLimits{
					ProfileUploads: &importsv1alpha1.RateLimit{Count: uploads, Window: metav1.Duration{Duration: time.Hour}},
					ProfileStatus:  &importsv1alpha1.RateLimit{Count: 600, Window: metav1.Duration{Duration: time.Minute}},
				},
			},
		})).To(Succeed())
	}

	startShard(namespaces[0], "a")
	startShard(namespaces[1], "b")

	for i := range imports {
		name := fmt.Sprintf("import-%d", i)
		ns := namespaces[i%2]
		Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Data:       map[string]string{"profiles": fmt.Sprintf(`{"customer_id":"c%d","changes":[{"op":"assign","attr":"n","value":%d}]}`+"\n", i, i)},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &importsv1alpha1.ProfileImport{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: ns, Name: name,
				Labels: map[string]string{shardLabel: []string{"a", "b"}[i%2]},
			},
			Spec: importsv1alpha1.ProfileImportSpec{
				AccountRef: importsv1alpha1.LocalObjectReference{Name: "acme"},
				OrgID:      ptr.To[int64](orgID),
				Source: importsv1alpha1.Source{ConfigMapRef: &importsv1alpha1.ConfigMapKeyReference{
					Name: name, Key: "profiles",
				}},
				// Each takes a slot of its own: the budget is what is tested.
				Packing: importsv1alpha1.PackingNever,
			},
		})).To(Succeed())
	}

	By("spending the whole budget, and no more, across both shards")
	phases := func(g Gomega) map[importsv1alpha1.ProfileImportPhase]int {
		count := map[importsv1alpha1.ProfileImportPhase]int{}
		for _, ns := range namespaces[:1+btoi(namespaces[1] != namespaces[0])] {
			var list importsv1alpha1.ProfileImportList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			for _, pi := range list.Items {
				count[pi.Status.Phase]++
				if pi.Status.Phase == importsv1alpha1.PhaseQueued {
					g.Expect(pi.Status.NextUploadSlot).NotTo(BeNil(), "a queued import shows when the next slot opens")
				}
			}
		}
		return count
	}
	Eventually(phases).WithTimeout(2 * time.Minute).Should(Equal(map[importsv1alpha1.ProfileImportPhase]int{
		importsv1alpha1.PhaseCompleted: uploads,
		importsv1alpha1.PhaseQueued:    imports - uploads,
	}))
	Consistently(func() int { return len(simulator.Uploads()) }).WithTimeout(3 * time.Second).Should(Equal(uploads))
	Expect(simulator.Throttled()).To(BeEmpty(), "the budget is kept by the operator, not discovered through 429s")

	var keyLedger importsv1alpha1.UploadLedger
	Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ledger.NameOf(ledger.HashOf(key))}, &keyLedger)).To(Succeed())
	Expect(keyLedger.Status.Entries).To(HaveLen(uploads))
	for _, ns := range namespaces {
		Eventually(func(g Gomega) {
			var account importsv1alpha1.LocalyticsAccount
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "acme"}, &account)).To(Succeed())
			g.Expect(account.Status.UploadLedger).To(HaveLen(uploads), "every account of the key shows its whole ledger")
		}).WithTimeout(10 * time.Second).Should(Succeed())
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
