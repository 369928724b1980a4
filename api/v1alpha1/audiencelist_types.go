package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AudienceListFinalizer holds an AudienceList until its list is deleted in
// Localytics (or left there, with deletionPolicy Orphan).
const AudienceListFinalizer = "imports.localytics.dev/audience-list"

// DefaultAudienceListsPerApp is the most audience lists one app may hold, as
// Localytics documents it.
const DefaultAudienceListsPerApp = 500

// AudienceSourceFormat is the format of an audience list file.
// +kubebuilder:validation:Enum=jsonl;lines
type AudienceSourceFormat string

const (
	// AudienceFormatJSONL is the vendor format: one {"customer_id": "..."} object per line.
	AudienceFormatJSONL AudienceSourceFormat = "jsonl"
	// AudienceFormatLines is one customer id per line, converted to JSON Lines while streaming.
	AudienceFormatLines AudienceSourceFormat = "lines"
)

// DeletionPolicy says what happens to the remote list when the AudienceList is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the list in Localytics.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the list in Localytics.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// AudienceListSpec is one named audience list, kept in sync with its source.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.audienceListID) || (has(self.audienceListID) && self.audienceListID == oldSelf.audienceListID)",message="audienceListID cannot change or be removed once set"
type AudienceListSpec struct {
	// accountRef names the LocalyticsAccount, in the same namespace, whose
	// credentials and budget the list uses.
	// +required
	AccountRef LocalObjectReference `json:"accountRef"`

	// appID is the Localytics app the list belongs to. Cannot change once set.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="appID cannot change once set; create a new AudienceList instead"
	AppID string `json:"appID"`

	// audienceName is the list's name in Localytics, 1 to 255 characters.
	// Changing it renames the list.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.trim() != ''",message="audienceName must not be blank"
	AudienceName string `json:"audienceName"`

	// source of the list's customer ids. When its content changes, the whole
	// list is replaced.
	// +required
	Source Source `json:"source"`

	// sourceFormat is jsonl (the vendor format, the default) or lines (one
	// customer id per line, converted while streaming).
	// +optional
	// +kubebuilder:default=jsonl
	SourceFormat AudienceSourceFormat `json:"sourceFormat,omitempty"`

	// deletionPolicy is Delete (the default: deleting the AudienceList deletes
	// the list in Localytics) or Orphan (the list stays in Localytics).
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// audienceListID adopts an existing Localytics list instead of creating
	// one. Cannot change or be removed once set.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	AudienceListID string `json:"audienceListID,omitempty"`
}

// AudienceListStatistics are the counts Localytics reports for a list upload.
type AudienceListStatistics struct {
	// totalLines is the number of lines in the file.
	// +optional
	TotalLines int64 `json:"totalLines"`
	// successfulLines is the number of customer ids added.
	// +optional
	SuccessfulLines int64 `json:"successfulLines"`
	// failedLines is the number of lines that failed.
	// +optional
	FailedLines int64 `json:"failedLines"`
}

// AudienceListOperation is one kind of remote write of an AudienceList.
// +kubebuilder:validation:Enum=Create;Replace;Rename;Delete
type AudienceListOperation string

const (
	// OperationCreate creates the list (A1).
	OperationCreate AudienceListOperation = "Create"
	// OperationReplace replaces the list's whole content (A3).
	OperationReplace AudienceListOperation = "Replace"
	// OperationRename renames the list (A4).
	OperationRename AudienceListOperation = "Rename"
)

// AudienceListIntent is a remote write, recorded before it is made so that an
// operator that stops between making it and hearing back knows that its
// outcome is unknown, and never makes it twice without deciding so.
type AudienceListIntent struct {
	// operation is the write: Create, Replace or Rename.
	// +required
	Operation AudienceListOperation `json:"operation"`

	// contentDigest is the digest of the file sent by a Create or Replace.
	// +optional
	ContentDigest string `json:"contentDigest,omitempty"`

	// name is the audience name a Create or Rename sends.
	// +optional
	Name string `json:"name,omitempty"`

	// startedAt is when the write was decided.
	// +required
	StartedAt metav1.Time `json:"startedAt"`

	// activityID is the Localytics job of a Create or Replace, once the call
	// answered; empty while the outcome of the call is unknown. Bounded as
	// ProfileImport's status.activityID.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	ActivityID string `json:"activityID,omitempty"`
}

