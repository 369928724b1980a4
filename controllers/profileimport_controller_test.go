package controllers_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// ---------------------------------------------------------------------------
// A simulator per spec: its own API key (so the shared client budgets of one
// spec do not leak into another), fast jobs, and the budgets the spec asks
// for.
// ---------------------------------------------------------------------------

var simSeq atomic.Int64

type importSim struct {
	*sim.Server
	url, key, secret string
}

// newImportSim allows the vendor's 10 uploads per window.
func newImportSim(window time.Duration, edit ...func(*sim.Config)) *importSim {
	GinkgoHelper()
	n := simSeq.Add(1)
	s := &importSim{key: fmt.Sprintf("pi-key-%d", n), secret: fmt.Sprintf("pi-secret-%d", n)}
	config := sim.Config{
		Accounts: []sim.Account{{Key: s.key, Secret: s.secret, OrgIDs: []int64{simOrgID}, AppIDs: []string{simAppID}}},
		Limits: sim.Limits{
			ProfileUploads: 10, ProfileUploadWindow: window,
			ProfileStatus: 600, ProfileStatusWindow: time.Minute,
		},
		PendingFor: 100 * time.Millisecond,
		RunningFor: 200 * time.Millisecond,
	}
	for _, e := range edit {
		e(&config)
	}
	s.Server = sim.New(config)
	server := httptest.NewServer(s.Server)
	s.url = server.URL
	DeferCleanup(server.Close)
	DeferCleanup(s.Close)
	return s
}

// createSecret creates the Secret of the account (secretName) with the
// simulator's credentials.
func (s *importSim) createSecret(namespace string) {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: secretName},
		Data:       map[string][]byte{"api-key": []byte(s.key), "api-secret": []byte(s.secret)},
	})).To(Succeed())
}

// readyImportAccount creates a namespace with an account for the simulator,
// allowing 10 uploads per window, and waits until the account is Ready.
func readyImportAccount(s *importSim, window time.Duration) string {
	GinkgoHelper()
	ns := newNamespace()
	s.createSecret(ns)
	s.readyAccountIn(ns, window)
	return ns
}

// readyAccountIn creates the account of the simulator in namespace, whose
// Secret exists, and waits until it is Ready.
func (s *importSim) readyAccountIn(ns string, window time.Duration, mutate ...func(*importsv1alpha1.LocalyticsAccount)) {
	GinkgoHelper()
	account := createAccount(ns, append([]func(*importsv1alpha1.LocalyticsAccount){func(a *importsv1alpha1.LocalyticsAccount) {
		a.Spec.Endpoint = s.url
		a.Spec.Limits.ProfileUploads = &importsv1alpha1.RateLimit{Count: 10, Window: metav1.Duration{Duration: window}}
		a.Spec.Limits.ProfileStatus = &importsv1alpha1.RateLimit{Count: 600, Window: metav1.Duration{Duration: time.Minute}}
	}}, mutate...)...)
	eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionTrue, controllers.ReasonCredentialsVerified)
}

func createFileConfigMap(namespace, name, key, content string) {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Data:       map[string]string{key: content},
	})).To(Succeed())
}

// createImport creates a ProfileImport of the org scope reading key "profiles" of
// ConfigMap cmName; mutate adjusts it before it is created.
func createImport(namespace, name, cmName string, mutate ...func(*importsv1alpha1.ProfileImport)) *importsv1alpha1.ProfileImport {
	GinkgoHelper()
	pi := &importsv1alpha1.ProfileImport{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: importsv1alpha1.ProfileImportSpec{
			AccountRef: importsv1alpha1.LocalObjectReference{Name: accountName},
			OrgID:      ptr.To[int64](simOrgID),
			Source: importsv1alpha1.Source{ConfigMapRef: &importsv1alpha1.ConfigMapKeyReference{
				Name: cmName, Key: "profiles",
			}},
		},
	}
	for _, m := range mutate {
		m(pi)
	}
	Expect(k8sClient.Create(ctx, pi)).To(Succeed())
	return pi
}

func getImport(pi *importsv1alpha1.ProfileImport) *importsv1alpha1.ProfileImport {
	GinkgoHelper()
	fresh := &importsv1alpha1.ProfileImport{}
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pi), fresh)).To(Succeed())
	return fresh
}

