package controllers

import (
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
	// ReasonSourceUnsupported: the kind of source is not implemented, such
	// as an object URL of a scheme the operator does not know (stalled; the
	// CRD admits s3, gs and azblob only).
	ReasonSourceUnsupported = "SourceUnsupported"
	// ReasonSourceUnreadable: the source could not be read (transient).
	ReasonSourceUnreadable = "SourceUnreadable"
	// ReasonSourceInvalid: the source's spec cannot work (e.g. an object
	// store URL without an object).
	ReasonSourceInvalid = "SourceInvalid"
	// ReasonSourceAccessDenied: the object store refused the credentials.
	ReasonSourceAccessDenied = "SourceAccessDenied"
	// ReasonSourceEndpointNotAllowed: the object store URL's endpoint is not
	// among the operator's --allowed-object-store-endpoints; the Secret is
	// not read and nothing is sent (stalled).
	ReasonSourceEndpointNotAllowed = "SourceEndpointNotAllowed"
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
	// ReasonGathering: the import's upload has its turn and waits a quiet
	// period for more imports of its scope to share it (phase Gathering).
	ReasonGathering = "Gathering"
	// ReasonSharedUpload: the import travels in the upload of another
	// import of its scope, which records the outcome here.
	ReasonSharedUpload = "SharedUpload"
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
	EventPartCompleted  = "PartCompleted"
	EventFailed         = "Failed"
	// EventFailedLinesUnattributed: the error log of a shared upload named
	// fewer lines than failed, so some failures could not be given to an
	// import.
	EventFailedLinesUnattributed = "FailedLinesUnattributed"
)

const jobProcessingMessage = "Localytics accepted the file and is processing it"

// unknownOutcomeMessage explains the stall of a file with increment changes
// whose upload may have been accepted.
const unknownOutcomeMessage = "the upload of this file may or may not have reached Localytics (the answer was lost), " +
	"and the file has increment changes, which a second upload would count twice. " +
	"Check the profiles in Localytics; to upload the file again, set the annotation " +
	importsv1alpha1.AnnotationRetryUnknownUpload + `: "true" (it is honoured once)`

// summarizeImport says how far an import whose phases succeeded is.
func summarizeImport(st *importScope) summary {
	pi := st.obj
	switch {
	case pi.Status.Phase == importsv1alpha1.PhaseCompleted:
		return summary{ready: true, reason: ReasonCompleted, message: "The Localytics job completed; see status.statistics"}
	case pi.Status.ActivityID != "":
		return summary{reason: ReasonJobProcessing, message: jobProcessingMessage}
	}
	return summary{reason: "Progressing", message: "The import is in progress"}
}

func importConditions(pi *importsv1alpha1.ProfileImport) kstatusConditions {
	return kstatusConditions{&pi.Status.Conditions, pi.Generation, &pi.Status.ObservedGeneration}
}
