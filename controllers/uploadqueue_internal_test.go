package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// An import holds a place in line only while it waits for a slot: one that
// never takes its slot (refused, stalled, being deleted) or holds one
// already would stop the imports behind it for good.
func TestWaitsForSlot(t *testing.T) {
	queued := func(reason string, edit ...func(*importsv1alpha1.ProfileImport)) *importsv1alpha1.ProfileImport {
		pi := &importsv1alpha1.ProfileImport{Status: importsv1alpha1.ProfileImportStatus{
			Phase: importsv1alpha1.PhaseQueued,
			Conditions: []metav1.Condition{
				{Type: importsv1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: reason},
			},
		}}
		for _, e := range edit {
			e(pi)
		}
		return pi
	}
	for name, tc := range map[string]struct {
		pi   *importsv1alpha1.ProfileImport
		want bool
	}{
		"waiting for a slot": {queued(ReasonQuotaExhausted), true},
		"gathering others for its upload": {queued(ReasonGathering, func(pi *importsv1alpha1.ProfileImport) {
			pi.Status.Phase = importsv1alpha1.PhaseGathering
		}), true},
		"holding a slot, waiting for the key's budget": {queued(ReasonRateLimited), false},
		"refused by Localytics, still marked Queued": {queued(ReasonUploadRefused, func(pi *importsv1alpha1.ProfileImport) {
			pi.Status.Conditions = []metav1.Condition{{Type: importsv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: ReasonUploadRefused}}
		}), false},
		"its source unreadable": {queued(ReasonSourceUnreadable), false},
		"being deleted": {queued(ReasonQuotaExhausted, func(pi *importsv1alpha1.ProfileImport) {
			now := metav1.Now()
			pi.DeletionTimestamp = &now
		}), false},
		"sending": {queued(ReasonQuotaExhausted, func(pi *importsv1alpha1.ProfileImport) {
			pi.Status.UploadIntent = &importsv1alpha1.UploadIntent{}
		}), false},
		"sent": {queued(ReasonQuotaExhausted, func(pi *importsv1alpha1.ProfileImport) { pi.Status.ActivityID = "a1" }), false},
		"pending validation": {queued(ReasonQuotaExhausted, func(pi *importsv1alpha1.ProfileImport) {
			pi.Status.Phase = importsv1alpha1.PhasePending
		}), false},
	} {
		if got := waitsForSlot(tc.pi); got != tc.want {
			t.Errorf("%s: in line %v, want %v", name, got, tc.want)
		}
	}
}
