package controllers_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// partSize is the upload size of the accounts (and the simulator) of the
// parts specs: a file of partedLines lines takes three parts of it.
const (
	partSize    = 2048
	partedLines = 60
)

// partedFile is a file of partedLines lines of about 85 bytes: customer
// "same" is assigned value in the first line and value+"-last" in the
// last, so that the order of the parts shows. op is the change of the
// other lines.
func partedFile(op string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"customer_id":"same","changes":[{"op":"assign","attr":"color","value":"first"}]}`+"\n")
	for i := 2; i < partedLines; i++ {
		if op == "increment" {
			fmt.Fprintf(&b, `{"customer_id":"c%03d","changes":[{"op":"increment","attr":"visits","value":%d}]}`+"\n", i, i)
			continue
		}
		fmt.Fprintf(&b, `{"customer_id":"c%03d","changes":[{"op":"assign","attr":"visits","value":"n%d"}]}`+"\n", i, i)
	}
	fmt.Fprintf(&b, `{"customer_id":"same","changes":[{"op":"assign","attr":"color","value":"last"}]}`+"\n")
	return b.String()
}

func withUploadSize(n int64) func(*importsv1alpha1.LocalyticsAccount) {
	return func(a *importsv1alpha1.LocalyticsAccount) { a.Spec.Limits.MaxUploadBytes = n }
}

func simUploadSize(n int64) func(*sim.Config) {
	return func(c *sim.Config) { c.Limits.MaxUploadBytes = n }
}

// A file over its account's upload size goes up in ordered parts.
var _ = Describe("Upload in parts", func() {
	It("uploads a file larger than the account's upload size in ordered parts, each in a slot of its own, with the statistics summed", func() {
		s := newImportSim(time.Hour, simUploadSize(partSize))
		ns := newNamespace()
		s.createSecret(ns)
		s.readyAccountIn(ns, time.Hour, withUploadSize(partSize))
		createFileConfigMap(ns, "big", "profiles", partedFile("assign"))
		pi := createImport(ns, "big", "big")

		done := eventuallyCompleted(pi)
		uploads := s.Uploads()
		Expect(uploads).To(HaveLen(3), "three parts, three uploads")
		parts := done.Status.Parts
		Expect(parts).NotTo(BeNil())
		Expect(parts.Total).To(Equal(int32(3)))
		Expect(parts.Done).To(Equal(int32(3)))
		Expect(parts.Progress).To(Equal("3/3"))
		Expect(parts.MaxBytes).To(Equal(int64(partSize)))
		Expect(parts.Jobs).To(HaveLen(3))
		for i, u := range uploads {
			Expect(u.Bytes).To(BeNumerically("<=", partSize), "part %d fits", i+1)
			Expect(u.Dropped).To(BeFalse())
			Expect(parts.Jobs[i].ActivityID).To(Equal(u.ActivityID), "part %d's job is its upload's", i+1)
			Expect(parts.Jobs[i].Statistics.Total).To(BeNumerically(">", 0))
		}
		Expect(done.Status.ActivityID).To(Equal(uploads[2].ActivityID), "the activity is the last part's")
		Expect(done.Status.Statistics).To(Equal(&importsv1alpha1.ProfileImportStatistics{
			Total: partedLines, Parsed: partedLines, Successful: partedLines,
		}), "the parts' statistics, summed")
		profiles := s.Profiles(sim.Scope{OrgID: simOrgID})
		Expect(profiles).To(HaveLen(partedLines - 1))
		Expect(profiles["same"]).To(HaveKeyWithValue("color", "last"), "the parts were applied in order")

		By("taking one ledger slot per part")
		account := getAccount(types.NamespacedName{Namespace: ns, Name: accountName})
		var slots []int32
		for _, e := range account.Status.UploadLedger {
			if e.ProfileImport == ns+"/big" {
				slots = append(slots, e.Part)
			}
		}
		Expect(slots).To(ConsistOf(int32(0), int32(1), int32(2)))
	})

	It("sends no part of a file whose line fits in no part, or that takes more than 100 parts", func() {
		s := newImportSim(time.Hour)
		ns := newNamespace()
		s.createSecret(ns)
		s.readyAccountIn(ns, time.Hour, withUploadSize(1024))
		var changes []string
		for i := range 6 {
			changes = append(changes, fmt.Sprintf(`{"op":"assign","attr":"note%d","value":"%s"}`, i, strings.Repeat("x", 200)))
		}
		long := `{"customer_id":"long","changes":[` + strings.Join(changes, ",") + "]}\n"
		createFileConfigMap(ns, "long", "profiles", assignLines("color", "red", "a")+long)
		var many strings.Builder
		for i := range 1200 {
			fmt.Fprintf(&many, `{"customer_id":"c%05d","changes":[{"op":"assign","attr":"visits","value":"%s"}]}`+"\n", i, strings.Repeat("v", 40))
		}
		createFileConfigMap(ns, "many", "profiles", many.String())
		longLine := createImport(ns, "long", "long")
		manyParts := createImport(ns, "many", "many")

		stall := eventuallyCondition(manyParts, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonFileTooLarge)
		Expect(stall.Message).To(MatchRegexp(`the file takes 1\d\d uploads of at most 1024 bytes .*more than the 100 parts`))
		stall = eventuallyCondition(longLine, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonFileTooLarge)
		Expect(stall.Message).To(HavePrefix("line 2 is larger, with the file's header, than one upload may be (1024 bytes"))
		Expect(s.Uploads()).To(BeEmpty())
	})

	It("never sends again a part that reached Localytics: a part of unknown outcome is retried if idempotent, and stalls the import if not", func() {
		s := newImportSim(3*time.Second, simUploadSize(partSize))
		ns := newNamespace()
		s.createSecret(ns)
		s.readyAccountIn(ns, 3*time.Second, withUploadSize(partSize), func(a *importsv1alpha1.LocalyticsAccount) {
			a.Spec.Limits.ProfileUploads.Count = 1 // the next part waits for the next window
		})
		loseThe2ndPart := func(pi *importsv1alpha1.ProfileImport) {
			GinkgoHelper()
			Eventually(func() int32 {
				if parts := getImport(pi).Status.Parts; parts != nil {
					return parts.Done
				}
				return 0
			}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(int32(1)))
			s.SetFaults(sim.Faults{DropAfterAccept: 1})
		}

		By("retrying the lost second part of a file without increments")
		createFileConfigMap(ns, "assign", "profiles", partedFile("assign"))
		idempotent := createImport(ns, "assign", "assign")
		loseThe2ndPart(idempotent)
		done := eventuallyCompleted(idempotent)
		uploads := s.Uploads()
		Expect(uploads).To(HaveLen(4))
		Expect(uploads[1].Dropped).To(BeTrue())
		Expect(done.Status.Parts.Jobs).To(HaveLen(3))
		Expect(done.Status.Parts.Jobs[1].ActivityID).To(Equal(uploads[2].ActivityID), "the second part was sent again")
		Expect(done.Status.Parts.Jobs[0].ActivityID).To(Equal(uploads[0].ActivityID), "the first part was sent once")

		By("stalling a file with increments whose second part was lost, and sending nothing after it")
		createFileConfigMap(ns, "increment", "profiles", partedFile("increment"))
		risky := createImport(ns, "increment", "increment")
		loseThe2ndPart(risky)
		stall := eventuallyCondition(risky, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonUploadOutcomeUnknown)
		Expect(stall.Message).To(ContainSubstring("increment"))
		Consistently(func() int { return len(s.Uploads()) }).WithTimeout(4*time.Second).Should(Equal(6), "two parts sent, the third never")
		stalledAt := getImport(risky)
		Expect(stalledAt.Status.Parts.Done).To(Equal(int32(1)))
		Expect(stalledAt.Status.UploadIntent.Part).To(Equal(int32(1)))
	})
})
