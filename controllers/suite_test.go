package controllers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/endpoints"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
	"github.com/localytics-operator/localytics-operator/internal/source"
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
	// importReconciler is the manager's, for the specs that ask it what it
	// would wake.
	importReconciler *controllers.ProfileImportReconciler
	ctx              context.Context
	env              *envtest.Environment
	k8sClient        client.Client
	scheme           = runtime.NewScheme()

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
	// gcs and azurite are the Google Cloud Storage and Azure Blob Storage
	// emulators of gs:// and azblob:// sources.
	gcs     *testenv.GCSEmulator
	azurite *testenv.Azurite

	// mgrCache is the cache of the manager the controllers run in.
	mgrCache cache.Cache
)

// The size caps of source files, far below the vendor's 100 MB so that a
// file over them is cheap to make; the imports' is above the largest file
// the specs stream (24 MiB).
const (
	importMaxFileBytes = 32 << 20
	listMaxFileBytes   = 64 << 10
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
	gcs, err = testenv.StartGCSEmulator()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(gcs.Stop)
	// gs:// reads go to the emulator, as an operator's started with it in
	// its environment do.
	Expect(os.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)).To(Succeed())
	azurite, err = testenv.StartAzurite()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(azurite.Stop)

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

	// The client and cache options of main.go, all namespaces watched.
	clientOptions, cacheOptions := controllers.ManagerCacheOptions(nil, nil)
	// The manager runs with the permissions of config/rbac/role.yaml, as in
	// a cluster, so that a call the role does not allow fails the specs
	// (rbac_test.go keeps the role from granting more).
	mgr, err := ctrl.NewManager(managerRoleConfig(), ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Client:  clientOptions,
		Cache:   cacheOptions,
	})
	Expect(err).NotTo(HaveOccurred())
	mgrCache = mgr.GetCache()

	// The ProfileImports' reads of Secrets are counted: they use the client
	// their account's controller verified, not the Secret again.
	importReader = &secretReads{Reader: mgr.GetAPIReader()}

	// One attempt per call: the specs drive retries through the reconciler.
	clients = controllers.NewLocalyticsClients(localytics.WithRetryPolicy(localytics.RetryPolicy{MaxAttempts: 1}))
	// The simulators listen on loopback ports of their own, and so do the
	// object stores: versitygw, and the stores some specs put before it.
	clients.AllowedEndpoints = endpoints.MustParse("http://127.0.0.1")
	sourceOptions := source.Options{AllowedEndpoints: endpoints.MustParse("http://127.0.0.1")}
	Expect((&controllers.LocalyticsAccountReconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Recorder:    mgr.GetEventRecorder("localyticsaccount-controller"),
		Clients:     clients,
		BackoffBase: 100 * time.Millisecond,
		BackoffMax:  time.Second,
	}).SetupWithManager(ctx, mgr)).To(Succeed())
	importReconciler = &controllers.ProfileImportReconciler{
		Client:        mgr.GetClient(),
		APIReader:     importReader,
		Recorder:      mgr.GetEventRecorder("profileimport-controller"),
		Clients:       clients,
		BackoffBase:   100 * time.Millisecond,
		BackoffMax:    time.Second,
		PollMin:       100 * time.Millisecond,
		PollMax:       500 * time.Millisecond,
		SourceRecheck: 500 * time.Millisecond,
		UploadTimeout: 10 * time.Second,
		SourceOptions: sourceOptions,
		MaxFileBytes:  importMaxFileBytes,
	}
	Expect(importReconciler.SetupWithManager(ctx, mgr)).To(Succeed())
	Expect((&controllers.AudienceListReconciler{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		Recorder:          mgr.GetEventRecorder("audiencelist-controller"),
		Clients:           clients,
		BackoffBase:       100 * time.Millisecond,
		BackoffMax:        time.Second,
		PollMin:           100 * time.Millisecond,
		PollMax:           500 * time.Millisecond,
		DriftInterval:     2 * time.Second,
		UnknownCreateWait: 5 * time.Second,
		// The 100-list spec is about the audience budget: its one namespace
		// may hold four workers.
		MaxConcurrentReconciles: 16,
		SourceRecheck:           500 * time.Millisecond,
		SourceOptions:           sourceOptions,
		MaxFileBytes:            listMaxFileBytes,
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

// managerRoleConfig returns the config of a user bound to the manager's
// generated ClusterRole, and nothing else.
func managerRoleConfig() *rest.Config {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	role := &rbacv1.ClusterRole{}
	Expect(yaml.Unmarshal(data, role)).To(Succeed())
	Expect(k8sClient.Create(ctx, role)).To(Succeed())
	const user = "localytics-operator-manager"
	Expect(k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	})).To(Succeed())
	manager, err := env.AddUser(envtest.User{Name: user}, nil)
	Expect(err).NotTo(HaveOccurred())
	return manager.Config()
}

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
