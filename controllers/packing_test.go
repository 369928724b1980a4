package controllers_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// withGathering sets the account's quiet period and its bound.
func withGathering(quiet, maxWait time.Duration) func(*importsv1alpha1.LocalyticsAccount) {
	return func(a *importsv1alpha1.LocalyticsAccount) {
		a.Spec.Gathering = importsv1alpha1.Gathering{
			QuietPeriod: &metav1.Duration{Duration: quiet}, MaxWait: &metav1.Duration{Duration: maxWait},
		}
	}
}

// assignLines is a JSON Lines file assigning attr=value to each customer.
func assignLines(attr, value string, customers ...string) string {
	var b strings.Builder
	for _, c := range customers {
		fmt.Fprintf(&b, `{"customer_id":%q,"changes":[{"op":"assign","attr":%q,"value":%q}]}`+"\n", c, attr, value)
	}
	return b.String()
}

// Imports of one account and scope queued together travel in one upload,
// in line order, each keeping its own statistics.
var _ = Describe("Upload packing", func() {
	It("carries the imports of one scope in one upload after a quiet period, in line order, each with its own lines and failed lines", func() {
		s := newImportSim(time.Hour)
		ns := newNamespace()
		s.createSecret(ns)
		s.readyAccountIn(ns, time.Hour, withGathering(3*time.Second, 30*time.Second))

		// b's second line is valid, but fails at Localytics: "plan" holds
		// a string there, which cannot be incremented.
		createFileConfigMap(ns, "a", "profiles", assignLines("color", "red", "same", "a1", "a2"))
		createFileConfigMap(ns, "b", "profiles", assignLines("plan", "gold", "b1")+
			`{"customer_id":"b1","changes":[{"op":"increment","attr":"plan","value":1}]}`+"\n"+assignLines("plan", "gold", "b2"))
		createFileConfigMap(ns, "c", "profiles", assignLines("color", "blue", "same", "c1"))
		a := createImport(ns, "a", "a")
		Eventually(func() importsv1alpha1.ProfileImportPhase { return getImport(a).Status.Phase }).
			WithTimeout(10*time.Second).WithPolling(50*time.Millisecond).Should(Equal(importsv1alpha1.PhaseGathering),
			"the first import waits for others before its upload")
		time.Sleep(time.Second) // creation times have second precision: b and c are newer than a
		b := createImport(ns, "b", "b")
		c := createImport(ns, "c", "c")

		for _, pi := range []*importsv1alpha1.ProfileImport{a, b, c} {
			eventuallyCompleted(pi)
		}
		Expect(s.Uploads()).To(HaveLen(1), "one upload carried the three imports")
		upload := s.Uploads()[0]
		want := map[string]struct {
			first, lines, failed int64
		}{"a": {1, 3, 0}, "b": {4, 3, 1}, "c": {7, 2, 0}}
		for _, pi := range []*importsv1alpha1.ProfileImport{a, b, c} {
			done := getImport(pi)
			w := want[pi.Name]
			Expect(done.Status.ActivityID).To(Equal(upload.ActivityID), pi.Name)
			Expect(done.Status.SharedUpload).To(Equal(&importsv1alpha1.SharedUpload{Carrier: "a", FirstLine: w.first, Lines: w.lines, Imports: 3}), pi.Name)
			Expect(done.Status.Statistics).To(Equal(&importsv1alpha1.ProfileImportStatistics{
				Total: w.lines, Parsed: w.lines - w.failed, Successful: w.lines - w.failed, Failed: w.failed,
			}), pi.Name)
		}
		// The older import's change is applied first, the newer one's wins.
		Expect(s.Profiles(sim.Scope{OrgID: simOrgID})["same"]).To(HaveKeyWithValue("color", "blue"))
	})

	It("uploads an import whose packing is Never alone, in a slot of its own", func() {
		s := newImportSim(time.Hour)
		ns := newNamespace()
		s.createSecret(ns)
		s.readyAccountIn(ns, time.Hour, withGathering(2*time.Second, 30*time.Second))
		createFileConfigMap(ns, "a", "profiles", assignLines("color", "red", "a1"))
		createFileConfigMap(ns, "b", "profiles", assignLines("color", "blue", "b1"))
		a := createImport(ns, "a", "a")
		b := createImport(ns, "b", "b", func(pi *importsv1alpha1.ProfileImport) { pi.Spec.Packing = importsv1alpha1.PackingNever })

		doneA, doneB := eventuallyCompleted(a), eventuallyCompleted(b)
		Expect(s.Uploads()).To(HaveLen(2))
		Expect(doneA.Status.ActivityID).NotTo(Equal(doneB.Status.ActivityID))
		Expect(doneA.Status.SharedUpload).To(BeNil())
		Expect(doneB.Status.SharedUpload).To(BeNil())
	})

	It("settles a shared upload of unknown outcome per import: the idempotent ones uploaded again, those with increments stalled", func() {
		s := newImportSim(time.Hour)
		ns := newNamespace()
		s.createSecret(ns)
		s.readyAccountIn(ns, time.Hour, withGathering(2*time.Second, 30*time.Second))
		s.SetFaults(sim.Faults{DropAfterAccept: 1})
		createFileConfigMap(ns, "a", "profiles", assignLines("color", "red", "a1"))
		createFileConfigMap(ns, "b", "profiles", incrementJSON)
		createFileConfigMap(ns, "c", "profiles", assignLines("color", "blue", "c1"))
		a := createImport(ns, "a", "a")
		b := createImport(ns, "b", "b")
		c := createImport(ns, "c", "c")

		stall := eventuallyCondition(b, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonUploadOutcomeUnknown)
		Expect(stall.Message).To(ContainSubstring("increment"))
		doneA, doneC := eventuallyCompleted(a), eventuallyCompleted(c)
		Expect(s.Uploads()[0].Dropped).To(BeTrue(), "the shared upload's answer was lost")
		Expect(doneA.Status.ActivityID).NotTo(Equal(s.Uploads()[0].ActivityID), "a was uploaded again")
		Expect(doneC.Status.ActivityID).NotTo(Equal(s.Uploads()[0].ActivityID), "c was uploaded again")
		Expect(getImport(b).Status.ActivityID).To(BeEmpty())
	})

	It("wakes, when slots open, only the carriers of as many uploads as slots are free", func() {
		s := newImportSim(time.Hour)
		ns := newNamespace()
		s.createSecret(ns)
		s.readyAccountIn(ns, time.Hour, func(a *importsv1alpha1.LocalyticsAccount) {
			a.Spec.Limits.ProfileUploads = &importsv1alpha1.RateLimit{Count: 2, Window: metav1.Duration{Duration: time.Hour}}
		})
		alone := func(pi *importsv1alpha1.ProfileImport) { pi.Spec.Packing = importsv1alpha1.PackingNever }
		inApp := func(pi *importsv1alpha1.ProfileImport) { pi.Spec.OrgID, pi.Spec.AppID = nil, simAppID }
		create := func(name string, edit ...func(*importsv1alpha1.ProfileImport)) *importsv1alpha1.ProfileImport {
			createFileConfigMap(ns, name, "profiles", assignLines("n", name, name))
			return createImport(ns, name, name, edit...)
		}
		By("taking the window's two slots")
		for _, name := range []string{"filler-0", "filler-1"} {
			eventuallyCompleted(create(name, alone))
		}
		By("queueing three uploads: three imports of the org together, one alone, one of the app")
		var line []*importsv1alpha1.ProfileImport
		for i, edit := range [][]func(*importsv1alpha1.ProfileImport){nil, nil, {alone}, nil, {inApp}} {
			line = append(line, create(fmt.Sprintf("line-%d", i), edit...))
			time.Sleep(time.Second) // creation times have second precision: the line's order is this one
		}
		for _, pi := range line {
			eventuallyCondition(pi, importsv1alpha1.ConditionReconciling, metav1.ConditionTrue, controllers.ReasonQuotaExhausted)
		}

		By("freeing the two slots")
		account := getAccount(client.ObjectKey{Namespace: ns, Name: accountName})
		account.Status.UploadLedger = nil
		woken := controllers.ImportsForFreedSlots(ctx, importReconciler, account)
		var names []string
		for _, req := range woken {
			names = append(names, req.Name)
		}
		// line-0 carries line-1 and line-3; line-2 travels alone; line-4's
		// upload, the third, has no slot.
		Expect(names).To(ConsistOf("line-0", "line-2"))
	})
})
