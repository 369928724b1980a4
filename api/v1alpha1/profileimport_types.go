package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProfileFormat is the format of a profile import file.
// +kubebuilder:validation:Enum=json;csv
type ProfileFormat string

const (
	// ProfileFormatJSON is JSON Lines: one {"customer_id", "changes"} object per line.
	ProfileFormatJSON ProfileFormat = "json"
	// ProfileFormatCSV is a header row (customer id, then attribute names) and one row per customer.
	ProfileFormatCSV ProfileFormat = "csv"
)

// ValidationMode says what to do with a file that has invalid lines.
// +kubebuilder:validation:Enum=Strict;SkipInvalid
type ValidationMode string

const (
	// ValidationStrict rejects the whole file when one line is invalid; nothing is uploaded.
	ValidationStrict ValidationMode = "Strict"
	// ValidationSkipInvalid uploads the valid lines and reports the invalid ones.
	ValidationSkipInvalid ValidationMode = "SkipInvalid"
)

// Packing says whether an import may share an upload with others.
// +kubebuilder:validation:Enum=Allowed;Never
type Packing string

const (
	// PackingAllowed lets the import travel in one upload with other
	// imports of its account and scope: the way to spend few slots.
	PackingAllowed Packing = "Allowed"
	// PackingNever uploads the import alone, in a slot of its own.
	PackingNever Packing = "Never"
)

// AnnotationRetryUnknownUpload, set to "true" by a person, allows the operator
// to upload again a file whose earlier upload may or may not have reached
// Localytics. It is needed only for files with increment changes, which a
// second upload would count twice.
const AnnotationRetryUnknownUpload = "imports.localytics.dev/retry-unknown-upload"

// ProfileImportSpec is one bulk import of profile changes. Like a Job, it runs once.
// +kubebuilder:validation:XValidation:rule="has(self.orgID) != has(self.appID)",message="exactly one of orgID or appID must be set: the scope of the import"
// +kubebuilder:validation:XValidation:rule="has(self.orgID) == has(oldSelf.orgID) && has(self.appID) == has(oldSelf.appID)",message="the scope (orgID or appID) cannot change once set; create a new ProfileImport instead"
type ProfileImportSpec struct {
	// accountRef names the LocalyticsAccount, in the same namespace, whose
	// credentials and upload budget the import uses.
	// +required
	AccountRef LocalObjectReference `json:"accountRef"`

	// orgID scopes the import to an organisation. Excludes appID. Cannot
	// change once set.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the scope (orgID or appID) cannot change once set; create a new ProfileImport instead"
	OrgID *int64 `json:"orgID,omitempty"`

	// appID scopes the import to one app. Excludes orgID. Cannot change once set.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the scope (orgID or appID) cannot change once set; create a new ProfileImport instead"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	AppID string `json:"appID,omitempty"`

	// format of the file: json (JSON Lines, the default) or csv. Cannot change
	// once set.
	// +optional
	// +kubebuilder:default=json
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="format cannot change once set; create a new ProfileImport instead"
	Format ProfileFormat `json:"format,omitempty"`

	// source of the file. Cannot change once set.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="source cannot change once set; create a new ProfileImport instead"
	Source Source `json:"source"`

	// validation is Strict (the default: one invalid line rejects the file and
	// nothing is uploaded) or SkipInvalid (the valid lines are uploaded and the
	// invalid ones reported).
	// +optional
	// +kubebuilder:default=Strict
	Validation ValidationMode `json:"validation,omitempty"`
	// packing is Allowed (the default: the import may share one upload with
	// other JSON imports of its account and scope, which saves upload
	// slots) or Never (it travels alone). CSV imports always travel alone.
	// +optional
	// +kubebuilder:default=Allowed
	Packing Packing `json:"packing,omitempty"`
}

// ProfileImportPhase is where a ProfileImport is in its life.
// +kubebuilder:validation:Enum=Pending;Invalid;Queued;Gathering;Uploading;Processing;Completed;Failed
type ProfileImportPhase string

