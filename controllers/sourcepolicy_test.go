package controllers_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
)

// The operator's limits on sources, whatever a spec asks: the object stores
// it may send a Secret to, and the size of a file it reads.

// startSizeLyingStore starts a store before versitygw that forwards every
// request as it is (the signatures hold: the Host header is kept) and
// answers the GET of an object without its length, with contentRange, if
// any, as the object's size: a store that lies about the size, or does not
// tell it. It returns the store's base URL.
func startSizeLyingStore(contentRange string) string {
	GinkgoHelper()
	target, err := url.Parse(store.Endpoint)
	Expect(err).NotTo(HaveOccurred())
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Method == http.MethodGet && resp.StatusCode == http.StatusOK {
				resp.Header.Del("Content-Length")
				resp.ContentLength = -1 // sent chunked
				if contentRange != "" {
					resp.Header.Set("Content-Range", contentRange)
				}
			}
			return nil
		},
	}
	server := httptest.NewServer(proxy)
	DeferCleanup(server.Close)
	return server.URL
}

// objectAt is the source of the object key of bucket, through the store at
// endpoint, with the credentials of storeSecretName.
func objectAt(endpoint, bucket, key string) importsv1alpha1.Source {
	return importsv1alpha1.Source{ObjectStore: &importsv1alpha1.ObjectStoreSource{
		URL:       fmt.Sprintf("s3://%s/%s?endpoint=%s", bucket, key, url.QueryEscape(endpoint)),
		SecretRef: &importsv1alpha1.LocalObjectReference{Name: storeSecretName},
	}}
}

// idLines is a lines-format audience file of at least size bytes.
func idLines(size int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "u%07d\n", i)
	}
	return b.Bytes()
}

var _ = Describe("Source limits", func() {
	It("sends an import's store Secret to no endpoint outside --allowed-object-store-endpoints, and does not even read it", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createStoreSecret(ns, store.SecretKey)
		// A store of the import author's choosing: a host the suite's
		// allowlist (http://127.0.0.1) does not name.
		var requests atomic.Int64
		trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			requests.Add(1)
			w.WriteHeader(http.StatusForbidden)
		}))
		DeferCleanup(trap.Close)
		elsewhere := "http://localhost:" + trap.URL[strings.LastIndex(trap.URL, ":")+1:]
		pi := createImport(ns, "elsewhere", "", func(pi *importsv1alpha1.ProfileImport) {
			pi.Spec.Source = objectAt(elsewhere, "loot", "profiles.json")
		})

		cond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonSourceEndpointNotAllowed)
		Expect(cond.Message).To(Equal("spec.source.objectStore.url names the endpoint " + elsewhere +
			", which is not among the operator's --allowed-object-store-endpoints; nothing was read or sent. " +
			"Ask the cluster admin to allow it, or use an allowed store"))
		Expect(getImport(pi).Status.Phase).To(Equal(importsv1alpha1.PhasePending))
		// Stalled: it looks again only when the spec or the Secret changes.
		Consistently(func() int {
			return importReader.of(client.ObjectKey{Namespace: ns, Name: storeSecretName})
		}).WithTimeout(2*time.Second).Should(BeZero(), "the store's Secret is not read")
		Expect(requests.Load()).To(BeZero(), "nothing reaches the endpoint")
		Expect(s.Uploads()).To(BeEmpty())
	})

	It("refuses an object over the size cap before reading any of it", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createStoreSecret(ns, store.SecretKey)
		big := bytes.Repeat([]byte(goodJSON), importMaxFileBytes/len(goodJSON)+1)[:importMaxFileBytes+1]
		Expect(store.Put(ctx, ns, "big.json", big)).To(Succeed())
		pi := createImport(ns, "too-big", "", fromObject(ns, "big.json"))

		cond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonFileTooLarge)
		Expect(cond.Message).To(Equal(fmt.Sprintf("object s3://%s/big.json has %d bytes, over the limit of %d bytes; "+
			"none of it was read, nothing was uploaded", ns, importMaxFileBytes+1, importMaxFileBytes)))
		got := getImport(pi)
		Expect(got.Status.Phase).To(Equal(importsv1alpha1.PhaseInvalid))
		Expect(got.Status.Validation).To(BeNil(), "nothing was validated")
		Expect(got.Status.Bytes).To(BeZero())
		Expect(eventuallyEvent(pi, controllers.EventRejected)).To(Equal(cond.Message))
		Expect(s.Uploads()).To(BeEmpty())
	})

	It("refuses a ConfigMap over the size cap before reading any of it", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "big"},
			Data:       map[string]string{audienceKey: string(idLines(listMaxFileBytes + 1)[:listMaxFileBytes+1])},
		})).To(Succeed())
		al := createAudienceList(ns, "too-big", newAppID(), "big", withLinesFormat)

		cond := eventuallyCondition(al, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonFileTooLarge)
		Expect(cond.Message).To(Equal(fmt.Sprintf(`ConfigMap "big" key %q has %d bytes, over the limit of %d bytes; `+
			"none of it was read, nothing was uploaded", audienceKey, listMaxFileBytes+1, listMaxFileBytes)))
		got := getAudienceList(al)
		Expect(got.Status.Validation).To(BeNil(), "nothing was validated")
		Expect(got.Status.Bytes).To(BeZero())
		Expect(s.audienceCalls()).To(BeEmpty())
	})

	DescribeTable("reads no more than the size cap and one byte of a store that tells a wrong size, or none",
		func(contentRange string) {
			s := newAudienceSim(relaxedAudienceLimits)
			ns := readyAudienceAccount(s)
			createStoreSecret(ns, store.SecretKey)
			file := idLines(4 * listMaxFileBytes)
			Expect(store.Put(ctx, ns, "ids.txt", file)).To(Succeed())
			liar := startSizeLyingStore(contentRange)
			al := createAudienceList(ns, "lied-to", newAppID(), "", withLinesFormat, func(al *importsv1alpha1.AudienceList) {
				al.Spec.Source = objectAt(liar, ns, "ids.txt")
			})

			cond := eventuallyCondition(al, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonFileTooLarge)
			Expect(cond.Message).To(Equal(fmt.Sprintf("the file has more than %d bytes, the limit; reading stopped there, nothing was uploaded",
				listMaxFileBytes)))
			Expect(getAudienceList(al).Status.Bytes).To(BeEquivalentTo(listMaxFileBytes+1),
				"validation read the cap and one byte of the %d the store sent", len(file))
			Expect(s.audienceCalls()).To(BeEmpty())
		},
		Entry("a store that says the object has 100 bytes", "bytes 0-99/100"),
		Entry("a store that does not say", ""),
	)
})
