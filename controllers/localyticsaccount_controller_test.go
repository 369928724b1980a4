package controllers_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/ledger"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

var _ = Describe("LocalyticsAccount controller", func() {
	It("is Ready with credentials the API accepts, shows the whole budget, and computes as Current", func() {
		account := createReadyAccount()

		ready := eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionTrue, "CredentialsVerified")
		Expect(ready.Message).To(Equal(`The credentials in Secret "acme-credentials" were accepted by ` + simServer.URL))
		Expect(ready.ObservedGeneration).To(Equal(account.Generation))
		Expect(account.Status.ObservedGeneration).To(Equal(account.Generation))
		hasNoCondition(account, importsv1alpha1.ConditionStalled)
		hasNoCondition(account, importsv1alpha1.ConditionReconciling)
		Expect(account.Status.UploadsLeft).To(HaveValue(BeEquivalentTo(10)))
		Expect(account.Status.NextUploadSlot).To(BeNil())
		Expect(kstatusOf(account)).To(Equal(status.CurrentStatus))

		note := eventuallyEvent(account, "CredentialsVerified")
		Expect(note).To(ContainSubstring(`Secret "acme-credentials"`))
		Expect(note).NotTo(ContainSubstring(simSecret))
	})

	It("stalls naming a missing Secret, then becomes Ready when it is created", func() {
		ns := newNamespace()
		account := createAccount(ns)

		stalledCond := eventuallyCondition(account, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, "SecretMissing")
		Expect(stalledCond.Message).To(Equal(`Secret "acme-credentials" not found in namespace "` + ns + `"`))
		readyCond := eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionFalse, "SecretMissing")
		Expect(readyCond.Message).To(Equal(stalledCond.Message))
		hasNoCondition(getAccount(client.ObjectKeyFromObject(account)), importsv1alpha1.ConditionReconciling)
		Expect(kstatusOf(account)).To(Equal(status.FailedStatus))
		Expect(eventuallyEvent(account, "SecretMissing")).To(ContainSubstring("acme-credentials"))

		// No requeue is needed: the Secret's watch brings the account back.
		createSecret(ns, goodCredentials())
		eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionTrue, "CredentialsVerified")
		fresh := getAccount(client.ObjectKeyFromObject(account))
		hasNoCondition(fresh, importsv1alpha1.ConditionStalled)
		Expect(kstatusOf(account)).To(Equal(status.CurrentStatus))
	})

	DescribeTable("stalls naming a missing or empty key of the Secret",
		func(data map[string]string, missingKey string) {
			ns := newNamespace()
			createSecret(ns, data)
			account := createAccount(ns)

			cond := eventuallyCondition(account, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, "SecretKeyMissing")
			Expect(cond.Message).To(Equal(`Secret "acme-credentials" has no key "` + missingKey + `", or it is empty`))
			eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionFalse, "SecretKeyMissing")
		},
		Entry("without api-secret", map[string]string{"api-key": simKey}, "api-secret"),
		Entry("with an empty api-key", map[string]string{"api-key": "", "api-secret": simSecret}, "api-key"),
	)

	It("stalls on refused credentials without calling again, and recovers when the Secret is rotated", func() {
		ns := newNamespace()
		secret := createSecret(ns, map[string]string{"api-key": simKey, "api-secret": "wrong"})
		account := createAccount(ns)

		cond := eventuallyCondition(account, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, "CredentialsRefused")
		Expect(cond.Message).To(ContainSubstring("credentials refused"))
		Expect(cond.Message).To(ContainSubstring(`Secret "acme-credentials"`))
		Expect(cond.Message).NotTo(ContainSubstring("wrong"))
		eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionFalse, "CredentialsRefused")
		Expect(kstatusOf(account)).To(Equal(status.FailedStatus))
		eventuallyEvent(account, "CredentialsRefused")

		// Stalled means no retry: further reconciles (here, caused by a
		// change of the account's labels) do not call the API again.
		calls := statusCalls.Load()
		patch := client.MergeFrom(account.DeepCopy())
		account.Labels = map[string]string{"touched": "yes"}
		Expect(k8sClient.Patch(ctx, account, patch)).To(Succeed())
		Consistently(statusCalls.Load).WithTimeout(2 * time.Second).Should(Equal(calls))

		// Rotating the Secret is noticed without a restart.
		rotated := secret.DeepCopy()
		rotated.Data["api-secret"] = []byte(simSecret)
		Expect(k8sClient.Update(ctx, rotated)).To(Succeed())
		eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionTrue, "CredentialsVerified")
		hasNoCondition(getAccount(client.ObjectKeyFromObject(account)), importsv1alpha1.ConditionStalled)
		Expect(statusCalls.Load()).To(BeNumerically(">", calls))
	})

	It("keeps Reconciling while the API fails, and becomes Ready when it recovers", func() {
		simulator.SetFaults(sim.Faults{ServerErrorRate: 1})
		DeferCleanup(simulator.SetFaults, sim.Faults{})
		ns := newNamespace()
		createSecret(ns, goodCredentials())
		account := createAccount(ns)

		cond := eventuallyCondition(account, importsv1alpha1.ConditionReconciling, metav1.ConditionTrue, "APIUnavailable")
		Expect(cond.Message).To(MatchRegexp(`^the Localytics API answered 50[03] [A-Za-z ]+; retrying$`))
		eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionFalse, "APIUnavailable")
		fresh := getAccount(client.ObjectKeyFromObject(account))
		hasNoCondition(fresh, importsv1alpha1.ConditionStalled)
		Expect(fresh.Status.ObservedGeneration).To(BeZero(), "observedGeneration advances only once a reconcile finished")
		Expect(kstatusOf(account)).To(Equal(status.InProgressStatus))

		// The backoff brings it back; nobody touches anything.
		simulator.SetFaults(sim.Faults{})
		eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionTrue, "CredentialsVerified")
		hasNoCondition(getAccount(client.ObjectKeyFromObject(account)), importsv1alpha1.ConditionReconciling)
	})

	It("shows the reservations of its ledger in its budget, and refreshes it when they expire", func() {
		const window = 4 * time.Second
		account := createReadyAccount(withUploadLimit(2, window))
		key := client.ObjectKeyFromObject(account)
		Expect(account.Status.UploadsLeft).To(HaveValue(BeEquivalentTo(2)))
		probes := statusCalls.Load()

		// The reservations go to the ledger of the account's key; the
		// account shows it.
		Expect(account.Status.KeyHash).To(Equal(ledger.HashOf(simKey)))
		Expect(account.Status.KeyHash).NotTo(ContainSubstring(simKey))
		store := ledger.Uncached(k8sClient, k8sClient)
		book := ledger.Book{Name: ledger.NameOf(account.Status.KeyHash), Limit: ledger.UploadLimitOf(account.Spec.Limits)}
		for _, owner := range []string{"first", "second"} {
			_, err := ledger.Reserve(ctx, store, book, ledger.Slot{Owner: key.Namespace + "/" + owner, Digest: "sha256:" + owner}, time.Now(), time.Now())
			Expect(err).NotTo(HaveOccurred())
		}
		Eventually(func(g Gomega) {
			full := getAccount(key)
			g.Expect(full.Status.UploadsLeft).To(HaveValue(BeEquivalentTo(0)))
			g.Expect(full.Status.NextUploadSlot).NotTo(BeNil())
			g.Expect(full.Status.UploadLedger).To(HaveLen(2))
		}).WithTimeout(5 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
		// The controller reconciles the changed status without losing a
		// reservation and without probing the credentials again.
		Consistently(func(g Gomega) {
			g.Expect(getAccount(key).Status.UploadLedger).To(HaveLen(2))
		}).WithTimeout(time.Second).Should(Succeed())

		// When the window has passed, the controller frees the slots by
		// itself: nothing else writes the account.
		Eventually(func(g Gomega) {
			fresh := getAccount(key)
			g.Expect(fresh.Status.UploadLedger).To(BeEmpty())
			g.Expect(fresh.Status.UploadsLeft).To(HaveValue(BeEquivalentTo(2)))
			g.Expect(fresh.Status.NextUploadSlot).To(BeNil())
		}).WithTimeout(window + 10*time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		Expect(statusCalls.Load()).To(Equal(probes))
		eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionTrue, "CredentialsVerified")
	})
})

