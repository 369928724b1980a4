package controllers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// The manager's caches, as controllers.ManagerCacheOptions configures them
// for main.go and for this suite.

// useLabel is the one label the metadata caches of Secrets and ConfigMaps
// keep.
const useLabel = "imports.localytics.dev/use"

var _ = Describe("The manager's caches", func() {
	It("keep of a Secret and a ConfigMap applied with kubectl their names and the use label, not their values", func() {
		ns := newNamespace()
		kubeconfig := adminKubeconfig()
		secretValue, configValue := "s3cret-"+rand.String(16), "customer-"+rand.String(16)
		manifest := func(secretValue, configValue string) string {
			return `
apiVersion: v1
kind: Secret
metadata:
  name: leaky
  labels: {` + useLabel + `: "true", team: growth}
  annotations: {owner: growth@example.com}
stringData:
  api-key: acme-key
  api-secret: ` + secretValue + `
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: leaky
  labels: {team: growth}
  annotations: {owner: growth@example.com}
data:
  customers.jsonl: '{"customer_id":"` + configValue + `"}'
`
		}
		// Client-side apply (kubectl's default) copies the manifest, values
		// included, into the annotation kubectl.kubernetes.io/last-applied-configuration.
		out, err := runKubectl(kubeconfig, manifest(secretValue, configValue), "apply", "-n", ns, "-f", "-")
		Expect(err).NotTo(HaveOccurred(), out)

		cachedMetadata := func(kind, value string, wantLabels map[string]string) {
			GinkgoHelper()
			key := types.NamespacedName{Namespace: ns, Name: "leaky"}
			newMetadata := func() *metav1.PartialObjectMetadata {
				m := &metav1.PartialObjectMetadata{}
				m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
				return m
			}
			By("holding the value in the API server's annotation")
			stored := newMetadata()
			Expect(k8sClient.Get(ctx, key, stored)).To(Succeed())
			Expect(stored.Annotations[corev1.LastAppliedConfigAnnotation]).To(ContainSubstring(value))

			By("keeping it out of the manager's cache of " + kind + " metadata")
			cached := newMetadata()
			Eventually(func(g Gomega) {
				g.Expect(mgrCache.Get(ctx, key, cached)).To(Succeed())
				g.Expect(cached.ResourceVersion).To(Equal(stored.ResourceVersion))
			}).Should(Succeed())
			Expect(cached.Name).To(Equal("leaky"))
			Expect(cached.Annotations).To(BeEmpty())
			Expect(cached.ManagedFields).To(BeEmpty())
			if wantLabels == nil {
				Expect(cached.Labels).To(BeEmpty())
			} else {
				Expect(cached.Labels).To(Equal(wantLabels))
			}
			raw, err := json.Marshal(cached)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(raw)).NotTo(ContainSubstring(value))
			Expect(string(raw)).NotTo(ContainSubstring(base64.StdEncoding.EncodeToString([]byte(value))))
			Expect(string(raw)).NotTo(ContainSubstring("growth"))
		}
		cachedMetadata("Secret", secretValue, map[string]string{useLabel: "true"})
		cachedMetadata("ConfigMap", configValue, nil)

		By("and so after an update")
		secretValue, configValue = "s3cret-"+rand.String(16), "customer-"+rand.String(16)
		out, err = runKubectl(kubeconfig, manifest(secretValue, configValue), "apply", "-n", ns, "-f", "-")
		Expect(err).NotTo(HaveOccurred(), out)
		cachedMetadata("Secret", secretValue, map[string]string{useLabel: "true"})
		cachedMetadata("ConfigMap", configValue, nil)
	})

	It("of a manager watching some namespaces hold nothing of the others", func() {
		watched, other := newNamespace(), newNamespace()
		for _, ns := range []string{watched, other} {
			// An endpoint not allowed: the suite's controllers leave the
			// account stalled, without a call to the simulator.
			createAccount(ns, func(a *importsv1alpha1.LocalyticsAccount) { a.Spec.Endpoint = "https://elsewhere.example" })
			Expect(k8sClient.Create(ctx, credentialsSecret(ns, "unrelated", nil))).To(Succeed())
		}
		mgr := startManager(env.Config, []string{watched}, nil)

		var accounts importsv1alpha1.LocalyticsAccountList
		Eventually(func(g Gomega) {
			g.Expect(mgr.GetClient().List(ctx, &accounts)).To(Succeed())
			g.Expect(accounts.Items).NotTo(BeEmpty())
		}).Should(Succeed())
		for _, a := range accounts.Items {
			Expect(a.Namespace).To(Equal(watched))
		}
		err := mgr.GetClient().Get(ctx, types.NamespacedName{Namespace: other, Name: accountName}, &importsv1alpha1.LocalyticsAccount{})
		Expect(err).To(MatchError(ContainSubstring("unknown namespace for the cache")))
		err = mgr.GetClient().List(ctx, &importsv1alpha1.AudienceListList{}, client.InNamespace(other))
		Expect(err).To(MatchError(ContainSubstring("unknown namespace for the cache")))
		err = mgr.GetClient().List(ctx, &importsv1alpha1.ProfileImportList{}, client.InNamespace(other))
		Expect(err).To(MatchError(ContainSubstring("unknown namespace for the cache")))

		secret := &metav1.PartialObjectMetadata{}
		secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		Expect(mgr.GetCache().Get(ctx, types.NamespacedName{Namespace: watched, Name: "unrelated"}, secret)).To(Succeed())
		err = mgr.GetCache().Get(ctx, types.NamespacedName{Namespace: other, Name: "unrelated"}, secret)
		Expect(err).To(MatchError(ContainSubstring("unknown namespace for the cache")))
	})
})