// eventuallyCompleted waits until the import is Ready, and returns it.
func eventuallyCompleted(pi *importsv1alpha1.ProfileImport) *importsv1alpha1.ProfileImport {
	GinkgoHelper()
	eventuallyCondition(pi, importsv1alpha1.ConditionReady, metav1.ConditionTrue, controllers.ReasonCompleted)
	done := getImport(pi)
	Expect(done.Status.Phase).To(Equal(importsv1alpha1.PhaseCompleted))
	Expect(done.Status.ActivityID).NotTo(BeEmpty())
	Expect(done.Status.UploadIntent).To(BeNil())
	Expect(done.Status.SubmittedAt).NotTo(BeNil())
	Expect(done.Status.CompletedAt).NotTo(BeNil())
	return done
}

var orgScope = sim.Scope{OrgID: simOrgID}

// Files used by several specs. Line numbers matter to the specs.
const (
	goodJSON = `{"customer_id":"c1","changes":[{"op":"assign","attr":"plan","value":"gold"},{"op":"set-add","attr":"tags","value":["b","a"]}]}
{"customer_id":"c2","changes":[{"op":"assign","attr":"age","value":42}]}
`
	// Lines 2 and 4 are invalid: a decimal value and no changes.
	mixedJSON = `{"customer_id":"c1","changes":[{"op":"assign","attr":"plan","value":"gold"}]}
{"customer_id":"c2","changes":[{"op":"assign","attr":"score","value":1.5}]}

{"customer_id":"c3"}
{"customer_id":"c4","changes":[{"op":"delete","attr":"plan"},{"op":"assign","attr":"city","value":"Oslo"}]}
`
	incrementJSON = `{"customer_id":"c1","changes":[{"op":"increment","attr":"points","value":5},{"op":"assign","attr":"plan","value":"gold"}]}
`
)

var goodJSONProfiles = map[string]sim.Profile{
	"c1": {"plan": "gold", "tags": []any{"a", "b"}},
	"c2": {"age": int64(42)},
}