const (
	// PhasePending: the file is not read yet (or its source is missing).
	PhasePending ProfileImportPhase = "Pending"
	// PhaseInvalid: the file was rejected by validation; nothing was uploaded.
	PhaseInvalid ProfileImportPhase = "Invalid"
	// PhaseQueued: the file is valid and waits for an upload slot.
	PhaseQueued ProfileImportPhase = "Queued"
	// PhaseGathering: the import's upload has its turn and waits a short
	// quiet period for more imports of its scope to share it.
	PhaseGathering ProfileImportPhase = "Gathering"
	// PhaseUploading: an upload slot is reserved and the upload is under way.
	PhaseUploading ProfileImportPhase = "Uploading"
	// PhaseProcessing: Localytics accepted the file and runs the job.
	PhaseProcessing ProfileImportPhase = "Processing"
	// PhaseCompleted: the job completed.
	PhaseCompleted ProfileImportPhase = "Completed"
	// PhaseFailed: the job failed.
	PhaseFailed ProfileImportPhase = "Failed"
)

// LineError is one invalid line of an import file.
type LineError struct {
	// line is the 1-based line number in the file.
	// +required
	Line int64 `json:"line"`

	// message says what is wrong, naming the field.
	// +required
	Message string `json:"message"`
}

// ValidationSummary is what validation found in a file.
type ValidationSummary struct {
	// validLines is the number of valid lines.
	// +optional
	ValidLines int64 `json:"validLines"`

	// invalidLines is the number of invalid lines.
	// +optional
	InvalidLines int64 `json:"invalidLines"`

	// duplicateLines is the number of lines of an AudienceList's lines file
	// that repeat a customer id seen before; each id is kept once.
	// +optional
	DuplicateLines int64 `json:"duplicateLines,omitempty"`

	// hasIncrement is true when the file has increment changes, which are
	// counted twice if the file is applied twice.
	// +optional
	HasIncrement bool `json:"hasIncrement,omitempty"`

	// errors are the first invalid lines, at most 20.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Errors []LineError `json:"errors,omitempty"`
}

// UploadRefusal is an upload Localytics refused (a 3xx or 4xx answer other
// than 401, 403 and 429): the file is not sent again until it or the spec
// changes.
type UploadRefusal struct {
	// contentDigest is the digest of the refused file.
	// +required
	ContentDigest string `json:"contentDigest"`

	// generation is the ProfileImport's generation when it was refused.
	// +required
	Generation int64 `json:"generation"`

	// statusCode is what Localytics answered.
	// +required
	StatusCode int32 `json:"statusCode"`
}

// UploadIntent is recorded before a file is sent, so that an operator that
// stops between sending and hearing back knows the outcome is unknown.
type UploadIntent struct {
	// contentDigest is the digest of the file being sent.
	// +required
	ContentDigest string `json:"contentDigest"`

	// startedAt is when the upload started.
	// +required
	StartedAt metav1.Time `json:"startedAt"`

	// endedAt is when the operator saw the upload end without an answer.
	// Unset while it is in flight, and after the operator stopped during
	// it: a retry then waits until the upload cannot still be in flight.
	// +optional
	EndedAt *metav1.Time `json:"endedAt,omitempty"`

	// attempt counts the uploads of the file made after one of unknown
	// outcome: 0 for the first upload, one more for each retry. It names the
	// upload's slot in the account's ledger. Defaults to 0; never negative.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempt int32 `json:"attempt,omitempty"`

	// part is the part of the file being sent, from 0, for a file uploaded
	// in parts (status.parts); 0 otherwise.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Part int32 `json:"part,omitempty"`
}

// UploadParts is the upload in parts of a file larger than its account's
// spec.limits.maxUploadBytes: runs of whole lines, in order, each sent
// after the previous part's job ended, in an upload slot of its own.
type UploadParts struct {
	// total is how many parts the file is cut into. A file of more than
	// 100 parts is not uploaded.
	// +required
	// +kubebuilder:validation:Minimum=1
	Total int32 `json:"total"`

	// done counts the parts whose job ended; the part being uploaded or
	// processed is the next one.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Done int32 `json:"done"`

	// progress is done/total, for kubectl get.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	Progress string `json:"progress,omitempty"`

	// maxBytes is the size the parts were cut to: the account's
	// spec.limits.maxUploadBytes when the file was validated.
	// +required
	// +kubebuilder:validation:Minimum=1
	MaxBytes int64 `json:"maxBytes"`

	// starts are the numbers of the lines (counted as status.lines counts
	// them: blank lines and a CSV header left out) where the second and
	// later parts start.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=99
	Starts []int64 `json:"starts,omitempty"`

	// oversizedLine is the first line of the file that fits in no part
	// (with the CSV header, over maxBytes alone), 0 if none: such a file
	// is not uploaded.
	// +optional
	// +kubebuilder:validation:Minimum=0
	OversizedLine int64 `json:"oversizedLine,omitempty"`

	// jobs are the Localytics jobs of the parts done, in part order.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Jobs []PartJob `json:"jobs,omitempty"`
}

