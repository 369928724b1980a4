package controllers

import (
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/ledger"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

func TestClassify(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	status := "GET /v1/imports/profiles/status/{activity_id}"
	cases := map[string]struct {
		err     error
		kind    failureKind
		reason  string
		retryAt time.Time
	}{
		"a phase's own classification is kept": {
			err: fmt.Errorf("wrapped: %w", stalled(ReasonSecretMissing, nil, "Secret %q not found", "x")), kind: failureStalled, reason: ReasonSecretMissing,
		},
		"401 stalls": {
			err: &localytics.APIError{StatusCode: 401, Endpoint: status}, kind: failureStalled, reason: ReasonCredentialsRefused,
		},
		"403 stalls": {
			err: &localytics.APIError{StatusCode: 403, Endpoint: status}, kind: failureStalled, reason: ReasonCredentialsRefused,
		},
		"429 waits for the time the client computed": {
			err: &localytics.APIError{StatusCode: 429, Endpoint: status, RetryAt: at}, kind: failureWaiting, reason: ReasonRateLimited, retryAt: at,
		},
		"a budget the client refused to spend waits": {
			err:  &localytics.BudgetExceededError{Kind: localytics.BudgetProfileStatus, Endpoint: status, RetryAt: at},
			kind: failureWaiting, reason: ReasonRateLimited, retryAt: at,
		},
		"a full upload ledger waits for its next slot": {
			err: &ledger.NoSlotError{NextSlot: at}, kind: failureWaiting, reason: ReasonQuotaExhausted, retryAt: at,
		},
		"a 400 is a refusal, not retried": {
			err: &localytics.APIError{StatusCode: 400, Endpoint: status}, kind: failureStalled, reason: ReasonAPIRefused,
		},
		"a 404 of a call that does not expect one is a refusal": {
			err: &localytics.APIError{StatusCode: 404, Endpoint: status}, kind: failureStalled, reason: ReasonAPIRefused,
		},
		"a redirect is a refusal (the API never redirects)": {
			err: &localytics.APIError{StatusCode: 302, Endpoint: status}, kind: failureStalled, reason: ReasonAPIRefused,
		},
		"503 is transient": {
			err: &localytics.APIError{StatusCode: 503, Endpoint: status}, kind: failureTransient, reason: ReasonAPIUnavailable,
		},
		"a network error is transient": {
			err: &localytics.NetworkError{Endpoint: status, Err: errors.New("connection refused")}, kind: failureTransient, reason: ReasonAPIUnavailable,
		},
		"a Kubernetes conflict is transient": {
			err:  apierrors.NewConflict(schema.GroupResource{Resource: "localyticsaccounts"}, "acme", errors.New("changed")),
			kind: failureTransient, reason: ReasonKubernetesAPI,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := classify(tc.err)
			g.Expect(got.kind).To(Equal(tc.kind), got.kind.String())
			g.Expect(got.reason).To(Equal(tc.reason))
			g.Expect(got.retryAt).To(BeTemporally("==", tc.retryAt))
			g.Expect(got.message).NotTo(BeEmpty())
			g.Expect(got.message).NotTo(ContainSubstring("connection refused"), "addresses stay out of conditions")
		})
	}
}

func TestRequeueAt(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		times []time.Time
		want  time.Duration
	}{
		"nothing to wait for":           {want: 0},
		"zero times are ignored":        {times: []time.Time{{}, now.Add(time.Minute)}, want: time.Minute},
		"the earliest time wins":        {times: []time.Time{now.Add(time.Hour), now.Add(3 * time.Second)}, want: 3 * time.Second},
		"a past time waits a second":    {times: []time.Time{now.Add(-time.Hour)}, want: time.Second},
		"a near time is kept precisely": {times: []time.Time{now.Add(10 * time.Millisecond)}, want: 10 * time.Millisecond},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(requeueAt(now, tc.times...).RequeueAfter).To(Equal(tc.want))
		})
	}
}

func TestMinResult(t *testing.T) {
	g := NewWithT(t)
	g.Expect(minResult(ctrl.Result{}, ctrl.Result{RequeueAfter: time.Second})).To(Equal(ctrl.Result{RequeueAfter: time.Second}))
	g.Expect(minResult(ctrl.Result{RequeueAfter: time.Minute}, ctrl.Result{})).To(Equal(ctrl.Result{RequeueAfter: time.Minute}))
	g.Expect(minResult(ctrl.Result{RequeueAfter: time.Minute}, ctrl.Result{RequeueAfter: time.Second})).To(Equal(ctrl.Result{RequeueAfter: time.Second}))
	g.Expect(minResult(ctrl.Result{}, ctrl.Result{})).To(Equal(ctrl.Result{}))
}

func TestTransientBackoffGrowsAndResets(t *testing.T) {
	g := NewWithT(t)
	b := newTransientBackoff(100*time.Millisecond, time.Second)
	req := reconcile.Request{}
	req.Name = "acme"
	var delays []time.Duration
	for range 6 {
		delays = append(delays, b.next(req))
	}
	// Equal jitter: each delay is between half and all of 100ms·2^n, capped.
	for i, d := range delays {
		full := min(100*time.Millisecond<<i, time.Second)
		g.Expect(d).To(BeNumerically(">=", full/2), "attempt %d", i)
		g.Expect(d).To(BeNumerically("<=", full), "attempt %d", i)
	}
	b.reset(req)
	g.Expect(b.next(req)).To(BeNumerically("<=", 100*time.Millisecond))
}

func TestLimitsOf(t *testing.T) {
	cases := map[string]struct {
		spec importsv1alpha1.AccountLimits
		want localytics.Limits
	}{
		"unset limits are the vendor's": {want: localytics.DefaultLimits()},
		"set limits override one by one": {
			spec: importsv1alpha1.AccountLimits{
				ProfileUploads: &importsv1alpha1.RateLimit{Count: 2, Window: metav1.Duration{Duration: 5 * time.Second}},
				AudienceCalls:  &importsv1alpha1.RateLimit{Count: 7, Window: metav1.Duration{Duration: time.Second}},
			},
			want: localytics.Limits{
				ProfileUploads: localytics.Limit{Calls: 2, Window: 5 * time.Second},
				ProfileStatus:  localytics.DefaultLimits().ProfileStatus,
				AudienceCalls:  localytics.Limit{Calls: 7, Window: time.Second},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(limitsOf(tc.spec)).To(Equal(tc.want))
		})
	}
}