var _ = Describe("ProfileImport", Ordered, ContinueOnFailure, func() {
	It("imports a JSON file into the org scope, and ends Ready and Current", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createFileConfigMap(ns, "file", "profiles", goodJSON)
		pi := createImport(ns, "org-import", "file")

		done := eventuallyCompleted(pi)
		Expect(done.Status.Statistics).To(Equal(&importsv1alpha1.ProfileImportStatistics{Successful: 2, Parsed: 2, Total: 2}))
		Expect(done.Status.Lines).To(Equal(int64(2)))
		Expect(done.Status.Bytes).To(Equal(int64(len(goodJSON))))
		Expect(done.Status.ContentDigest).To(HavePrefix("sha256:"))
		Expect(done.Status.NextUploadSlot).To(BeNil())
		Expect(done.Status.ObservedGeneration).To(Equal(done.Generation))
		hasNoCondition(done, importsv1alpha1.ConditionStalled)
		hasNoCondition(done, importsv1alpha1.ConditionReconciling)

		Expect(s.Profiles(orgScope)).To(Equal(goodJSONProfiles))
		// The import used the client its account's controller verified: it
		// never read the account's Secret itself.
		Expect(importReader.of(client.ObjectKey{Namespace: ns, Name: secretName})).To(BeZero())
		uploads := s.Uploads()
		Expect(uploads).To(HaveLen(1))
		Expect(uploads[0].ActivityID).To(Equal(done.Status.ActivityID))
		Expect(s.Throttled()).To(BeEmpty())

		for _, reason := range []string{controllers.EventValidated, controllers.EventUploaded, controllers.EventCompleted} {
			eventuallyEvent(pi, reason)
		}
		Expect(kstatusOf(pi)).To(Equal(status.CurrentStatus))

		// The account's ledger holds the slot the upload took.
		account := getAccount(client.ObjectKey{Namespace: ns, Name: accountName})
		Expect(account.Status.UploadLedger).To(ContainElement(HaveField("ProfileImport", ns+"/org-import")))
	})

	It("imports a CSV file into the app scope", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createFileConfigMap(ns, "file", "profiles", "customer_id,plan,city\r\nc1,gold,Oslo\r\nc2,silver,\r\n")
		pi := createImport(ns, "app-import", "file", func(pi *importsv1alpha1.ProfileImport) {
			pi.Spec.OrgID = nil
			pi.Spec.AppID = simAppID
			pi.Spec.Format = importsv1alpha1.ProfileFormatCSV
		})

		done := eventuallyCompleted(pi)
		Expect(done.Status.Statistics.Successful).To(Equal(int64(2)))
		Expect(s.Profiles(sim.Scope{AppID: simAppID})).To(Equal(map[string]sim.Profile{
			"c1": {"plan": "gold", "city": "Oslo"},
			"c2": {"plan": "silver"},
		}))
		Expect(s.Profiles(orgScope)).To(BeEmpty())
		Expect(s.Uploads()).To(HaveLen(1))
	})

	It("rejects a Strict file with invalid lines, naming them, without uploading", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createFileConfigMap(ns, "file", "profiles", mixedJSON)
		pi := createImport(ns, "strict", "file")

		stalledCond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonValidationFailed)
		Expect(stalledCond.Message).To(ContainSubstring("line 2"))
		Expect(stalledCond.Message).To(ContainSubstring("Strict"))
		rejected := getImport(pi)
		Expect(rejected.Status.Phase).To(Equal(importsv1alpha1.PhaseInvalid))
		Expect(rejected.Status.Validation).NotTo(BeNil())
		Expect(rejected.Status.Validation.ValidLines).To(Equal(int64(2)))
		Expect(rejected.Status.Validation.InvalidLines).To(Equal(int64(2)))
		Expect(rejected.Status.Validation.Errors).To(HaveLen(2))
		Expect(rejected.Status.Validation.Errors[0].Line).To(Equal(int64(2)))
		Expect(rejected.Status.Validation.Errors[1].Line).To(Equal(int64(4)))
		Expect(rejected.Status.ActivityID).To(BeEmpty())
		Expect(eventuallyEvent(pi, controllers.EventRejected)).To(ContainSubstring("line 2"))
		Expect(kstatusOf(pi)).To(Equal(status.FailedStatus))

		// No quota spent: nothing reached the simulator, nothing is in the ledger.
		Consistently(func() int { return len(s.Uploads()) }).WithTimeout(time.Second).Should(BeZero())
		Expect(getAccount(client.ObjectKey{Namespace: ns, Name: accountName}).Status.UploadLedger).To(BeEmpty())
	})

	It("uploads only the valid lines with SkipInvalid and reports the others", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createFileConfigMap(ns, "file", "profiles", mixedJSON)
		pi := createImport(ns, "skip", "file", func(pi *importsv1alpha1.ProfileImport) {
			pi.Spec.Validation = importsv1alpha1.ValidationSkipInvalid
		})

		done := eventuallyCompleted(pi)
		Expect(done.Status.Validation.InvalidLines).To(Equal(int64(2)))
		Expect(done.Status.Validation.Errors).To(HaveLen(2))
		// Only the two valid lines reached Localytics.
		Expect(done.Status.Statistics).To(Equal(&importsv1alpha1.ProfileImportStatistics{Successful: 2, Parsed: 2, Total: 2}))
		Expect(s.Profiles(orgScope)).To(Equal(map[string]sim.Profile{
			"c1": {"plan": "gold"},
			"c4": {"city": "Oslo"},
		}))
	})

	It("rejects a SkipInvalid file without any valid line", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createFileConfigMap(ns, "file", "profiles", "{\"customer_id\":\"c3\"}\nnot json\n")
		pi := createImport(ns, "nothing-valid", "file", func(pi *importsv1alpha1.ProfileImport) {
			pi.Spec.Validation = importsv1alpha1.ValidationSkipInvalid
		})

		eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonNoValidLines)
		Expect(getImport(pi).Status.Phase).To(Equal(importsv1alpha1.PhaseInvalid))
		Expect(s.Uploads()).To(BeEmpty())
	})

	It("waits for a missing ConfigMap, naming it, and completes once it is created", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		pi := createImport(ns, "early", "late-file")

		stalledCond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonSourceNotFound)
		Expect(stalledCond.Message).To(ContainSubstring(`ConfigMap "late-file"`))
		Expect(getImport(pi).Status.Phase).To(Equal(importsv1alpha1.PhasePending))

		createFileConfigMap(ns, "late-file", "profiles", goodJSON)
		eventuallyCompleted(pi)
		Expect(s.Profiles(orgScope)).To(Equal(goodJSONProfiles))
	})

	It("names a missing key of the ConfigMap", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createFileConfigMap(ns, "file", "other-key", goodJSON)
		pi := createImport(ns, "wrong-key", "file")

		stalledCond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonSourceNotFound)
		Expect(stalledCond.Message).To(ContainSubstring(`no key "profiles"`))
	})

	It("reports a failed job as Failed and Stalled", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		s.SetFaults(sim.Faults{FailJobs: 1})
		createFileConfigMap(ns, "file", "profiles", goodJSON)
		pi := createImport(ns, "doomed", "file")

		eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonJobFailed)
		failed := getImport(pi)
		Expect(failed.Status.Phase).To(Equal(importsv1alpha1.PhaseFailed))
		Expect(failed.Status.ActivityID).NotTo(BeEmpty())
		Expect(failed.Status.CompletedAt).NotTo(BeNil())
		eventuallyEvent(pi, controllers.EventFailed)
		Expect(kstatusOf(pi)).To(Equal(status.FailedStatus))
		Expect(s.Profiles(orgScope)).To(BeEmpty())
		Expect(s.Uploads()).To(HaveLen(1))
	})

	It("uploads again a file without increments whose upload had an unknown outcome", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		s.SetFaults(sim.Faults{DropAfterAccept: 1})
		createFileConfigMap(ns, "file", "profiles", goodJSON)
		pi := createImport(ns, "dropped", "file")

		done := eventuallyCompleted(pi)
		uploads := s.Uploads()
		Expect(uploads).To(HaveLen(2))
		Expect(uploads[0].Dropped).To(BeTrue())
		Expect(done.Status.ActivityID).To(Equal(uploads[1].ActivityID))
		Expect(s.Profiles(orgScope)).To(Equal(goodJSONProfiles))
		eventuallyEvent(pi, controllers.EventRetryingUpload)
		// Both uploads hold a slot of the ledger: the vendor counted both.
		// The retry is told apart by its attempt, not by its digest.
		slotOf := func(attempt int32) OmegaMatcher {
			return And(
				HaveField("ProfileImport", ns+"/dropped"),
				HaveField("UID", done.UID),
				HaveField("ContentDigest", done.Status.ContentDigest),
				HaveField("Attempt", attempt),
			)
		}
		Expect(getAccount(client.ObjectKey{Namespace: ns, Name: accountName}).Status.UploadLedger).To(ConsistOf(slotOf(0), slotOf(1)))
	})

	It("stalls a file with increments whose upload had an unknown outcome, until a person allows a retry", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		s.SetFaults(sim.Faults{DropAfterAccept: 1})
		createFileConfigMap(ns, "file", "profiles", incrementJSON)
		pi := createImport(ns, "dropped-increments", "file")

		stalledCond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonUploadOutcomeUnknown)
		Expect(stalledCond.Message).To(ContainSubstring(importsv1alpha1.AnnotationRetryUnknownUpload))
		Expect(stalledCond.Message).To(ContainSubstring("twice"))
		waiting := getImport(pi)
		Expect(waiting.Status.UploadIntent).NotTo(BeNil())
		Expect(waiting.Status.UploadIntent.ContentDigest).To(Equal(waiting.Status.ContentDigest))
		Expect(waiting.Status.ActivityID).To(BeEmpty())
		Expect(waiting.Status.Validation.HasIncrement).To(BeTrue())
		Consistently(func() int { return len(s.Uploads()) }).WithTimeout(time.Second).Should(Equal(1))

		// A person checks Localytics and allows one more upload.
		patch := client.MergeFrom(waiting.DeepCopy())
		waiting.Annotations = map[string]string{importsv1alpha1.AnnotationRetryUnknownUpload: "true"}
		Expect(k8sClient.Patch(ctx, waiting, patch)).To(Succeed())

		done := eventuallyCompleted(pi)
		Expect(done.Annotations).NotTo(HaveKey(importsv1alpha1.AnnotationRetryUnknownUpload), "the annotation is honoured once")
		Expect(s.Uploads()).To(HaveLen(2))
		// The risk the condition named: the dropped upload was applied too.
		Expect(s.Profiles(orgScope)).To(Equal(map[string]sim.Profile{"c1": {"plan": "gold", "points": int64(10)}}))
	})

	It("stalls after a restart between the upload and its answer, for a file with increments", func() {
		// An intent without an activity id is what a process that stopped
		// right after sending leaves behind. The account does not exist
		// yet, so the import waits while the intent is written.
		s := newImportSim(time.Hour)
		ns := newNamespace()
		createFileConfigMap(ns, "file", "profiles", incrementJSON)
		pi := createImport(ns, "restarted", "file")
		eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonAccountNotFound)

		crashed := getImport(pi)
		patch := client.MergeFrom(crashed.DeepCopy())
		crashed.Status.UploadIntent = &importsv1alpha1.UploadIntent{
			ContentDigest: crashed.Status.ContentDigest,
			StartedAt:     metav1.NewTime(time.Now().Add(-time.Minute)),
		}
		crashed.Status.Phase = importsv1alpha1.PhaseUploading
		Expect(k8sClient.Status().Patch(ctx, crashed, patch)).To(Succeed())

		s.createSecret(ns)
		createAccount(ns, func(a *importsv1alpha1.LocalyticsAccount) { a.Spec.Endpoint = s.url })
		stalledCond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonUploadOutcomeUnknown)
		Expect(stalledCond.Message).To(ContainSubstring(importsv1alpha1.AnnotationRetryUnknownUpload))
		Consistently(func() int { return len(s.Uploads()) }).WithTimeout(time.Second).Should(BeZero())
	})

	It("never uploads a finished import again, even when its ConfigMap changes", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createFileConfigMap(ns, "file", "profiles", goodJSON)
		pi := createImport(ns, "once", "file")
		done := eventuallyCompleted(pi)

		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "file"}, cm)).To(Succeed())
		cm.Data["profiles"] = incrementJSON
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())

		Consistently(func(g Gomega) {
			g.Expect(s.Uploads()).To(HaveLen(1))
			again := getImport(pi)
			g.Expect(again.Status.ActivityID).To(Equal(done.Status.ActivityID))
			g.Expect(again.Status.ContentDigest).To(Equal(done.Status.ContentDigest))
		}).WithTimeout(2 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		Expect(kstatusOf(pi)).To(Equal(status.CurrentStatus))
	})

	It("uploads again an import deleted and recreated with the same name and file, in a slot of its own", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		createFileConfigMap(ns, "file", "profiles", goodJSON)
		first := eventuallyCompleted(createImport(ns, "recreated", "file"))

		Expect(k8sClient.Delete(ctx, first)).To(Succeed())
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(first), &importsv1alpha1.ProfileImport{})
		}).Should(Satisfy(apierrors.IsNotFound))
		second := eventuallyCompleted(createImport(ns, "recreated", "file"))

		// The new object is a new import for the vendor, which counts both
		// uploads; so does the ledger, one slot per object.
		Expect(second.UID).NotTo(Equal(first.UID))
		Expect(second.Status.ActivityID).NotTo(Equal(first.Status.ActivityID))
		Expect(s.Uploads()).To(HaveLen(2))
		slotOf := func(pi *importsv1alpha1.ProfileImport) OmegaMatcher {
			return And(
				HaveField("ProfileImport", ns+"/recreated"),
				HaveField("UID", pi.UID),
				HaveField("ContentDigest", pi.Status.ContentDigest),
				HaveField("Attempt", int32(0)),
			)
		}
		Expect(getAccount(client.ObjectKey{Namespace: ns, Name: accountName}).Status.UploadLedger).To(ConsistOf(slotOf(first), slotOf(second)))
	})

	It("waits for an account whose credentials are refused, and completes once the Secret is fixed", func() {
		s := newImportSim(time.Hour)
		ns := newNamespace()
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretName},
			Data:       map[string][]byte{"api-key": []byte(s.key), "api-secret": []byte("wrong")},
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		account := createAccount(ns, func(a *importsv1alpha1.LocalyticsAccount) { a.Spec.Endpoint = s.url })
		eventuallyCondition(account, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonCredentialsRefused)
		createFileConfigMap(ns, "file", "profiles", goodJSON)
		pi := createImport(ns, "blocked", "file")

		stalledCond := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonAccountNotReady)
		Expect(stalledCond.Message).To(ContainSubstring(`LocalyticsAccount "acme"`))
		Expect(stalledCond.Message).NotTo(ContainSubstring("wrong"))
		Expect(s.Uploads()).To(BeEmpty())

		// Rotating the Secret makes the account Ready, which wakes the import.
		secret.Data["api-secret"] = []byte(s.secret)
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		eventuallyCompleted(pi)
		Expect(s.Profiles(orgScope)).To(Equal(goodJSONProfiles))
	})

	It("waits for the time a 429 names, and uploads once", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		s.SetRetryAfter(true)
		s.SetFaults(sim.Faults{Throttle: 1})
		createFileConfigMap(ns, "file", "profiles", goodJSON)
		pi := createImport(ns, "throttled", "file")

		eventuallyCompleted(pi)
		Expect(s.Throttled()).To(ConsistOf(HaveField("Injected", true)))
		Expect(s.Uploads()).To(HaveLen(1), "a refused upload is not an upload of unknown outcome")
		Expect(s.Profiles(orgScope)).To(Equal(goodJSONProfiles))
	})

	It("backs off while the API answers 5xx, then completes", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		s.SetFaults(sim.Faults{ServerErrorRate: 1})
		createFileConfigMap(ns, "file", "profiles", goodJSON)
		pi := createImport(ns, "unavailable", "file")

		eventuallyCondition(pi, importsv1alpha1.ConditionReconciling, metav1.ConditionTrue, controllers.ReasonAPIUnavailable)
		// Each retry records its intent again just before its POST, so look
		// for the state between two attempts rather than at one instant.
		Eventually(func(g Gomega) {
			current := getImport(pi)
			g.Expect(meta.FindStatusCondition(current.Status.Conditions, importsv1alpha1.ConditionReconciling)).
				To(HaveField("Reason", controllers.ReasonAPIUnavailable))
			g.Expect(current.Status.UploadIntent).To(BeNil(), "a 5xx on an upload means nothing was accepted")
		}).Should(Succeed())
		Expect(s.Uploads()).To(BeEmpty())

		s.SetFaults(sim.Faults{})
		eventuallyCompleted(pi)
		Expect(s.Uploads()).To(HaveLen(1))
	})

	It("queues the 11th of 11 imports for the next slot of a 10-upload window, without a single 429", func() {
		const window = 20 * time.Second
		s := newImportSim(window)
		ns := readyImportAccount(s, window)
		var imports []*importsv1alpha1.ProfileImport
		for i := range 11 {
			cm := fmt.Sprintf("file-%d", i)
			createFileConfigMap(ns, cm, "profiles", fmt.Sprintf(`{"customer_id":"c%d","changes":[{"op":"assign","attr":"n","value":%d}]}`+"\n", i, i))
			imports = append(imports, createImport(ns, fmt.Sprintf("import-%d", i), cm))
		}

		// One of them waits, visibly, for the window to move.
		var queued string
		Eventually(func(g Gomega) {
			var list importsv1alpha1.ProfileImportList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			for _, pi := range list.Items {
				if pi.Status.Phase == importsv1alpha1.PhaseQueued && pi.Status.NextUploadSlot != nil {
					queued = pi.Name
					return
				}
			}
			g.Expect(false).To(BeTrue(), "no import is Queued with a next upload slot")
		}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
		stillQueued := getImport(&importsv1alpha1.ProfileImport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: queued}})
		if stillQueued.Status.Phase == importsv1alpha1.PhaseQueued {
			c := eventuallyCondition(stillQueued, importsv1alpha1.ConditionReconciling, metav1.ConditionTrue, controllers.ReasonQuotaExhausted)
			Expect(c.Message).To(ContainSubstring("nextUploadSlot"))
		}

		for _, pi := range imports {
			eventuallyCondition(pi, importsv1alpha1.ConditionReady, metav1.ConditionTrue, controllers.ReasonCompleted)
		}
		Expect(getImport(stillQueued).Status.NextUploadSlot).To(BeNil())
		Expect(s.Throttled()).To(BeEmpty())
		uploads := s.Uploads()
		Expect(uploads).To(HaveLen(11))
		slices.SortFunc(uploads, func(a, b sim.UploadRecord) int { return a.Time.Compare(b.Time) })
		Expect(uploads[10].Time.Sub(uploads[0].Time)).To(BeNumerically(">=", window))
		profiles := s.Profiles(orgScope)
		Expect(profiles).To(HaveLen(11))
		Expect(profiles["c10"]).To(Equal(sim.Profile{"n": int64(10)}))
		eventuallyEvent(stillQueued, controllers.EventQueued)
	})

	It("lines up the imports waiting for slots in the order they were created, each with its place and its own turn", func() {
		const window = 20 * time.Second
		s := newImportSim(window)
		ns := readyImportAccount(s, window)
		// Each travels alone: the line of uploads is then the line of imports.
		alone := func(pi *importsv1alpha1.ProfileImport) { pi.Spec.Packing = importsv1alpha1.PackingNever }
		create := func(name string) *importsv1alpha1.ProfileImport {
			createFileConfigMap(ns, name, "profiles", fmt.Sprintf(`{"customer_id":%q,"changes":[{"op":"assign","attr":"n","value":1}]}`+"\n", name))
			return createImport(ns, name, name, alone)
		}
		By("taking the window's 10 slots")
		var fillers []*importsv1alpha1.ProfileImport
		for i := range 10 {
			fillers = append(fillers, create(fmt.Sprintf("filler-%d", i)))
		}
		for _, pi := range fillers {
			Eventually(func() *metav1.Time { return getImport(pi).Status.SubmittedAt }).WithTimeout(30 * time.Second).ShouldNot(BeNil())
		}
		By("queueing 12 more: the first 10 of them have the next window, the last 2 the one after")
		var line []*importsv1alpha1.ProfileImport
		for i := range 12 {
			name := fmt.Sprintf("line-%02d", i)
			createFileConfigMap(ns, name, "profiles", fmt.Sprintf(`{"customer_id":%q,"changes":[{"op":"assign","attr":"n","value":1}]}`+"\n", name))
		}
		for i := range 12 {
			line = append(line, createImport(ns, fmt.Sprintf("line-%02d", i), fmt.Sprintf("line-%02d", i), alone))
		}
		Eventually(func(g Gomega) {
			var prev time.Time
			for i, pi := range line {
				got := getImport(pi)
				g.Expect(got.Status.Phase).To(Equal(importsv1alpha1.PhaseQueued), pi.Name)
				g.Expect(got.Status.QueuePosition).To(BeEquivalentTo(i+1), pi.Name)
				g.Expect(got.Status.NextUploadSlot).NotTo(BeNil(), pi.Name)
				g.Expect(got.Status.NextUploadSlot.Time).NotTo(BeTemporally("<", prev), "a later place has a later turn")
				prev = got.Status.NextUploadSlot.Time
			}
		}).WithTimeout(15 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		turn10 := getImport(line[10]).Status.NextUploadSlot.Time
		Expect(turn10.Sub(getImport(line[9]).Status.NextUploadSlot.Time)).To(BeNumerically(">=", window/2),
			"the 11th in line waits for the window after the one of the first 10")

		By("the first 10 upload in the next window; the last 2 keep their turns, imports ahead uploading in theirs")
		turns := []time.Time{turn10, getImport(line[11]).Status.NextUploadSlot.Time}
		for _, pi := range line[:10] {
			eventuallyCompleted(pi)
		}
		for i, pi := range line[10:] {
			if got := getImport(pi); got.Status.SubmittedAt == nil {
				Expect(got.Status.Phase).To(Equal(importsv1alpha1.PhaseQueued), pi.Name)
				Expect(got.Status.NextUploadSlot.Time).To(BeTemporally("==", turns[i]), pi.Name)
			}
		}
		for _, pi := range line[10:] {
			done := eventuallyCompleted(pi)
			Expect(done.Status.QueuePosition).To(BeZero())
			Expect(done.Status.SubmittedAt.Time).NotTo(BeTemporally("<", turn10.Add(-time.Second)), "uploaded before its turn")
		}
		Expect(s.Throttled()).To(BeEmpty())
		Expect(s.Uploads()).To(HaveLen(22))
	})
})