// PartJob is the Localytics job of one part of a file uploaded in parts.
type PartJob struct {
	// activityID is the job's id.
	// +required
	// +kubebuilder:validation:MaxLength=128
	ActivityID string `json:"activityID"`

	// statistics are the job's counts.
	// +required
	Statistics ProfileImportStatistics `json:"statistics"`

	// errorLogURL is the job's error log, if it has one
	// (localytics.MaxErrorLogURLLength).
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	ErrorLogURL string `json:"errorLogURL,omitempty"`
}

// SharedUpload is the upload an import shared with other imports of its
// account and scope: one body, one slot, one Localytics job.
type SharedUpload struct {
	// carrier is the name of the ProfileImport whose slot carried the
	// upload, the first of it; imports with the same carrier and
	// activityID shared it.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Carrier string `json:"carrier"`
	// firstLine is the line of the upload's body where this import's lines
	// start, 1-based: Localytics' error log numbers the body's lines. Set
	// once the upload was sent.
	// +optional
	// +kubebuilder:validation:Minimum=1
	FirstLine int64 `json:"firstLine,omitempty"`
	// lines is how many lines of the body are this import's.
	// +required
	// +kubebuilder:validation:Minimum=0
	Lines int64 `json:"lines"`
	// imports is how many imports the upload carried, once it was sent.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Imports int32 `json:"imports,omitempty"`
}

// ProfileImportStatistics are the counts Localytics reports for a job.
type ProfileImportStatistics struct {
	// successful is the number of profiles imported.
	// +optional
	Successful int64 `json:"successful"`
	// parsed is the number of lines parsed.
	// +optional
	Parsed int64 `json:"parsed"`
	// failed is the number of lines that failed.
	// +optional
	Failed int64 `json:"failed"`
	// total is the number of lines in the file.
	// +optional
	Total int64 `json:"total"`
}

