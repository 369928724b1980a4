package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// Reasons of a ProfileImport's conditions. Ready is True with Completed;
// otherwise Ready is False with the reason of the Stalled or Reconciling
// condition that says why. Reasons shared with the other controllers
// (QuotaExhausted, RateLimited, APIUnavailable, CredentialsRefused,
// SecretMissing, ...) are in outcome.go and localyticsclient.go.
const (
	// ReasonCompleted: the Localytics job completed (Ready=True).
	ReasonCompleted = "Completed"
	// ReasonJobProcessing: Localytics accepted the file and runs the job.
	ReasonJobProcessing = "JobProcessing"
	// ReasonJobFailed: the Localytics job failed (stalled).
	ReasonJobFailed = "JobFailed"
	// ReasonJobNotFound: Localytics does not know the activity id (stalled).
	ReasonJobNotFound = "JobNotFound"
	// ReasonSourceNotFound: the ConfigMap or its key, the object store's
	// Secret or key, or the object is missing (stalled until it appears;
	// an object is looked for again every SourceRecheck).
	ReasonSourceNotFound = "SourceNotFound"
	// ReasonSourceUnsupported: the kind of source is not implemented yet,
	// e.g. gs:// and azblob:// URLs (stalled).
	ReasonSourceUnsupported = "SourceUnsupported"
	// ReasonSourceUnreadable: the source could not be read (transient).
	ReasonSourceUnreadable = "SourceUnreadable"
	// ReasonSourceInvalid: the source's spec cannot work (e.g. an object
	// store URL without an object).
	ReasonSourceInvalid = "SourceInvalid"
	// ReasonSourceAccessDenied: the object store refused the credentials.
	ReasonSourceAccessDenied = "SourceAccessDenied"
	// ReasonSourceChanged: the source changed between validation and
	// upload (transient).
	ReasonSourceChanged = "SourceChanged"
	// ReasonValidationFailed: Strict validation found invalid lines
	// (stalled, phase Invalid).
	ReasonValidationFailed = "ValidationFailed"
	// ReasonNoValidLines: the file has no valid line (stalled, phase
	// Invalid).
	ReasonNoValidLines = "NoValidLines"
	// ReasonFileTooLarge: the file is over the vendor's 100 MB (stalled).
	ReasonFileTooLarge = "FileTooLarge"
	// ReasonUploadRefused: the client refused to make the upload (stalled).
	ReasonUploadRefused = "UploadRefused"
	// ReasonAccountNotFound: the LocalyticsAccount is missing (stalled until
	// it is created).
	ReasonAccountNotFound = "AccountNotFound"
	// ReasonAccountNotReady: the account is not Ready yet (waiting) or is
	// stalled (stalled).
	ReasonAccountNotReady = "AccountNotReady"
	// ReasonUploadOutcomeUnknown: an upload may or may not have reached
	// Localytics. Stalled for a file with increment changes until a person
	// sets the retry annotation; transient otherwise.
	ReasonUploadOutcomeUnknown = "UploadOutcomeUnknown"
)

// Reasons of a ProfileImport's events, one per step.
const (
	EventValidated      = "Validated"
	EventRejected       = "Rejected"
	EventQueued         = "Queued"
	EventUploaded       = "Uploaded"
	EventRetryingUpload = "RetryingUpload"
	EventCompleted      = "Completed"
	EventFailed         = "Failed"
)

const jobProcessingMessage = "Localytics accepted the file and is processing it"

// unknownOutcomeMessage explains the stall of a file with increment changes
// whose upload may have been accepted.
const unknownOutcomeMessage = "the upload of this file may or may not have reached Localytics (the answer was lost), " +
	"and the file has increment changes, which a second upload would count twice. " +
	"Check the profiles in Localytics; to upload the file again, set the annotation " +
	importsv1alpha1.AnnotationRetryUnknownUpload + `: "true" (it is honoured once)`

// finish sets every condition of the import from the outcome of its
// phases, and returns when to reconcile it again. It is the one place that
// turns a classified failure into conditions and a requeue.
func (r *ProfileImportReconciler) finish(ctx context.Context, req ctrl.Request, st *importState, err error) ctrl.Result {
	log := ctrl.LoggerFrom(ctx)
	pi := st.pi
	if err == nil {
		r.backoff.reset(req)
		if pi.Status.Phase == importsv1alpha1.PhaseCompleted {
			markImportReady(pi, ReasonCompleted, "The Localytics job completed; see status.statistics")
			return ctrl.Result{}
		}
		note := st.progress
		if note == nil {
			note = &progressNote{reason: "Progressing", message: "The import is in progress"}
		}
		markImportReconciling(pi, note.reason, note.message)
		return st.result
	}

	failure := classify(err)
	switch failure.kind {
	case failureStalled:
		r.backoff.reset(req)
		if previous := meta.FindStatusCondition(st.before.Status.Conditions, importsv1alpha1.ConditionStalled); previous == nil ||
			previous.Status != metav1.ConditionTrue || previous.Reason != failure.reason {
			log.Info("stalled", "reason", failure.reason, "message", failure.message)
		}
		markImportStalled(pi, failure.reason, failure.message)
		return ctrl.Result{RequeueAfter: failure.recheck}
	case failureWaiting:
		log.V(1).Info("waiting", "reason", failure.reason, "until", failure.retryAt)
		markImportReconciling(pi, failure.reason, failure.message)
		return minResult(requeueAt(st.now, failure.retryAt), st.result)
	default:
		delay := r.backoff.next(req)
		log.Info("retrying after a transient failure", "reason", failure.reason, "after", delay, "error", err.Error())
		markImportReconciling(pi, failure.reason, failure.message)
		return ctrl.Result{RequeueAfter: delay}
	}
}

// reconcileTerminal keeps a finished import's conditions current with its
// generation: nothing else changes once the job ended.
func (r *ProfileImportReconciler) reconcileTerminal(pi *importsv1alpha1.ProfileImport) {
	for i := range pi.Status.Conditions {
		pi.Status.Conditions[i].ObservedGeneration = pi.Generation
	}
	pi.Status.ObservedGeneration = pi.Generation
}

func importConditions(pi *importsv1alpha1.ProfileImport) kstatusConditions {
	return kstatusConditions{&pi.Status.Conditions, pi.Generation, &pi.Status.ObservedGeneration}
}

// markImportReady: the job completed.
func markImportReady(pi *importsv1alpha1.ProfileImport, reason, message string) {
	importConditions(pi).ready(reason, message)
}

// markImportStalled: only a person can move the import on (or the job failed).
func markImportStalled(pi *importsv1alpha1.ProfileImport, reason, message string) {
	importConditions(pi).stalled(reason, message)
}

// markImportReconciling: the operator works on it and comes back.
func markImportReconciling(pi *importsv1alpha1.ProfileImport, reason, message string) {
	importConditions(pi).reconciling(reason, message)
}