var _ = Describe("A namespace-scoped install (config/namespaced)", func() {
	It("runs the controllers with only a Role in each watched namespace", func() {
		docs := renderKustomize(filepath.Join(testenv.RepoRoot(), "config", "namespaced"))

		By("replacing the ClusterRole and its binding with a Role and a RoleBinding per watched namespace")
		var (
			namespaces   []string
			roles        []*unstructured.Unstructured
			bindings     []*unstructured.Unstructured
			ledgerAccess []*unstructured.Unstructured
			serviceAcct  string
			operatorNS   string
			clusterRules []rbacv1.PolicyRule
		)
		for _, doc := range docs {
			switch doc.GetKind() {
			case "ClusterRole", "ClusterRoleBinding":
				Expect(doc.GetName()).NotTo(ContainSubstring("manager-role"))
				// The cluster-scoped UploadLedgers, one per API key.
				if strings.HasSuffix(doc.GetName(), "upload-ledgers") {
					ledgerAccess = append(ledgerAccess, doc)
				}
			case "Role":
				if strings.HasSuffix(doc.GetName(), "manager-role") {
					roles = append(roles, doc)
				}
			case "RoleBinding":
				if strings.HasSuffix(doc.GetName(), "manager-rolebinding") {
					bindings = append(bindings, doc)
				}
			case "ServiceAccount":
				serviceAcct, operatorNS = doc.GetName(), doc.GetNamespace()
			case "Deployment":
				args, _, err := unstructured.NestedSlice(doc.Object, "spec", "template", "spec", "containers")
				Expect(err).NotTo(HaveOccurred())
				for _, arg := range args[0].(map[string]any)["args"].([]any) {
					if v, ok := strings.CutPrefix(arg.(string), "--watch-namespaces="); ok {
						namespaces, err = controllers.ParseWatchNamespaces(v)
						Expect(err).NotTo(HaveOccurred())
					}
				}
			}
		}
		Expect(namespaces).NotTo(BeEmpty(), "the Deployment has no --watch-namespaces")
		Expect(serviceAcct).NotTo(BeEmpty())
		raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var clusterRole rbacv1.ClusterRole
		Expect(yaml.Unmarshal(raw, &clusterRole)).To(Succeed())
		clusterRules = clusterRole.Rules
		Expect(clusterRules).NotTo(BeEmpty())
		var roleNamespaces, bindingNamespaces []string
		for _, r := range roles {
			var role rbacv1.Role
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(r.Object, &role)).To(Succeed())
			Expect(role.Rules).To(Equal(clusterRules), "Role %s/%s", role.Namespace, role.Name)
			roleNamespaces = append(roleNamespaces, role.Namespace)
		}
		for _, b := range bindings {
			var binding rbacv1.RoleBinding
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(b.Object, &binding)).To(Succeed())
			Expect(binding.RoleRef.Kind).To(Equal("Role"))
			Expect(binding.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: serviceAcct, Namespace: operatorNS}))
			bindingNamespaces = append(bindingNamespaces, binding.Namespace)
		}
		Expect(roleNamespaces).To(ConsistOf(namespaces))
		Expect(bindingNamespaces).To(ConsistOf(namespaces))

		Expect(ledgerAccess).To(HaveLen(2), "the ClusterRole of the upload ledgers and its binding")

		By("applying those Roles and RoleBindings, and the ClusterRole of the upload ledgers")
		for _, ns := range namespaces {
			err := k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			if !apierrors.IsAlreadyExists(err) {
				Expect(err).NotTo(HaveOccurred())
			}
		}
		for _, obj := range append(append(roles, bindings...), ledgerAccess...) {
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(context.Background(), obj))).To(Succeed()) })
		}

		// The operator's service account, as the API server authenticates it.
		sa, err := env.AddUser(envtest.User{
			Name:   "system:serviceaccount:" + operatorNS + ":" + serviceAcct,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNS, "system:authenticated"},
		}, nil)
		Expect(err).NotTo(HaveOccurred())

		By("running the three controllers as the service account, watching those namespaces")
		mgr := startManager(sa.Config(), namespaces, func(o *cache.Options) {
			// A read of a kind no controller watches fails instead of
			// starting an informer: the metadata read below goes to the
			// controllers' own watch.
			o.ReaderFailOnMissingInformer = true
		}, setupControllers)
		ready := controllers.CacheSynced(mgr.GetCache())
		Eventually(func() error { return ready(probeRequest()) }).Should(Succeed())

		By("seeing a Secret of a watched namespace through the controllers' metadata watch")
		Expect(k8sClient.Create(ctx, credentialsSecret(namespaces[0], "seen", goodCredentials()))).To(Succeed())
		Eventually(func() error {
			m := &metav1.PartialObjectMetadata{}
			m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
			return mgr.GetCache().Get(ctx, types.NamespacedName{Namespace: namespaces[0], Name: "seen"}, m)
		}).Should(Succeed())
		Expect(mgr.GetAPIReader().Get(ctx, types.NamespacedName{Namespace: namespaces[0], Name: "seen"}, &corev1.Secret{})).To(Succeed())

		By("and nothing outside them")
		outside := newNamespace()
		Expect(k8sClient.Create(ctx, credentialsSecret(outside, "unseen", goodCredentials()))).To(Succeed())
		err = mgr.GetAPIReader().Get(ctx, types.NamespacedName{Namespace: outside, Name: "unseen"}, &corev1.Secret{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
	})
})