// ProfileImportStatus is the observed state of a ProfileImport.
type ProfileImportStatus struct {
	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready (the job completed), Reconciling and Stalled (only
	// a person can move the import on; the message says how).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// phase is where the import is in its life.
	// +optional
	Phase ProfileImportPhase `json:"phase,omitempty"`

	// contentDigest is the sha256 digest of the file, as sha256:<hex>. A digest
	// is uploaded at most once.
	// +optional
	ContentDigest string `json:"contentDigest,omitempty"`

	// sourceRevision is the revision of the source that contentDigest, lines,
	// bytes and validation describe: a ConfigMap's resourceVersion or an
	// object's ETag. The file is read again only when it changes.
	// +optional
	SourceRevision string `json:"sourceRevision,omitempty"`

	// lines is the number of lines in the file.
	// +optional
	Lines int64 `json:"lines,omitempty"`

	// bytes is the size of the file.
	// +optional
	Bytes int64 `json:"bytes,omitempty"`

	// validation summarises the invalid lines found, if any.
	// +optional
	Validation *ValidationSummary `json:"validation,omitempty"`

	// nextUploadSlot is when the account's next upload slot opens, while the
	// import is Queued.
	// +optional
	NextUploadSlot *metav1.Time `json:"nextUploadSlot,omitempty"`

	// queuePosition is the import's place among the imports of its account
	// that wait for an upload slot, 1 the next to upload, while it is
	// Queued: imports take the slots in the order they were created.
	// nextUploadSlot is then the time of its own turn.
	// +optional
	// +kubebuilder:validation:Minimum=1
	QueuePosition int32 `json:"queuePosition,omitempty"`

	// uploadIntent is set just before the file is sent and cleared once
	// Localytics answered.
	// +optional
	UploadIntent *UploadIntent `json:"uploadIntent,omitempty"`

	// sharedUpload is set when the import travels in one upload with other
	// imports (spec.packing Allowed): which import carried it and where its
	// lines are in the body. Its statistics are its own lines' counts.
	// +optional
	SharedUpload *SharedUpload `json:"sharedUpload,omitempty"`

	// parts is the upload in parts of a file larger than the account's
	// spec.limits.maxUploadBytes. activityID, submittedAt and statistics
	// are then of the part under way (statistics summed over the parts
	// done), and the import is Completed once every part's job is.
	// +optional
	Parts *UploadParts `json:"parts,omitempty"`
	// uploadRefusal records the last upload Localytics refused.
	// +optional
	UploadRefusal *UploadRefusal `json:"uploadRefusal,omitempty"`

	// activityID is the Localytics job id. The client refuses an id that
	// breaks these bounds before it is stored (localytics.MaxActivityIDLength
	// and localytics.ActivityIDPattern are their home): 128 characters hold
	// the vendor's UUIDs (36) and integers (up to 20 digits) with room to
	// spare.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	ActivityID string `json:"activityID,omitempty"`

	// submittedAt is when Localytics accepted the file.
	// +optional
	SubmittedAt *metav1.Time `json:"submittedAt,omitempty"`

	// completedAt is when the job ended, Completed or Failed.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// statistics are the job's counts, once it ended.
	// +optional
	Statistics *ProfileImportStatistics `json:"statistics,omitempty"`

	// errorLogURL is where Localytics lists the lines it could not import.
	// At most 4096 characters (localytics.MaxErrorLogURLLength): twice a
	// presigned object store URL with a session token; the client drops a
	// longer one rather than cut it.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	ErrorLogURL string `json:"errorLogURL,omitempty"`
}

// ProfileImport is one bulk import of profile changes into Localytics.
//
// Its accountRef cannot change once an upload was attempted: the attempt
// took a slot of that account's ledger and may have been applied with its
// credentials, and another account would upload the file again. An attempt
// shows in the status as an upload intent (set before the file is sent; kept
// while the outcome is unknown), an activity id (Localytics took the file)
// or an upload refusal (Localytics answered, and refused).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !(has(oldSelf.status.uploadIntent) || has(oldSelf.status.activityID) || has(oldSelf.status.uploadRefusal)) || self.spec.accountRef.name == oldSelf.spec.accountRef.name",message="spec.accountRef cannot change once an upload was attempted (status.uploadIntent, status.activityID or status.uploadRefusal is set): the attempt counted against that account; create a new ProfileImport instead",fieldPath=".spec.accountRef"
// +kubebuilder:resource:shortName=pi,categories=localytics
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Activity",type=string,JSONPath=`.status.activityID`
// +kubebuilder:printcolumn:name="Rows OK",type=integer,JSONPath=`.status.statistics.successful`
// +kubebuilder:printcolumn:name="Rows Failed",type=integer,JSONPath=`.status.statistics.failed`
// +kubebuilder:printcolumn:name="Upload",type=string,JSONPath=`.status.sharedUpload.carrier`,description="The import whose upload this one shared, if it shared one"
// +kubebuilder:printcolumn:name="Parts",type=string,JSONPath=`.status.parts.progress`,description="Parts done of parts total, for a file uploaded in parts"
// +kubebuilder:printcolumn:name="Next Slot",type=string,JSONPath=`.status.nextUploadSlot`,description="When the next upload slot opens (a time: a date column would show a future time as <invalid>)"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Queue",type=integer,JSONPath=`.status.queuePosition`,priority=1
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.spec.accountRef.name`,priority=1
// +kubebuilder:printcolumn:name="Format",type=string,JSONPath=`.spec.format`,priority=1
// +kubebuilder:printcolumn:name="Lines",type=integer,JSONPath=`.status.lines`,priority=1
// +kubebuilder:printcolumn:name="Digest",type=string,JSONPath=`.status.contentDigest`,priority=1
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type ProfileImport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec ProfileImportSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status ProfileImportStatus `json:"status,omitempty"`
}

// ProfileImportList is a list of ProfileImports.
//
// +kubebuilder:object:root=true
type ProfileImportList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProfileImport `json:"items"`
}
