package controllers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// Uploads of unknown outcome are retried within bounds: a few times at
// most, and never while the lost one may still be in flight.
var _ = Describe("Uploads of unknown outcome", func() {
	It("stop after three lost answers, until a person allows one more", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		s.SetFaults(sim.Faults{DropAfterAccept: 3})
		createFileConfigMap(ns, "file", "profiles", goodJSON)
		pi := createImport(ns, "lossy", "file")

		stall := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonUploadOutcomeUnknown)
		Expect(stall.Message).To(ContainSubstring("3 uploads of this file had an unknown outcome"))
		Consistently(func() int { return len(s.Uploads()) }).WithTimeout(2 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal(3))
		Expect(slices.ContainsFunc(s.Uploads(), func(u sim.UploadRecord) bool { return !u.Dropped })).To(BeFalse())

		allowed := getImport(pi)
		base := allowed.DeepCopy()
		allowed.Annotations = map[string]string{importsv1alpha1.AnnotationRetryUnknownUpload: "true"}
		Expect(k8sClient.Patch(ctx, allowed, client.MergeFrom(base))).To(Succeed())
		done := eventuallyCompleted(pi)
		Expect(s.Uploads()).To(HaveLen(4))
		Expect(done.Annotations).NotTo(HaveKey(importsv1alpha1.AnnotationRetryUnknownUpload), "honoured once")
	})

	It("wait until an upload the operator stopped during cannot still be in flight", func() {
		s := newImportSim(time.Hour)
		ns := newNamespace()
		s.createSecret(ns)
		createFileConfigMap(ns, "file", "profiles", goodJSON)
		pi := createImport(ns, "interrupted", "file")
		// The account is missing: the import stops before any upload.
		eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonAccountNotFound)

		// What an operator that stopped while sending leaves behind: an
		// intent without an answer, and without an end.
		sum := sha256.Sum256([]byte(goodJSON))
		started := time.Now()
		interrupted := getImport(pi)
		base := interrupted.DeepCopy()
		interrupted.Status.UploadIntent = &importsv1alpha1.UploadIntent{
			ContentDigest: "sha256:" + hex.EncodeToString(sum[:]), StartedAt: metav1.NewTime(started),
		}
		Expect(k8sClient.Status().Patch(ctx, interrupted, client.MergeFrom(base))).To(Succeed())
		s.readyAccountIn(ns, time.Hour)

		waitingCond := eventuallyCondition(pi, importsv1alpha1.ConditionReconciling, metav1.ConditionTrue, controllers.ReasonUploadOutcomeUnknown)
		Expect(waitingCond.Message).To(ContainSubstring("may still be in flight"))
		Expect(s.Uploads()).To(BeEmpty(), "not while the first may still be in flight")
		done := eventuallyCompleted(pi)
		Expect(s.Uploads()).To(HaveLen(1))
		// The suite's upload timeout is 10s.
		Expect(s.Uploads()[0].Time).To(BeTemporally(">=", started.Add(9*time.Second)))
		Expect(done.Status.UploadIntent).To(BeNil())
	})
})