var _ = Describe("Readiness (controllers.CacheSynced)", func() {
	It("passes once the manager's caches have synced", func() {
		ready := controllers.CacheSynced(mgrCache)
		// The suite does not wait for the manager to start.
		Eventually(func() error { return ready(probeRequest()) }).WithTimeout(time.Minute).Should(Succeed())
		Expect(mgrCache.WaitForCacheSync(ctx)).To(BeTrue())
		Expect(ready(probeRequest())).To(Succeed())
	})

	It("fails, within a second, while a cache has not started", func() {
		_, cacheOptions := controllers.ManagerCacheOptions(nil, nil)
		cacheOptions.Scheme = scheme
		c, err := cache.New(env.Config, cacheOptions)
		Expect(err).NotTo(HaveOccurred())
		start := time.Now()
		Expect(controllers.CacheSynced(c)(probeRequest())).To(MatchError(ContainSubstring("not synced")))
		Expect(time.Since(start)).To(BeNumerically("<", time.Second))
	})

	It("fails while the watches are refused (a manager without the RBAC for all namespaces)", func() {
		ns := newNamespace()
		nobody, err := env.AddUser(envtest.User{Name: "no-cluster-role", Groups: []string{"system:authenticated"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		// Everything the controllers need, but in one namespace only.
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "operator"},
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{importsv1alpha1.GroupVersion.Group}, Resources: []string{"localyticsaccounts"},
				Verbs: []string{"get", "list", "watch"},
			}},
		}
		Expect(k8sClient.Create(ctx, role)).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "operator"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "operator"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "no-cluster-role"}},
		})).To(Succeed())

		newCache := func(namespaces []string) cache.Cache {
			GinkgoHelper()
			_, cacheOptions := controllers.ManagerCacheOptions(namespaces, nil)
			cacheOptions.Scheme = scheme
			c, err := cache.New(nobody.Config(), cacheOptions)
			Expect(err).NotTo(HaveOccurred())
			_, err = c.GetInformer(ctx, &importsv1alpha1.LocalyticsAccount{})
			Expect(err).NotTo(HaveOccurred())
			cacheCtx, stop := context.WithCancel(ctx)
			DeferCleanup(stop)
			go func() {
				defer GinkgoRecover()
				Expect(c.Start(cacheCtx)).To(Succeed())
			}()
			return c
		}
		allNamespaces := controllers.CacheSynced(newCache(nil))
		oneNamespace := controllers.CacheSynced(newCache([]string{ns}))
		Eventually(func() error { return oneNamespace(probeRequest()) }).Should(Succeed())
		Consistently(func() error { return allNamespaces(probeRequest()) }).WithTimeout(3 * time.Second).Should(HaveOccurred())
	})
})

