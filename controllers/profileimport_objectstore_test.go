package controllers_test

import (
	"bytes"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/importfile/importfiletest"
	"github.com/localytics-operator/localytics-operator/internal/source"
)

// storeSecretName is the Secret with the object store's credentials.
const storeSecretName = "store-credentials"

// createStoreSecret creates the Secret of the object store's credentials,
// with secretKey as the secret access key.
func createStoreSecret(namespace, secretKey string) *corev1.Secret {
	GinkgoHelper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: storeSecretName},
		Data: map[string][]byte{
			source.SecretKeyAccessKeyID:     []byte(store.AccessKey),
			source.SecretKeySecretAccessKey: []byte(secretKey),
		},
	}
	Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	return secret
}

// fromObject makes an import read the object key of bucket in the test
// store, with the credentials of storeSecretName.
func fromObject(bucket, key string) func(*importsv1alpha1.ProfileImport) {
	return func(pi *importsv1alpha1.ProfileImport) {
		pi.Spec.Source = importsv1alpha1.Source{ObjectStore: &importsv1alpha1.ObjectStoreSource{
			URL:       store.URL(bucket, key),
			SecretRef: &importsv1alpha1.LocalObjectReference{Name: storeSecretName},
		}}
	}
}

var _ = Describe("ProfileImport from an object store", Ordered, ContinueOnFailure, func() {
	It("imports a file from an S3-compatible store with the credentials of a Secret", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createStoreSecret(ns, store.SecretKey)
		Expect(store.Put(ctx, ns, "2026/11/profiles.json", []byte(goodJSON))).To(Succeed())
		pi := createImport(ns, "from-s3", "", fromObject(ns, "2026/11/profiles.json"))

		done := eventuallyCompleted(pi)
		Expect(done.Status.Bytes).To(Equal(int64(len(goodJSON))))
		Expect(done.Status.ContentDigest).To(HavePrefix("sha256:"))
		Expect(s.Profiles(orgScope)).To(Equal(goodJSONProfiles))
		Expect(eventuallyEvent(pi, controllers.EventValidated)).To(ContainSubstring("object s3://" + ns + "/2026/11/profiles.json"))
	})

	It("streams a large file from the store to the API, every line of it", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createStoreSecret(ns, store.SecretKey)
		file := importfiletest.ProfileJSON(24 << 20)
		Expect(store.Put(ctx, ns, "big.json", file)).To(Succeed())
		pi := createImport(ns, "big", "", fromObject(ns, "big.json"))

		Eventually(func() string { return getImport(pi).Status.ActivityID }).WithTimeout(2 * time.Minute).ShouldNot(BeEmpty())
		got := getImport(pi)
		Expect(got.Status.Bytes).To(Equal(int64(len(file))))
		Expect(got.Status.Lines).To(Equal(int64(bytes.Count(file, []byte("\n")))))
		uploads := s.Uploads()
		Expect(uploads).To(HaveLen(1))
		Expect(uploads[0].Bytes).To(Equal(int64(len(file))), "the file arrives whole, as it is in the store")
	})

	It("waits for a missing object, naming it, and completes once it appears", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createStoreSecret(ns, store.SecretKey)
		Expect(store.Put(ctx, ns, "other.json", []byte(goodJSON))).To(Succeed())
		pi := createImport(ns, "early", "", fromObject(ns, "late.json"))

		stalledCond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonSourceNotFound)
		Expect(stalledCond.Message).To(Equal(fmt.Sprintf("object s3://%s/late.json not found", ns)))
		Expect(getImport(pi).Status.Phase).To(Equal(importsv1alpha1.PhasePending))

		// Nothing in the cluster changes: the import looks again by itself.
		Expect(store.Put(ctx, ns, "late.json", []byte(goodJSON))).To(Succeed())
		eventuallyCompleted(pi)
		Expect(s.Profiles(orgScope)).To(Equal(goodJSONProfiles))
	})

	It("stalls on credentials the store refuses, and completes once the Secret is fixed", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		secret := createStoreSecret(ns, "not-the-secret")
		Expect(store.Put(ctx, ns, "profiles.json", []byte(goodJSON))).To(Succeed())
		pi := createImport(ns, "refused", "", fromObject(ns, "profiles.json"))

		stalledCond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonSourceAccessDenied)
		Expect(stalledCond.Message).To(ContainSubstring(fmt.Sprintf(`with the credentials in Secret %q`, storeSecretName)))
		Expect(stalledCond.Message).NotTo(ContainSubstring("not-the-secret"))
		Expect(s.Uploads()).To(BeEmpty())

		patch := client.MergeFrom(secret.DeepCopy())
		secret.Data[source.SecretKeySecretAccessKey] = []byte(store.SecretKey)
		Expect(k8sClient.Patch(ctx, secret, patch)).To(Succeed())
		eventuallyCompleted(pi)
	})

	It("waits for the store's missing Secret, naming it, and completes once it is created", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		Expect(store.Put(ctx, ns, "profiles.json", []byte(goodJSON))).To(Succeed())
		pi := createImport(ns, "no-secret", "", fromObject(ns, "profiles.json"))

		stalledCond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonSourceNotFound)
		Expect(stalledCond.Message).To(ContainSubstring(fmt.Sprintf("Secret %q not found", storeSecretName)))

		// The Secret's watch wakes the import.
		createStoreSecret(ns, store.SecretKey)
		eventuallyCompleted(pi)
	})

	It("reads a validated object again only when it changed, and takes up an invalid one once it is fixed", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createStoreSecret(ns, store.SecretKey)
		Expect(store.Put(ctx, ns, "profiles.json", []byte(mixedJSON))).To(Succeed())
		pi := createImport(ns, "fixed-later", "", fromObject(ns, "profiles.json"))
		eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonValidationFailed)
		gets := func() int { return store.Requests("GetObject", ns, "profiles.json") }
		heads := func() int { return store.Requests("HeadObject", ns, "profiles.json") }
		Expect(gets()).To(Equal(1))

		// The stalled import looks at the object again and again (the fix
		// would be made in the store), but reads it only once.
		Eventually(heads).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 3))
		Expect(gets()).To(Equal(1), "an unchanged object is not read again")

		Expect(store.Put(ctx, ns, "profiles.json", []byte(goodJSON))).To(Succeed())
		eventuallyCompleted(pi)
		Expect(s.Profiles(orgScope)).To(Equal(goodJSONProfiles))
		Expect(gets()).To(Equal(3), "the new object read twice: validated, then uploaded")
	})

	It("stalls on an object store URL that cannot work, saying why", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		pi := createImport(ns, "no-key", "", func(pi *importsv1alpha1.ProfileImport) {
			pi.Spec.Source = importsv1alpha1.Source{ObjectStore: &importsv1alpha1.ObjectStoreSource{URL: "s3://bucket-only/"}}
		})
		stalledCond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonSourceInvalid)
		Expect(stalledCond.Message).To(ContainSubstring("spec.source.objectStore.url must name a bucket and an object"))
	})
})
