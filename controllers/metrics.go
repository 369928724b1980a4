package controllers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// The operator's metrics, served on the manager's metrics endpoint next to
// controller-runtime's. Labels stay few and bounded: an endpoint name, a
// status code, an account as namespace/name. A credential, an activity id
// or a raw path never becomes a label value.
// labelAccount is the label of an account, as namespace/name.
const labelAccount = "account"

var (
	apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "localytics_api_requests_total",
		Help: "HTTP requests sent to the Localytics API, each retry counted, by endpoint " +
			"(profiles/upload, profiles/status, audiences/create, audiences/status, audiences/replace, " +
			"audiences/rename, audiences/delete, audiences/list, other) and status code (\"error\" when no answer came).",
	}, []string{"endpoint", "code"})

	apiRequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "localytics_api_request_duration_seconds",
		Help:    "Time from sending a request to the Localytics API to its answer's headers, by endpoint; an upload includes sending the file.",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
	}, []string{"endpoint"})

	profileUploads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "localytics_profile_uploads_total",
		Help: "Profile file uploads by account (namespace/name) and outcome: accepted (an activity id came back), " +
			"refused (certainly not accepted: an error answer, or never sent) or unknown (the answer was lost after the file was sent).",
	}, []string{labelAccount, "outcome"})

	uploadBudgetRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "localytics_upload_budget_remaining",
		Help: "Profile uploads an account's ledger still allows in the current window, by account (namespace/name).",
	}, []string{labelAccount})

	audienceListsInUse = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "localytics_audience_lists",
		Help: "Audience lists an app holds in Localytics as the operator last saw them (its list-by-app call, its own creates in flight included), " +
			"by account (namespace/name) and app.",
	}, []string{labelAccount, "app"})

	profileJobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "localytics_profile_job_duration_seconds",
		Help: "Time from a profile upload's acceptance to the end of its Localytics job as the operator saw it, by result (completed, failed).",
		// Seconds to 30 minutes: jobs usually finish within 5 minutes once Running.
		Buckets: []float64{1, 5, 10, 30, 60, 120, 300, 600, 900, 1800},
	}, []string{"result"})
)

// Outcomes of a profile upload, the values of localytics_profile_uploads_total's outcome label.
const (
	uploadAccepted = "accepted"
	uploadRefused  = "refused"
	uploadUnknown  = "unknown"
)

// Registered once, with the package, as controller-runtime registers its own.
func init() {
	metrics.Registry.MustRegister(apiRequests, apiRequestDuration, profileUploads, uploadBudgetRemaining, profileJobDuration,
		audienceListsInUse)
}

// instrumentedTransport counts the requests to the Localytics API and times
// them, by endpoint and status code.
type instrumentedTransport struct {
	next http.RoundTripper
}

func (t instrumentedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	endpoint := localytics.EndpointName(req)
	if endpoint == "" {
		endpoint = endpointOther
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	apiRequestDuration.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	apiRequests.WithLabelValues(endpoint, code).Inc()
	return resp, err
}

// endpointOther names a request that no localytics.Client made.
const endpointOther = "other"

// recordUpload counts one profile upload of the account (namespace/name).
func recordUpload(account, outcome string) {
	profileUploads.WithLabelValues(account, outcome).Inc()
}

// recordUploadBudget shows how many uploads the account's ledger allows.
func recordUploadBudget(account string, left int32) {
	uploadBudgetRemaining.WithLabelValues(account).Set(float64(left))
}

// forgetUploadBudget drops the series of a deleted account.
func forgetUploadBudget(account string) {
	uploadBudgetRemaining.DeleteLabelValues(account)
}

// recordAudienceLists shows how many lists the app of the account holds.
func recordAudienceLists(account, app string, n int) {
	audienceListsInUse.WithLabelValues(account, app).Set(float64(n))
}

// forgetAudienceListsGauge drops the series of an account's app.
func forgetAudienceListsGauge(account, app string) {
	audienceListsInUse.DeleteLabelValues(account, app)
}

// recordJobEnd observes the duration of an import's job when a status write
// moved it from in progress to Completed or Failed: once per job, since a
// write that did not succeed is not counted and an ended import is never
// written to end again.
func recordJobEnd(before, after *importsv1alpha1.ProfileImport) {
	if isTerminal(before) || !isTerminal(after) || after.Status.SubmittedAt == nil || after.Status.CompletedAt == nil {
		return
	}
	result := "completed"
	if after.Status.Phase == importsv1alpha1.PhaseFailed {
		result = "failed"
	}
	d := after.Status.CompletedAt.Sub(after.Status.SubmittedAt.Time)
	profileJobDuration.WithLabelValues(result).Observe(max(d, 0).Seconds())
}
