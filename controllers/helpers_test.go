package controllers_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// Helpers shared by the specs of every controller.

const (
	// accountName and secretName are what createAccountWithSecret uses.
	accountName = "acme"
	secretName  = "acme-credentials"
)

// newNamespace creates a namespace of its own for a spec.
func newNamespace() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "spec-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// credentialsSecret is a Secret with the given data, nil values left out.
func credentialsSecret(namespace, name string, data map[string]string) *corev1.Secret {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		secret.Data[k] = []byte(v)
	}
	return secret
}

// goodCredentials is the data of a Secret the simulator accepts.
func goodCredentials() map[string]string {
	return map[string]string{"api-key": simKey, "api-secret": simSecret}
}

// createSecret creates the account's credentials Secret, secretName.
func createSecret(namespace string, data map[string]string) *corev1.Secret {
	GinkgoHelper()
	secret := credentialsSecret(namespace, secretName, data)
	Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	return secret
}

// newAccount is an account in namespace pointed at the simulator, using
// Secret secretName; mutate adjusts it before it is created.
func newAccount(namespace string, mutate ...func(*importsv1alpha1.LocalyticsAccount)) *importsv1alpha1.LocalyticsAccount {
	account := &importsv1alpha1.LocalyticsAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: accountName},
		Spec: importsv1alpha1.LocalyticsAccountSpec{
			SecretRef: importsv1alpha1.LocalObjectReference{Name: secretName},
			Endpoint:  simServer.URL,
			// No quiet period: an import's upload goes at once, as the
			// specs of single imports expect; the packing specs set one.
			Gathering: importsv1alpha1.Gathering{QuietPeriod: &metav1.Duration{}},
		},
	}
	for _, m := range mutate {
		m(account)
	}
	return account
}

// createAccount creates an account as newAccount builds it.
func createAccount(namespace string, mutate ...func(*importsv1alpha1.LocalyticsAccount)) *importsv1alpha1.LocalyticsAccount {
	GinkgoHelper()
	account := newAccount(namespace, mutate...)
	Expect(k8sClient.Create(ctx, account)).To(Succeed())
	return account
}

// withUploadLimit sets the account's profile upload budget.
func withUploadLimit(count int32, window time.Duration) func(*importsv1alpha1.LocalyticsAccount) {
	return func(a *importsv1alpha1.LocalyticsAccount) {
		a.Spec.Limits.ProfileUploads = &importsv1alpha1.RateLimit{Count: count, Window: metav1.Duration{Duration: window}}
	}
}

// createReadyAccount creates a namespace, a Secret the simulator accepts and
// an account using it, and waits until the account is Ready: what every
// import spec starts from.
func createReadyAccount(mutate ...func(*importsv1alpha1.LocalyticsAccount)) *importsv1alpha1.LocalyticsAccount {
	GinkgoHelper()
	ns := newNamespace()
	createSecret(ns, goodCredentials())
	account := createAccount(ns, mutate...)
	eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionTrue, "CredentialsVerified")
	return getAccount(client.ObjectKeyFromObject(account))
}

func getAccount(key types.NamespacedName) *importsv1alpha1.LocalyticsAccount {
	GinkgoHelper()
	var account importsv1alpha1.LocalyticsAccount
	Expect(k8sClient.Get(ctx, key, &account)).To(Succeed())
	return &account
}

// conditionsOf returns the conditions of any of the operator's kinds.
func conditionsOf(obj client.Object) []metav1.Condition {
	switch o := obj.(type) {
	case *importsv1alpha1.LocalyticsAccount:
		return o.Status.Conditions
	case *importsv1alpha1.ProfileImport:
		return o.Status.Conditions
	case *importsv1alpha1.AudienceList:
		return o.Status.Conditions
	default:
		Fail(fmt.Sprintf("no conditions on %T", obj))
		return nil
	}
}

// eventuallyCondition waits until obj has the condition with the given
// status and reason, and returns it, read fresh from the API server.
func eventuallyCondition(obj client.Object, conditionType string, want metav1.ConditionStatus, reason string) metav1.Condition {
	GinkgoHelper()
	key := client.ObjectKeyFromObject(obj)
	fresh := obj.DeepCopyObject().(client.Object)
	var found metav1.Condition
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key, fresh)).To(Succeed())
		c := meta.FindStatusCondition(conditionsOf(fresh), conditionType)
		g.Expect(c).NotTo(BeNil(), "no %s condition yet", conditionType)
		g.Expect(c.Status).To(Equal(want), "%s: %s", c.Reason, c.Message)
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		found = *c
	}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	return found
}

// hasNoCondition checks that obj carries no condition of the type.
func hasNoCondition(obj client.Object, conditionType string) {
	GinkgoHelper()
	Expect(meta.FindStatusCondition(conditionsOf(obj), conditionType)).To(BeNil())
}

// kstatusOf computes the object's status as Flux, Argo CD and kubectl's
// kstatus-based waiting see it.
func kstatusOf(obj client.Object) status.Status {
	GinkgoHelper()
	gvk, err := apiutil.GVKForObject(obj, scheme)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), u)).To(Succeed())
	result, err := status.Compute(u)
	Expect(err).NotTo(HaveOccurred())
	return result.Status
}

// eventuallyEvent waits for an event with the reason about obj, and
// returns its note.
func eventuallyEvent(obj client.Object, reason string) string {
	GinkgoHelper()
	var note string
	Eventually(func(g Gomega) {
		var events eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &events, client.InNamespace(obj.GetNamespace()))).To(Succeed())
		found := false
		for _, e := range events.Items {
			if e.Regarding.Name == obj.GetName() && e.Reason == reason {
				note, found = e.Note, true
			}
		}
		g.Expect(found).To(BeTrue(), "no %s event for %s", reason, obj.GetName())
	}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	return note
}
