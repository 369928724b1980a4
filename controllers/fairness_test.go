package controllers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// stallingUploads is a Localytics endpoint that answers every profile upload
// with the headers of a 200 and then nothing, until released; every other
// call goes to the simulator behind it.
type stallingUploads struct {
	held, ended atomic.Int64
	release     chan struct{}
}

func (s *stallingUploads) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/v1/imports/profiles/upload") {
			next.ServeHTTP(w, r)
			return
		}
		s.held.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-s.release:
		case <-r.Context().Done():
			s.ended.Add(1) // the operator gave up on it: its deadline passed
		}
	})
}

var _ = Describe("Workers shared between namespaces", func() {
	It("a namespace whose endpoint stalls does not hold back another namespace's import", func() {
		// The other tenant, ready before the stall begins.
		other := newImportSim(time.Hour)
		otherNS := readyImportAccount(other, time.Hour)
		createFileConfigMap(otherNS, "file", "profiles", goodJSON)

		// A tenant whose endpoint takes every upload and never answers,
		// with more imports than the controller has workers.
		stalled := newImportSim(time.Hour)
		stall := &stallingUploads{release: make(chan struct{})}
		server := httptest.NewServer(stall.wrap(stalled.Server))
		DeferCleanup(server.Close)
		DeferCleanup(func() { close(stall.release) }) // before the server closes
		stalled.url = server.URL
		stalledNS := readyImportAccount(stalled, time.Hour)
		// Once the spec ends, its imports would retry against a closed port.
		DeferCleanup(func() {
			Expect(k8sClient.DeleteAllOf(ctx, &importsv1alpha1.ProfileImport{}, client.InNamespace(stalledNS))).To(Succeed())
		})
		createFileConfigMap(stalledNS, "file", "profiles", goodJSON)
		// Each travels alone, so that each holds a worker of its own.
		for i := range 10 {
			createImport(stalledNS, fmt.Sprintf("stalled-%d", i), "file", func(pi *importsv1alpha1.ProfileImport) {
				pi.Spec.Packing = importsv1alpha1.PackingNever
			})
		}
		Eventually(stall.held.Load).WithTimeout(30 * time.Second).Should(BeNumerically(">=", 1))

		pi := createImport(otherNS, "unhindered", "file")
		eventuallyCompleted(pi)
		Expect(stall.ended.Load()).To(BeZero(),
			"the other namespace's import completed only once the stalled uploads were given up: they held every worker")
		Expect(stall.held.Load()).To(BeNumerically("<=", 4),
			"the stalled namespace holds its quarter of the workers, and borrows idle ones, up to half, only while its reconciles are quick")
	})
})
