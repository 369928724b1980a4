package controllers_test

import (
	"net/http"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// Refusals stop: an upload Localytics refuses (a 4xx other than 401, 403
// and 429) is not sent again until the file or the spec changes.
var _ = Describe("Refused uploads", func() {
	// uploadCalls counts the simulator's calls to an upload endpoint.
	uploadCalls := func(s *sim.Server, ep sim.Endpoint) int {
		return len(slices.DeleteFunc(s.Calls(), func(c sim.CallRecord) bool { return c.Endpoint != ep }))
	}
	// poke changes an annotation, which reconciles the object again.
	poke := func(obj client.Object) {
		GinkgoHelper()
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		base := obj.DeepCopyObject().(client.Object)
		obj.SetAnnotations(map[string]string{"example.com/poke": time.Now().String()})
		Expect(k8sClient.Patch(ctx, obj, client.MergeFrom(base))).To(Succeed())
	}

	DescribeTable("stall a ProfileImport after exactly one request, until its file changes",
		func(code int, reason string) {
			s := newImportSim(time.Hour)
			ns := readyImportAccount(s, time.Hour)
			s.SetFaults(sim.Faults{RefuseUploads: 1, RefuseStatus: code})
			createFileConfigMap(ns, "file", "profiles", goodJSON)
			pi := createImport(ns, "refused", "file")

			stall := eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, reason)
			Expect(stall.Message).To(ContainSubstring("%d", code))
			refused := getImport(pi)
			Expect(refused.Status.UploadRefusal).To(HaveValue(HaveField("StatusCode", BeEquivalentTo(code))))
			Expect(refused.Status.ActivityID).To(BeEmpty())
			poke(refused)
			Consistently(func() int { return uploadCalls(s.Server, sim.EndpointProfileUpload) }).
				WithTimeout(2 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal(1))

			// A new file is sent.
			cm := &corev1.ConfigMap{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "file"}, cm)).To(Succeed())
			base := cm.DeepCopy()
			cm.Data["profiles"] = goodJSON + `{"customer_id":"c3","changes":[{"op":"assign","attr":"plan","value":"silver"}]}` + "\n"
			Expect(k8sClient.Patch(ctx, cm, client.MergeFrom(base))).To(Succeed())
			done := eventuallyCompleted(pi)
			Expect(done.Status.UploadRefusal).To(BeNil())
			Expect(uploadCalls(s.Server, sim.EndpointProfileUpload)).To(Equal(2))
		},
		Entry("400", http.StatusBadRequest, controllers.ReasonUploadRefused),
		Entry("404", http.StatusNotFound, controllers.ReasonUploadRefused),
		Entry("409", http.StatusConflict, controllers.ReasonUploadRefused),
		Entry("413", http.StatusRequestEntityTooLarge, controllers.ReasonFileTooLarge),
	)

	It("stall an AudienceList after exactly one create, until its source changes", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		s.SetFaults(sim.Faults{RefuseUploads: 1, RefuseStatus: http.StatusBadRequest})
		audienceConfigMap(ns, "c1")
		al := createAudienceList(ns, "refused", app, "ids")

		eventuallyCondition(al, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonUploadRefused)
		poke(getAudienceList(al))
		Consistently(func() int { return uploadCalls(s.Server, sim.EndpointAudienceCreate) }).
			WithTimeout(2 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal(1))
		Expect(s.AudienceLists(app)).To(BeEmpty())

		setAudienceConfigMap(ns, "ids", "c1", "c2")
		eventuallyInSync(al)
		Expect(uploadCalls(s.Server, sim.EndpointAudienceCreate)).To(Equal(2))
		Expect(s.AudienceLists(app)).To(HaveLen(1))
	})
})
