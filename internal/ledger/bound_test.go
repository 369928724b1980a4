package ledger

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// TestUploadLimitOfIsBoundedByTheCRD: an account stored before the CRD
// bounded its upload budget keeps a ledger no longer than the CRD lets
// status.uploadLedger be, or every write of it would be refused.
func TestUploadLimitOfIsBoundedByTheCRD(t *testing.T) {
	g := NewWithT(t)
	limits := importsv1alpha1.AccountLimits{ProfileUploads: &importsv1alpha1.RateLimit{
		Count: 5 * importsv1alpha1.MaxProfileUploadsPerWindow, Window: metav1.Duration{Duration: time.Hour},
	}}
	g.Expect(UploadLimitOf(limits).Count).To(Equal(importsv1alpha1.MaxProfileUploadsPerWindow))
	limits.ProfileUploads.Count = importsv1alpha1.MaxProfileUploadsPerWindow
	g.Expect(UploadLimitOf(limits).Count).To(Equal(importsv1alpha1.MaxProfileUploadsPerWindow))
}
