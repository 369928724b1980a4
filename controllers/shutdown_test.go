package controllers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/endpoints"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// heldUploads holds every profile upload until released, then passes it to
// the simulator.
type heldUploads struct {
	arrived atomic.Int64
	release chan struct{}
	once    sync.Once
}

func (h *heldUploads) open() { h.once.Do(func() { close(h.release) }) }

func (h *heldUploads) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/imports/profiles/upload") {
			h.arrived.Add(1)
			<-h.release
		}
		next.ServeHTTP(w, r)
	})
}

// A manager of its own, on an API server of its own, so that it can be
// stopped as SIGTERM stops the operator.
var _ = Describe("Stopping the manager", func() {
	It("lets the upload in flight end and records its activity id before it exits", func() {
		env2, err := testenv.New()
		Expect(err).NotTo(HaveOccurred())
		cfg, err := env2.Start()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(env2.Stop)
		c, err := client.New(cfg, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())

		s := newImportSim(time.Hour)
		held := &heldUploads{release: make(chan struct{})}
		server := httptest.NewServer(held.wrap(s.Server))
		DeferCleanup(server.Close)
		DeferCleanup(held.open) // before the server closes, if the spec failed early

		clientOptions, cacheOptions := controllers.ManagerCacheOptions(nil, nil)
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{
			Scheme:                  scheme,
			Metrics:                 metricsserver.Options{BindAddress: "0"},
			Client:                  clientOptions,
			Cache:                   cacheOptions,
			GracefulShutdownTimeout: ptr.To(time.Minute),
			// The suite's manager runs controllers of the same names.
			Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		})
		Expect(err).NotTo(HaveOccurred())
		own := controllers.NewLocalyticsClients(localytics.WithRetryPolicy(localytics.RetryPolicy{MaxAttempts: 1}))
		own.AllowedEndpoints = endpoints.MustParse("http://127.0.0.1")
		Expect((&controllers.LocalyticsAccountReconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("account"), Clients: own,
		}).SetupWithManager(ctx, mgr)).To(Succeed())
		Expect((&controllers.ProfileImportReconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("import"), Clients: own,
			PollMin: 100 * time.Millisecond, PollMax: 500 * time.Millisecond, UploadTimeout: 30 * time.Second,
		}).SetupWithManager(ctx, mgr)).To(Succeed())
		mgrCtx, sigterm := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(stopped)
			Expect(mgr.Start(mgrCtx)).To(Succeed())
		}()
		DeferCleanup(func() { sigterm(); Eventually(stopped).WithTimeout(time.Minute).Should(BeClosed()) })

		const ns = "default"
		Expect(c.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretName},
			Data:       map[string][]byte{"api-key": []byte(s.key), "api-secret": []byte(s.secret)},
		})).To(Succeed())
		Expect(c.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "file"},
			Data:       map[string]string{"profiles": goodJSON},
		})).To(Succeed())
		Expect(c.Create(ctx, newAccount(ns, func(a *importsv1alpha1.LocalyticsAccount) { a.Spec.Endpoint = server.URL }))).To(Succeed())
		pi := &importsv1alpha1.ProfileImport{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "in-flight"},
			Spec: importsv1alpha1.ProfileImportSpec{
				AccountRef: importsv1alpha1.LocalObjectReference{Name: accountName},
				OrgID:      ptr.To[int64](simOrgID),
				Source:     importsv1alpha1.Source{ConfigMapRef: &importsv1alpha1.ConfigMapKeyReference{Name: "file", Key: "profiles"}},
			},
		}
		Expect(c.Create(ctx, pi)).To(Succeed())
		Eventually(held.arrived.Load).WithTimeout(time.Minute).Should(BeEquivalentTo(1), "the upload was sent")

		// SIGTERM while the upload is in flight; the manager waits for it.
		sigterm()
		Consistently(stopped).WithTimeout(time.Second).ShouldNot(BeClosed(), "the manager waits for the upload in flight")
		held.open()
		Eventually(stopped).WithTimeout(time.Minute).Should(BeClosed())

		fresh := &importsv1alpha1.ProfileImport{}
		Expect(c.Get(ctx, client.ObjectKeyFromObject(pi), fresh)).To(Succeed())
		Expect(fresh.Status.ActivityID).NotTo(BeEmpty(), "the answer of the upload was recorded on the way out")
		Expect(fresh.Status.UploadIntent).To(BeNil())
		Expect(s.Uploads()).To(HaveLen(1))
	})
})
