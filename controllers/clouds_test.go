package controllers_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/source"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// cloudStore is a store other than S3, as the specs below use it.
type cloudStore struct {
	name   string
	scheme string
	put    func(ctx context.Context, bucket, key string, body []byte) error
	url    func(bucket, key string) string
	secret func() map[string][]byte
}

// cloudStores are an S3-compatible store (versitygw), Google Cloud Storage
// (fake-gcs-server) and Azure Blob Storage (Azurite), each with the Secret
// it is read with. The specs are made before the suite starts the stores:
// each reaches them when it runs.
func cloudStores() []cloudStore {
	return []cloudStore{
		{
			name: "an S3-compatible store", scheme: "s3",
			put: func(ctx context.Context, bucket, key string, body []byte) error {
				return store.Put(ctx, bucket, key, body)
			},
			url: func(bucket, key string) string { return store.URL(bucket, key) },
			secret: func() map[string][]byte {
				return map[string][]byte{source.SecretKeyAccessKeyID: []byte(store.AccessKey), source.SecretKeySecretAccessKey: []byte(store.SecretKey)}
			},
		},
		{
			name: "Google Cloud Storage", scheme: "gs",
			put: func(ctx context.Context, bucket, key string, body []byte) error {
				return gcs.Put(ctx, bucket, key, body)
			},
			url: func(bucket, key string) string { return gcs.URL(bucket, key) },
			secret: func() map[string][]byte {
				key, err := testenv.ServiceAccountKey(nil)
				Expect(err).NotTo(HaveOccurred())
				return map[string][]byte{source.SecretKeyGoogleCredentials: []byte(key)}
			},
		},
		{
			name: "Azure Blob Storage", scheme: "azblob",
			put: func(ctx context.Context, bucket, key string, body []byte) error {
				return azurite.Put(ctx, bucket, key, body)
			},
			url: func(bucket, key string) string { return azurite.URL(bucket, key) },
			secret: func() map[string][]byte {
				return map[string][]byte{source.SecretKeyAzureAccount: []byte(azurite.Account), source.SecretKeyAzureKey: []byte(azurite.Key)}
			},
		},
	}
}

// createCloudSecret creates storeSecretName with the store's credentials.
func createCloudSecret(namespace string, cs cloudStore) {
	GinkgoHelper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: storeSecretName}, Data: cs.secret()}
	Expect(k8sClient.Create(ctx, secret)).To(Succeed())
}

func objectStoreSource(url string) importsv1alpha1.Source {
	return importsv1alpha1.Source{ObjectStore: &importsv1alpha1.ObjectStoreSource{
		URL: url, SecretRef: &importsv1alpha1.LocalObjectReference{Name: storeSecretName},
	}}
}

var _ = Describe("Imports from each kind of object store", func() {
	for _, cs := range cloudStores() {
		It("imports a ProfileImport's file from "+cs.name+", and takes up an invalid one once it is replaced", func() {
			s := newImportSim(time.Hour)
			ns := readyImportAccount(s, time.Hour)
			createCloudSecret(ns, cs)
			Expect(cs.put(ctx, ns, "2026/12/profiles.json", []byte(mixedJSON))).To(Succeed())
			pi := createImport(ns, "from-the-cloud", "", func(pi *importsv1alpha1.ProfileImport) {
				pi.Spec.Source = objectStoreSource(cs.url(ns, "2026/12/profiles.json"))
			})
			eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonValidationFailed)
			Expect(s.Uploads()).To(BeEmpty())

			// Replaced in the store, nothing changed in the cluster: the
			// import sees the new revision by itself.
			Expect(cs.put(ctx, ns, "2026/12/profiles.json", []byte(goodJSON))).To(Succeed())
			done := eventuallyCompleted(pi)
			Expect(done.Status.Bytes).To(Equal(int64(len(goodJSON))))
			Expect(s.Profiles(orgScope)).To(Equal(goodJSONProfiles))
			Expect(eventuallyEvent(pi, controllers.EventValidated)).To(ContainSubstring("object " + cs.scheme + "://" + ns + "/2026/12/profiles.json"))
		})

		It("creates an AudienceList from "+cs.name+", and replaces the list when the object is replaced", func() {
			s := newAudienceSim(relaxedAudienceLimits)
			ns := readyAudienceAccount(s)
			app := newAppID()
			createCloudSecret(ns, cs)
			Expect(cs.put(ctx, ns, "audiences/vip.txt", []byte("u1\nu2\n"))).To(Succeed())
			al := createAudienceList(ns, "from-the-cloud", app, "", func(al *importsv1alpha1.AudienceList) {
				al.Spec.Source = objectStoreSource(cs.url(ns, "audiences/vip.txt"))
			}, withLinesFormat)

			before := eventuallyInSync(al)
			id := before.Status.AudienceListID
			remoteBefore := s.mustRemoteList(app, id)
			Expect(remoteBefore.Members).To(Equal([]string{"u1", "u2"}))
			Expect(before.Status.Bytes).To(Equal(int64(len("u1\nu2\n"))))

			// Nothing in the cluster changes: the controller looks at the
			// object again by itself.

			Expect(cs.put(ctx, ns, "audiences/vip.txt", []byte("u2\nu3\nu4\n"))).To(Succeed())
			Eventually(func(g Gomega) {
				l, ok := s.remoteList(app, id)
				g.Expect(ok).To(BeTrue(), "list %s is gone", id)
				g.Expect(l.Members).To(Equal([]string{"u2", "u3", "u4"}))
				g.Expect(l.Version).To(Equal(remoteBefore.Version + 1))
			}).WithTimeout(driftTimeout).WithPolling(200 * time.Millisecond).Should(Succeed())
			Eventually(func(g Gomega) {
				var fresh importsv1alpha1.AudienceList
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(al), &fresh)).To(Succeed())
				g.Expect(fresh.Status.SourceDigest).NotTo(Equal(before.Status.SourceDigest))
				g.Expect(fresh.Status.ContentDigest).To(Equal(fresh.Status.SourceDigest))
				g.Expect(fresh.Status.SourceRevision).NotTo(Equal(before.Status.SourceRevision))
			}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
			Expect(eventuallyInSync(al).Status.AudienceListID).To(Equal(id), "replaced, not created again")
			Expect(s.AudienceLists(app)).To(HaveLen(1))
			eventuallyEvent(al, controllers.EventReplaced)
		})
	}
})
