package v1alpha1_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// A ProfileImport's upload takes a slot of its account's ledger and may be
// applied with its credentials: once one was attempted, moving the import to
// another account would upload the file again, against another budget.
var _ = Describe("A ProfileImport's accountRef", func() {
	const refused = "spec.accountRef cannot change once an upload was attempted"
	digest := "sha256:" + "ab12000000000000000000000000000000000000000000000000000000000000"

	var ns string
	BeforeEach(func() { ns = newNamespace() })

	newImport := func() *importsv1alpha1.ProfileImport {
		GinkgoHelper()
		pi := &importsv1alpha1.ProfileImport{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "pi-", Namespace: ns},
			Spec: importsv1alpha1.ProfileImportSpec{
				AccountRef: importsv1alpha1.LocalObjectReference{Name: "acme"},
				OrgID:      ptr.To[int64](60),
				Source:     importsv1alpha1.Source{ConfigMapRef: &importsv1alpha1.ConfigMapKeyReference{Name: "profiles", Key: "profiles.jsonl"}},
			},
		}
		Expect(k8sClient.Create(ctx, pi)).To(Succeed())
		return pi
	}
	setStatus := func(pi *importsv1alpha1.ProfileImport, change func(*importsv1alpha1.ProfileImportStatus)) {
		GinkgoHelper()
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pi), pi)).To(Succeed())
		change(&pi.Status)
		Expect(k8sClient.Status().Update(ctx, pi)).To(Succeed())
	}
	moveTo := func(pi *importsv1alpha1.ProfileImport, account string) error {
		GinkgoHelper()
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pi), pi)).To(Succeed())
		pi.Spec.AccountRef.Name = account
		return k8sClient.Update(ctx, pi)
	}

	It("may change before any upload was attempted", func() {
		pi := newImport()
		Expect(moveTo(pi, "other")).To(Succeed())

		// Validated and waiting for a slot: nothing was sent yet.
		setStatus(pi, func(st *importsv1alpha1.ProfileImportStatus) {
			st.Phase = importsv1alpha1.PhaseQueued
			st.ContentDigest = digest
			st.NextUploadSlot = ptr.To(metav1.Now())
		})
		Expect(moveTo(pi, "acme")).To(Succeed())
		Expect(pi.Spec.AccountRef.Name).To(Equal("acme"))
	})

	attempts := map[string]func(*importsv1alpha1.ProfileImportStatus){
		"an upload intent (sent, or being sent, answer unknown)": func(st *importsv1alpha1.ProfileImportStatus) {
			st.Phase = importsv1alpha1.PhaseUploading
			st.UploadIntent = &importsv1alpha1.UploadIntent{ContentDigest: digest, StartedAt: metav1.Now()}
		},
		"an activity id (Localytics took the file)": func(st *importsv1alpha1.ProfileImportStatus) {
			st.Phase = importsv1alpha1.PhaseProcessing
			st.ActivityID = "3b4a65e5-2beb-4011-85df-c9f594217d90"
			st.SubmittedAt = ptr.To(metav1.Now())
		},
		"an upload refusal (Localytics answered no)": func(st *importsv1alpha1.ProfileImportStatus) {
			st.Phase = importsv1alpha1.PhaseQueued
			st.UploadRefusal = &importsv1alpha1.UploadRefusal{ContentDigest: digest, Generation: 1, StatusCode: 400}
		},
	}
	for name, attempt := range attempts {
		It("cannot change once the status shows "+name, func() {
			pi := newImport()
			setStatus(pi, attempt)

			err := moveTo(pi, "other")
			Expect(err).To(MatchError(ContainSubstring(refused)))
			Expect(err).To(MatchError(ContainSubstring("spec.accountRef")))

			// The rest of the spec that may change still may, and the status
			// is still written.
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pi), pi)).To(Succeed())
			pi.Spec.Validation = importsv1alpha1.ValidationSkipInvalid
			Expect(k8sClient.Update(ctx, pi)).To(Succeed())
			setStatus(pi, func(st *importsv1alpha1.ProfileImportStatus) { st.ObservedGeneration = pi.Generation })
		})
	}
})