// AudienceListStatus is the observed state of an AudienceList.
type AudienceListStatus struct {
	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready (the remote list matches the spec), Reconciling
	// and Stalled (only a person can move the list on; the message says how).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// audienceListID is the id of the list in Localytics, at most 128
	// characters as spec.audienceListID (localytics.MaxAudienceListIDLength;
	// the client refuses a longer one).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	AudienceListID string `json:"audienceListID,omitempty"`

	// remoteName is the list's name as Localytics last reported it (or as
	// the operator last set it).
	// +optional
	RemoteName string `json:"remoteName,omitempty"`

	// remoteVersion is the list's version as Localytics last reported it.
	// +optional
	RemoteVersion int64 `json:"remoteVersion,omitempty"`

	// recordCount is the number of customer ids in the list, as Localytics
	// last reported it (or as the last upload counted them).
	// +optional
	RecordCount int64 `json:"recordCount,omitempty"`

	// contentDigest is the sha256 digest of the source last uploaded to the
	// list.
	// +optional
	ContentDigest string `json:"contentDigest,omitempty"`

	// sourceDigest is the sha256 digest of the source at sourceRevision, as
	// last validated.
	// +optional
	SourceDigest string `json:"sourceDigest,omitempty"`

	// sourceRevision is the revision of the source that sourceDigest and
	// validation describe (a ConfigMap's resourceVersion, an object's ETag):
	// a source still at this revision is not read again.
	// +optional
	SourceRevision string `json:"sourceRevision,omitempty"`

	// lines is the number of customer ids in the source, duplicates
	// included, blank lines excluded.
	// +optional
	Lines int64 `json:"lines,omitempty"`

	// bytes is the size of the source.
	// +optional
	Bytes int64 `json:"bytes,omitempty"`

	// validation sums up the validation of the source.
	// +optional
	Validation *ValidationSummary `json:"validation,omitempty"`

	// intent is the remote write in progress, recorded before it is made.
	// +optional
	Intent *AudienceListIntent `json:"intent,omitempty"`

	// lastActivityID is the Localytics job id of the last upload. Bounded as
	// ProfileImport's status.activityID.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	LastActivityID string `json:"lastActivityID,omitempty"`

	// failedDigest is the digest of a source whose upload job failed: it is
	// not uploaded again until the source changes.
	// +optional
	FailedDigest string `json:"failedDigest,omitempty"`

	// statistics are the counts of the last upload.
	// +optional
	Statistics *AudienceListStatistics `json:"statistics,omitempty"`

	// lastDriftCheck is when the list was last compared with what Localytics
	// holds (one list-by-app call shared by every list of the app).
	// +optional
	LastDriftCheck *metav1.Time `json:"lastDriftCheck,omitempty"`
}

// AudienceList is one named Localytics audience list, kept in sync with its source.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=al,categories=localytics
// +kubebuilder:printcolumn:name="Audience",type=string,JSONPath=`.spec.audienceName`
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.appID`
// +kubebuilder:printcolumn:name="List ID",type=string,JSONPath=`.status.audienceListID`
// +kubebuilder:printcolumn:name="Records",type=integer,JSONPath=`.status.recordCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Version",type=integer,JSONPath=`.status.remoteVersion`,priority=1
// +kubebuilder:printcolumn:name="Activity",type=string,JSONPath=`.status.lastActivityID`,priority=1
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type AudienceList struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec AudienceListSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status AudienceListStatus `json:"status,omitempty"`
}

// AudienceListList is a list of AudienceLists.
//
// +kubebuilder:object:root=true
type AudienceListList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AudienceList `json:"items"`
}
