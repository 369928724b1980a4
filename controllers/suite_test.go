package controllers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/endpoints"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// The controllers run in-process in a real manager, against a real API
// server (envtest) and the Localytics simulator over real HTTP.

// The simulator's account: the credentials specs put in Secrets.
const (
	simKey    = "acme-key"
	simSecret = "acme-secret"
	simOrgID  = 60
	simAppID  = "acme-app"
)

var (
	ctx       context.Context
	env       *envtest.Environment
	k8sClient client.Client
	scheme    = runtime.NewScheme()

	simulator *sim.Server
	simServer *httptest.Server
	// statusCalls counts the P2 calls the simulator received: the account
	// controller's credential probes.
	statusCalls atomic.Int64

	clients *controllers.LocalyticsClients

	// importReader is the ProfileImport reconciler's APIReader.
	importReader *secretReads

	// store is the S3-compatible object store (versitygw) of object-store
	// sources.
	store *testenv.ObjectStore
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers suite")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var cancel context.CancelFunc
	ctx, cancel = context.WithCancel(context.Background())
	DeferCleanup(cancel)

	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(importsv1alpha1.AddToScheme(scheme)).To(Succeed())

	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	cfg, err := env.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)

	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	// Every object-store spec names its Secret: nothing may reach for the
	// cloud's instance metadata.
	Expect(os.Setenv("AWS_EC2_METADATA_DISABLED", "true")).To(Succeed())
	store, err = testenv.StartObjectStore()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(store.Stop)

	simulator = sim.New(sim.Config{
		Accounts: []sim.Account{{Key: simKey, Secret: simSecret, OrgIDs: []int64{simOrgID}, AppIDs: []string{simAppID}}},
	})
	simServer = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/imports/profiles/status/") {
			statusCalls.Add(1)
		}
		simulator.ServeHTTP(w, r)
	}))
	DeferCleanup(simServer.Close)

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		// As in main.go: Secrets and ConfigMaps are never cached.
		Client: client.Options{Cache: &client.CacheOptions{
			DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
		}},
	})
	Expect(err).NotTo(HaveOccurred())

	// The ProfileImports' reads of Secrets are counted: they use the client
	// their account's controller verified, not the Secret again.
	importReader = &secretReads{Reader: mgr.GetAPIReader()}

	// One attempt per call: the specs drive retries through the reconciler.
	clients = controllers.NewLocalyticsClients(localytics.WithRetryPolicy(localytics.RetryPolicy{MaxAttempts: 1}))
	// The simulators listen on loopback ports of their own.
	clients.AllowedEndpoints = endpoints.MustParse("http://127.0.0.1")
	Expect((&controllers.LocalyticsAccountReconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Recorder:    mgr.GetEventRecorder("localyticsaccount-controller"),
		Clients:     clients,
		BackoffBase: 100 * time.Millisecond,
		BackoffMax:  time.Second,
	}).SetupWithManager(ctx, mgr)).To(Succeed())
	Expect((&controllers.ProfileImportReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               importReader,
		Recorder:                mgr.GetEventRecorder("profileimport-controller"),
		Clients:                 clients,
		BackoffBase:             100 * time.Millisecond,
		BackoffMax:              time.Second,
		PollMin:                 100 * time.Millisecond,
		PollMax:                 500 * time.Millisecond,
		MaxConcurrentReconciles: 4,
		SourceRecheck:           500 * time.Millisecond,
		UploadTimeout:           10 * time.Second,
	}).SetupWithManager(ctx, mgr)).To(Succeed())
	Expect((&controllers.AudienceListReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("audiencelist-controller"),
		Clients:                 clients,
		BackoffBase:             100 * time.Millisecond,
		BackoffMax:              time.Second,
		PollMin:                 100 * time.Millisecond,
		PollMax:                 500 * time.Millisecond,
		DriftInterval:           2 * time.Second,
		UnknownCreateWait:       5 * time.Second,
		MaxConcurrentReconciles: 4,
		SourceRecheck:           500 * time.Millisecond,
	}).SetupWithManager(ctx, mgr)).To(Succeed())

	mgrCtx, stopManager := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	DeferCleanup(func() {
		stopManager()
		Eventually(done).WithTimeout(time.Minute).Should(BeClosed())
	})
})

// secretReads is a reader of the API server that counts the Secrets read
// through it, by namespace/name.
type secretReads struct {
	client.Reader
	mu    sync.Mutex
	reads map[string]int
}

func (r *secretReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		r.mu.Lock()
		if r.reads == nil {
			r.reads = map[string]int{}
		}
		r.reads[key.String()]++
		r.mu.Unlock()
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// of returns how many times the Secret was read.
func (r *secretReads) of(key client.ObjectKey) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads[key.String()]
}