var _ = Describe("LocalyticsAccount endpoints", func() {
	It("stalls an account whose endpoint the operator does not allow, sending it nothing", func() {
		s := newImportSim(time.Hour)
		ns := newNamespace()
		s.createSecret(ns)
		// The same simulator, named so that the allowlist (http://127.0.0.1)
		// does not match it.
		elsewhere := strings.Replace(s.url, "127.0.0.1", "localhost", 1)
		account := createAccount(ns, func(a *importsv1alpha1.LocalyticsAccount) { a.Spec.Endpoint = elsewhere })

		stall := eventuallyCondition(account, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonEndpointNotAllowed)
		Expect(stall.Message).To(ContainSubstring("--allowed-endpoints"))
		Expect(stall.Message).To(ContainSubstring(elsewhere))
		Consistently(func() []sim.CallRecord { return s.Calls() }).
			WithTimeout(time.Second).WithPolling(100*time.Millisecond).Should(BeEmpty(), "not a single request reached it")

		// An allowed endpoint makes the account Ready.
		fresh := getAccount(client.ObjectKeyFromObject(account))
		base := fresh.DeepCopy()
		fresh.Spec.Endpoint = s.url
		Expect(k8sClient.Patch(ctx, fresh, client.MergeFrom(base))).To(Succeed())
		eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionTrue, controllers.ReasonCredentialsVerified)
	})
})
