package controllers_test

import (
	"context"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
)

// outage is a client whose status writes fail until a time: an API server
// restarting, or a leader change, as a reconcile sees it.
type outage struct {
	client.Client
	until  time.Time
	failed atomic.Int64
}

func (o *outage) Status() client.SubResourceWriter { return outageWriter{o.Client.Status(), o} }

type outageWriter struct {
	client.SubResourceWriter
	o *outage
}

func (w outageWriter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if time.Now().Before(w.o.until) {
		w.o.failed.Add(1)
		return apierrors.NewServiceUnavailable("the API server is restarting")
	}
	return w.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

var _ = Describe("Recording the answer of an upload", func() {
	It("survives the reconcile's cancellation and a two-second API server outage", func() {
		ns := newNamespace()
		// The account does not exist: the import's controller stalls it and
		// does nothing else with it.
		pi := createImport(ns, "answered", "profiles", func(pi *importsv1alpha1.ProfileImport) {
			pi.Spec.AccountRef.Name = "absent"
		})
		base := pi.DeepCopy()
		pi.Status.ActivityID = "activity-kept"

		// The manager began to stop: the reconcile's context is done.
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		writer := &outage{Client: k8sClient, until: time.Now().Add(2 * time.Second)}
		Expect(controllers.SaveImportResult(cancelled, writer, pi, base)).To(Succeed())
		Expect(writer.failed.Load()).To(BeNumerically(">", 1), "the outage was met and outlasted")

		fresh := &importsv1alpha1.ProfileImport{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pi), fresh)).To(Succeed())
		Expect(fresh.Status.ActivityID).To(Equal("activity-kept"))
	})

	It("gives up only on an object that is gone", func() {
		pi := &importsv1alpha1.ProfileImport{ObjectMeta: metav1.ObjectMeta{Namespace: newNamespace(), Name: "gone"}}
		pi.Status.ActivityID = "activity-lost"
		err := controllers.SaveImportResult(ctx, k8sClient, pi, pi.DeepCopy())
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)
	})
})
