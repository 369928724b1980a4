package v1alpha1_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

var _ = Describe("Defaults", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	source := importsv1alpha1.Source{ConfigMapRef: &importsv1alpha1.ConfigMapKeyReference{Name: "profiles", Key: "profiles.jsonl"}}

	It("fills in a LocalyticsAccount's endpoint and the published budgets", func() {
		account := &importsv1alpha1.LocalyticsAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: ns},
			Spec:       importsv1alpha1.LocalyticsAccountSpec{SecretRef: importsv1alpha1.LocalObjectReference{Name: "creds"}},
		}
		Expect(k8sClient.Create(ctx, account)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(account), account)).To(Succeed())

		Expect(account.Spec.Endpoint).To(Equal(importsv1alpha1.DefaultEndpoint))
		limits := account.Spec.Limits
		Expect(limits.ProfileUploads).To(Equal(&importsv1alpha1.RateLimit{Count: 10, Window: metav1.Duration{Duration: time.Hour}}))
		Expect(limits.ProfileStatus).To(Equal(&importsv1alpha1.RateLimit{Count: 60, Window: metav1.Duration{Duration: time.Minute}}))
		Expect(limits.AudienceCalls).To(Equal(&importsv1alpha1.RateLimit{Count: 60, Window: metav1.Duration{Duration: time.Minute}}))
		Expect(limits.AudienceListsPerApp).To(BeEquivalentTo(500))
	})

	It("keeps the budgets a LocalyticsAccount overrides and defaults the others", func() {
		account := &importsv1alpha1.LocalyticsAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "fast", Namespace: ns},
			Spec: importsv1alpha1.LocalyticsAccountSpec{
				SecretRef: importsv1alpha1.LocalObjectReference{Name: "creds"},
				Limits: importsv1alpha1.AccountLimits{
					ProfileUploads: &importsv1alpha1.RateLimit{Count: 3, Window: metav1.Duration{Duration: 10 * time.Second}},
				},
			},
		}
		Expect(k8sClient.Create(ctx, account)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(account), account)).To(Succeed())

		Expect(account.Spec.Limits.ProfileUploads).To(Equal(&importsv1alpha1.RateLimit{Count: 3, Window: metav1.Duration{Duration: 10 * time.Second}}))
		Expect(account.Spec.Limits.ProfileStatus.Count).To(BeEquivalentTo(60))
		Expect(account.Spec.Limits.AudienceListsPerApp).To(BeEquivalentTo(500))
	})

	It("fills in a ProfileImport's format and validation mode", func() {
		pi := &importsv1alpha1.ProfileImport{
			ObjectMeta: metav1.ObjectMeta{Name: "tiers", Namespace: ns},
			Spec: importsv1alpha1.ProfileImportSpec{
				AccountRef: importsv1alpha1.LocalObjectReference{Name: "acme"},
				OrgID:      ptr.To[int64](60),
				Source:     source,
			},
		}
		Expect(k8sClient.Create(ctx, pi)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pi), pi)).To(Succeed())

		Expect(pi.Spec.Format).To(Equal(importsv1alpha1.ProfileFormatJSON))
		Expect(pi.Spec.Validation).To(Equal(importsv1alpha1.ValidationStrict))
	})

	It("lets a ProfileImport's validation mode change after creation", func() {
		pi := &importsv1alpha1.ProfileImport{
			ObjectMeta: metav1.ObjectMeta{Name: "tiers", Namespace: ns},
			Spec: importsv1alpha1.ProfileImportSpec{
				AccountRef: importsv1alpha1.LocalObjectReference{Name: "acme"},
				AppID:      "app1",
				Source:     source,
			},
		}
		Expect(k8sClient.Create(ctx, pi)).To(Succeed())
		pi.Spec.Validation = importsv1alpha1.ValidationSkipInvalid
		Expect(k8sClient.Update(ctx, pi)).To(Succeed())
	})

	It("fills in an AudienceList's source format and deletion policy, and allows a rename", func() {
		al := &importsv1alpha1.AudienceList{
			ObjectMeta: metav1.ObjectMeta{Name: "vips", Namespace: ns},
			Spec: importsv1alpha1.AudienceListSpec{
				AccountRef:   importsv1alpha1.LocalObjectReference{Name: "acme"},
				AppID:        "app1",
				AudienceName: "VIP customers",
				Source:       source,
			},
		}
		Expect(k8sClient.Create(ctx, al)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(al), al)).To(Succeed())

		Expect(al.Spec.SourceFormat).To(Equal(importsv1alpha1.AudienceFormatJSONL))
		Expect(al.Spec.DeletionPolicy).To(Equal(importsv1alpha1.DeletionPolicyDelete))

		al.Spec.AudienceName = "VIP customers (2026)"
		Expect(k8sClient.Update(ctx, al)).To(Succeed())
	})
})
