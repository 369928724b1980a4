package controllers_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// The metrics are read as the manager's endpoint serves them: gathered from
// controller-runtime's registry. Every spec of the suite shares that
// registry, so the specs compare values before and after what they do.

// series is one sample of a gathered metric family.
type series struct {
	labels map[string]string
	metric *dto.Metric
}

// gatherOperatorMetrics returns the series of the operator's metrics
// (localytics_*), by family name.
func gatherOperatorMetrics() map[string][]series {
	GinkgoHelper()
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	out := map[string][]series{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "localytics_") {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[f.GetName()] = append(out[f.GetName()], series{labels: labels, metric: m})
		}
	}
	return out
}

// find returns the series of the family with exactly these labels, nil when
// there is none.
func find(all map[string][]series, name string, labels map[string]string) *dto.Metric {
	for _, s := range all[name] {
		if len(s.labels) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			return s.metric
		}
	}
	return nil
}

// counterValue is the value of a counter series, 0 when it does not exist.
func counterValue(name string, labels map[string]string) float64 {
	GinkgoHelper()
	return find(gatherOperatorMetrics(), name, labels).GetCounter().GetValue()
}

// jobsObserved is the number of job durations observed with the result.
func jobsObserved(result string) uint64 {
	GinkgoHelper()
	return find(gatherOperatorMetrics(), jobDurationMetric, map[string]string{"result": result}).GetHistogram().GetSampleCount()
}

// budgetOf is the budget gauge of the account (namespace/name), nil when
// there is none.
func budgetOf(account string) *dto.Metric {
	GinkgoHelper()
	return find(gatherOperatorMetrics(), budgetMetric, map[string]string{"account": account})
}

const (
	requestsMetric    = "localytics_api_requests_total"
	uploadsMetric     = "localytics_profile_uploads_total"
	budgetMetric      = "localytics_upload_budget_remaining"
	jobDurationMetric = "localytics_profile_job_duration_seconds"
)

var _ = Describe("Metrics", Ordered, ContinueOnFailure, func() {
	uploadOK := map[string]string{"endpoint": "profiles/upload", "code": "202"}
	statusOK := map[string]string{"endpoint": "profiles/status", "code": "200"}

	It("counts the API calls, the upload, the budget left and the job duration of a completed import", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		account := ns + "/" + accountName
		accepted := map[string]string{"account": account, "outcome": "accepted"}

		// The account's budget is shown as soon as it was reconciled.
		Eventually(func() float64 { return budgetOf(account).GetGauge().GetValue() }).
			WithTimeout(10 * time.Second).Should(Equal(10.0))

		uploadsBefore := counterValue(requestsMetric, uploadOK)
		statusBefore := counterValue(requestsMetric, statusOK)
		completedBefore := jobsObserved("completed")

		createFileConfigMap(ns, "file", "profiles", goodJSON)
		pi := createImport(ns, "metrics-import", "file")
		done := eventuallyCompleted(pi)

		Expect(counterValue(requestsMetric, uploadOK)-uploadsBefore).To(BeNumerically(">=", 1), "P1 calls answered 202")
		Expect(counterValue(requestsMetric, statusOK)-statusBefore).To(BeNumerically(">=", 1), "P2 calls answered 200")
		// The account and its namespace are the spec's own: exact values.
		Expect(counterValue(uploadsMetric, accepted)).To(Equal(1.0))
		for _, u := range gatherOperatorMetrics()[uploadsMetric] {
			if u.labels["account"] == ns+"/"+accountName {
				Expect(u.labels).To(HaveKeyWithValue("outcome", "accepted"), "only the accepted upload is counted")
			}
		}
		Expect(jobsObserved("completed") - completedBefore).To(BeNumerically(">=", 1))

		// The slot the upload took is counted once the account saw it.
		Eventually(func() float64 { return budgetOf(account).GetGauge().GetValue() }).
			WithTimeout(10 * time.Second).Should(Equal(9.0))
		Expect(getAccount(client.ObjectKey{Namespace: ns, Name: accountName}).Status.UploadsLeft).To(HaveValue(BeEquivalentTo(9)))

		// No label carries a credential, an activity id or a raw path.
		secrets := []string{s.key, s.secret, simKey, simSecret, done.Status.ActivityID}
		endpoints := []string{"profiles/upload", "profiles/status", "audiences/create", "audiences/status",
			"audiences/replace", "audiences/rename", "audiences/delete", "audiences/list", "other"}
		for name, all := range gatherOperatorMetrics() {
			for _, series := range all {
				for label, value := range series.labels {
					for _, secret := range secrets {
						Expect(value).NotTo(ContainSubstring(secret), "%s{%s=%q}", name, label, value)
					}
					if label == "endpoint" {
						Expect(endpoints).To(ContainElement(value), "%s{%s=%q}", name, label, value)
					}
				}
			}
		}
	})

	It("counts an upload whose answer was lost as unknown, and the retry that followed as accepted", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		s.SetFaults(sim.Faults{DropAfterAccept: 1})
		uploadLost := map[string]string{"endpoint": "profiles/upload", "code": "error"}
		lostBefore := counterValue(requestsMetric, uploadLost)

		createFileConfigMap(ns, "file", "profiles", goodJSON)
		eventuallyCompleted(createImport(ns, "metrics-dropped", "file"))

		account := ns + "/" + accountName
		Expect(counterValue(uploadsMetric, map[string]string{"account": account, "outcome": "unknown"})).To(Equal(1.0))
		Expect(counterValue(uploadsMetric, map[string]string{"account": account, "outcome": "accepted"})).To(Equal(1.0))
		Expect(counterValue(requestsMetric, uploadLost)-lostBefore).To(BeNumerically(">=", 1), "the dropped P1 call has no status code")
		// Both uploads took a slot.
		Eventually(func() float64 { return budgetOf(account).GetGauge().GetValue() }).
			WithTimeout(10 * time.Second).Should(Equal(8.0))
	})

	It("observes a failed job's duration once, and forgets the budget of a deleted account", func() {
		s := newImportSim(time.Hour)
		ns := readyImportAccount(s, time.Hour)
		s.SetFaults(sim.Faults{FailJobs: 1})
		account := ns + "/" + accountName
		failedBefore := jobsObserved("failed")

		createFileConfigMap(ns, "file", "profiles", goodJSON)
		pi := createImport(ns, "metrics-failed", "file")
		eventuallyCondition(pi, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonJobFailed)
		Expect(getImport(pi).Status.Phase).To(Equal(importsv1alpha1.PhaseFailed))

		Expect(jobsObserved("failed") - failedBefore).To(BeNumerically(">=", 1))
		Expect(counterValue(uploadsMetric, map[string]string{"account": ns + "/" + accountName, "outcome": "accepted"})).To(Equal(1.0))
		// An ended import is not observed again when it is reconciled again.
		observed := jobsObserved("failed")
		touched := getImport(pi)
		base := touched.DeepCopy()
		touched.Annotations = map[string]string{"example.com/touched": "true"}
		Expect(k8sClient.Patch(ctx, touched, client.MergeFrom(base))).To(Succeed())
		Consistently(func() uint64 { return jobsObserved("failed") }).
			WithTimeout(time.Second).WithPolling(100 * time.Millisecond).Should(Equal(observed))

		Expect(budgetOf(account)).NotTo(BeNil())
		Expect(k8sClient.Delete(ctx, &importsv1alpha1.LocalyticsAccount{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: accountName},
		})).To(Succeed())
		Eventually(func() *dto.Metric { return budgetOf(account) }).WithTimeout(10 * time.Second).Should(BeNil())
	})
})
