package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// Reasons of a LocalyticsAccount's conditions. Ready is True with
// CredentialsVerified; otherwise Ready is False with the reason of the
// Stalled or Reconciling condition that says why.
const (
	// ReasonCredentialsVerified: the API accepted the credentials.
	ReasonCredentialsVerified = "CredentialsVerified"
	// ReasonCredentialsRefused: the API answered 401 or 403 (stalled).
	ReasonCredentialsRefused = "CredentialsRefused"
	// ReasonCredentialsInvalid: the credentials cannot be sent (stalled).
	ReasonCredentialsInvalid = "CredentialsInvalid"
	// ReasonEndpointUnexpected: the endpoint answered like no Localytics
	// API would (stalled).
	ReasonEndpointUnexpected = "EndpointUnexpected"
)

// finish sets every condition of the account from the outcome of its
// phases, and returns when to reconcile it again. It is the one place that
// turns a classified failure into conditions, events and a requeue.
func (r *LocalyticsAccountReconciler) finish(ctx context.Context, req ctrl.Request, account *importsv1alpha1.LocalyticsAccount,
	err error, now time.Time) ctrl.Result {
	log := ctrl.LoggerFrom(ctx)
	if err == nil {
		r.backoff.reset(req)
		markReady(account, ReasonCredentialsVerified,
			fmt.Sprintf("The credentials in Secret %q were accepted by %s", account.Spec.SecretRef.Name, account.Spec.Endpoint))
		return ctrl.Result{}
	}

	failure := classify(err)
	switch failure.kind {
	case failureStalled:
		r.backoff.reset(req)
		if previous := meta.FindStatusCondition(account.Status.Conditions, importsv1alpha1.ConditionStalled); previous == nil ||
			previous.Status != metav1.ConditionTrue || previous.Reason != failure.reason {
			log.Info("stalled", "reason", failure.reason, "message", failure.message)
			// Verification results have their own events; a Secret that
			// cannot be read gets one when it becomes the reason.
			if failure.reason == ReasonSecretMissing || failure.reason == ReasonSecretKeyMissing {
				r.Recorder.Eventf(account, nil, corev1.EventTypeWarning, failure.reason, "ReadSecret", "%s", failure.message)
			}
		}
		markStalled(account, failure.reason, failure.message)
		return ctrl.Result{}
	case failureWaiting:
		log.V(1).Info("waiting", "reason", failure.reason, "until", failure.retryAt)
		markReconciling(account, failure.reason, failure.message)
		return requeueAt(now, failure.retryAt)
	default:
		delay := r.backoff.next(req)
		log.Info("retrying after a transient failure", "reason", failure.reason, "after", delay, "error", err.Error())
		markReconciling(account, failure.reason, failure.message)
		return ctrl.Result{RequeueAfter: delay}
	}
}

func accountConditions(account *importsv1alpha1.LocalyticsAccount) kstatusConditions {
	return kstatusConditions{&account.Status.Conditions, account.Generation, &account.Status.ObservedGeneration}
}

// markReady: the credentials are verified for this generation.
func markReady(account *importsv1alpha1.LocalyticsAccount, reason, message string) {
	accountConditions(account).ready(reason, message)
}

// markStalled: only a person can move the account on.
func markStalled(account *importsv1alpha1.LocalyticsAccount, reason, message string) {
	accountConditions(account).stalled(reason, message)
}

// markReconciling: the operator is still working on it and will come back.
func markReconciling(account *importsv1alpha1.LocalyticsAccount, reason, message string) {
	accountConditions(account).reconciling(reason, message)
}