func TestParseWatchNamespaces(t *testing.T) {
	tests := map[string]struct {
		flag    string
		want    []string
		wantErr string
	}{
		"empty: all namespaces": {flag: "", want: nil},
		"blank entries":         {flag: " , ,", want: nil},
		"one":                   {flag: "team-a", want: []string{"team-a"}},
		"several, spaced":       {flag: "team-a, team-b ,team-c", want: []string{"team-a", "team-b", "team-c"}},
		"repeated":              {flag: "team-a,team-b,team-a", want: []string{"team-a", "team-b"}},
		"not a name":            {flag: "team-a,Team_B", wantErr: `"Team_B" is not a namespace name`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := controllers.ParseWatchNamespaces(tc.flag)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

// startManager starts a manager as main.go builds it, with the given
// credentials and watched namespaces (none: all), and stops it when the spec
// ends. adjust changes its cache options; setup adds controllers.
func startManager(cfg *rest.Config, namespaces []string, adjust func(*cache.Options), setup ...func(ctrl.Manager)) ctrl.Manager {
	GinkgoHelper()
	clientOptions, cacheOptions := controllers.ManagerCacheOptions(namespaces, nil)
	if adjust != nil {
		adjust(&cacheOptions)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Client:  clientOptions,
		Cache:   cacheOptions,
		Controller: config.Controller{
			// The suite's manager runs controllers of the same names.
			SkipNameValidation: ptr.To(true),
			// Watches that cannot sync stop the manager soon.
			CacheSyncTimeout: 20 * time.Second,
		},
	})
	Expect(err).NotTo(HaveOccurred())
	for _, s := range setup {
		s(mgr)
	}
	mgrCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	DeferCleanup(func() {
		stop()
		var err error
		Eventually(done).WithTimeout(time.Minute).Should(Receive(&err))
		Expect(err).NotTo(HaveOccurred())
	})
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	Expect(mgr.GetCache().WaitForCacheSync(syncCtx)).To(BeTrue(), "the caches did not sync")
	return mgr
}

// setupControllers adds the three controllers, as main.go does, to mgr.
func setupControllers(mgr ctrl.Manager) {
	GinkgoHelper()
	clients := controllers.NewLocalyticsClients()
	Expect((&controllers.LocalyticsAccountReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clients: clients,
		Recorder: mgr.GetEventRecorder("localyticsaccount-controller"),
	}).SetupWithManager(ctx, mgr)).To(Succeed())
	Expect((&controllers.ProfileImportReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clients: clients,
		Recorder: mgr.GetEventRecorder("profileimport-controller"),
	}).SetupWithManager(ctx, mgr)).To(Succeed())
	Expect((&controllers.AudienceListReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clients: clients,
		Recorder: mgr.GetEventRecorder("audiencelist-controller"),
	}).SetupWithManager(ctx, mgr)).To(Succeed())
}

// probeRequest is a request of the readiness probe.
func probeRequest() *http.Request {
	return httptest.NewRequest(http.MethodGet, "/readyz", nil)
}

// adminKubeconfig writes a kubeconfig of an admin of the suite's API server,
// for kubectl.
func adminKubeconfig() string {
	GinkgoHelper()
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())
	return path
}

// runKubectl runs the kubectl built with the control plane with stdin, and
// returns its combined output.
func runKubectl(kubeconfig, stdin string, args ...string) (string, error) {
	GinkgoHelper()
	bin, err := testenv.Kubectl()
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// renderKustomize renders a kustomization with kubectl, as
// `kubectl apply -k` would, into its objects.
func renderKustomize(dir string) []*unstructured.Unstructured {
	GinkgoHelper()
	bin, err := testenv.Kubectl()
	Expect(err).NotTo(HaveOccurred())
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred(), stderr.String())
	var docs []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		obj := &unstructured.Unstructured{}
		err := decoder.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		Expect(err).NotTo(HaveOccurred())
		if len(obj.Object) > 0 {
			docs = append(docs, obj)
		}
	}
	return docs
}
