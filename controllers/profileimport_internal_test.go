package controllers

import (
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/event"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/importfile"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

func TestPollInterval(t *testing.T) {
	r := &ProfileImportReconciler{PollMin: 5 * time.Second, PollMax: 3 * time.Minute}
	submitted := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		elapsed  time.Duration
		min, max time.Duration
	}{
		"soon after submission, the shortest interval": {elapsed: time.Second, min: 5 * time.Second, max: 5500 * time.Millisecond},
		"a quarter of the time the job has run":        {elapsed: 2 * time.Minute, min: 30 * time.Second, max: 33 * time.Second},
		"never longer than PollMax (plus jitter)":      {elapsed: time.Hour, min: 3 * time.Minute, max: 198 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			pi := &importsv1alpha1.ProfileImport{Status: importsv1alpha1.ProfileImportStatus{SubmittedAt: &metav1.Time{Time: submitted}}}
			for range 50 {
				d := r.pollInterval(pi, submitted.Add(tc.elapsed))
				g.Expect(d).To(BeNumerically(">=", tc.min))
				g.Expect(d).To(BeNumerically("<=", tc.max))
			}
		})
	}
}

func TestAccountChangesWakeImports(t *testing.T) {
	account := func(mutate func(*importsv1alpha1.LocalyticsAccount)) *importsv1alpha1.LocalyticsAccount {
		a := &importsv1alpha1.LocalyticsAccount{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
		a.Status.UploadsLeft = ptr.To[int32](0)
		a.Status.UploadLedger = []importsv1alpha1.UploadReservation{{ProfileImport: "ns/a"}, {ProfileImport: "ns/b"}}
		a.Status.Conditions = []metav1.Condition{{Type: importsv1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
		if mutate != nil {
			mutate(a)
		}
		return a
	}
	// wakes: which of the two watches passes the change: every waiting
	// import (the spec, the readiness), or those the freed slots can carry.
	tests := map[string]struct {
		changed func(*importsv1alpha1.LocalyticsAccount)
		wakes   string
	}{
		"a slot opened": {changed: func(a *importsv1alpha1.LocalyticsAccount) {
			a.Status.UploadLedger = a.Status.UploadLedger[1:]
			a.Status.UploadsLeft = ptr.To[int32](1)
		}, wakes: "freed"},
		"the account is no longer Ready": {changed: func(a *importsv1alpha1.LocalyticsAccount) {
			a.Status.Conditions[0].Status = metav1.ConditionFalse
		}, wakes: "all"},
		"the spec changed, a slot opened": {changed: func(a *importsv1alpha1.LocalyticsAccount) {
			a.Generation = 2
			a.Status.UploadLedger = a.Status.UploadLedger[1:]
		}, wakes: "all"},
		"a slot was taken": {changed: func(a *importsv1alpha1.LocalyticsAccount) {
			a.Status.UploadLedger = append(a.Status.UploadLedger, a.Status.UploadLedger[0])
		}},
		"only a message changed":      {changed: func(a *importsv1alpha1.LocalyticsAccount) { a.Status.Conditions[0].Message = "other" }},
		"nothing the imports wait on": {changed: nil},
	}
	all, freed := accountChanged(), accountFreedSlots()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			e := event.UpdateEvent{ObjectOld: account(nil), ObjectNew: account(tc.changed)}
			g.Expect(all.Update(e)).To(Equal(tc.wakes == "all"), "every waiting import")
			g.Expect(freed.Update(e)).To(Equal(tc.wakes == "freed"), "the imports the freed slots carry")
		})
	}
}

func TestFileFailure(t *testing.T) {
	lineErr := &importfile.LineError{Line: 3, Message: "changes is empty"}
	tests := map[string]struct {
		err        error
		wantReason string // empty: not a failure of the file
	}{
		"a line invalid under the validated revision": {
			err:        &localytics.FileReadError{Endpoint: "P1", Err: lineErr},
			wantReason: ReasonSourceChanged,
		},
		"the store failing mid-stream": {
			err:        &localytics.FileReadError{Endpoint: "P1", Err: errors.New("connection reset by peer")},
			wantReason: ReasonSourceUnreadable,
		},
		"a file over the cap, never sent": {
			err: &localytics.FileReadError{Endpoint: "P1", Err: fmt.Errorf("%w: more than 10 bytes", localytics.ErrFileTooLarge)},
		},
		"the network": {
			err: &localytics.NetworkError{Endpoint: "P1", Err: errors.New("connection refused")},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			failure := fileFailure(tc.err, `object "s3://b/k"`)
			if tc.wantReason == "" {
				g.Expect(failure).NotTo(HaveOccurred())
				return
			}
			g.Expect(failure).To(HaveOccurred())
			g.Expect(failure.kind).To(Equal(failureTransient))
			g.Expect(failure.reason).To(Equal(tc.wantReason))
		})
	}
}
