package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// DefaultEndpoint is the base URL of the Localytics API.
const DefaultEndpoint = "https://api.localytics.com"

// LocalyticsAccountSpec holds one set of Localytics credentials and the budgets
// that come with them.
type LocalyticsAccountSpec struct {
	// secretRef names a Secret in the same namespace with the keys api-key and
	// api-secret: the organisation's API key and secret.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`

	// endpoint is the base URL of the Localytics API. Defaults to
	// https://api.localytics.com; point it at a simulator to rehearse imports.
	// +optional
	// +kubebuilder:default="https://api.localytics.com"
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="endpoint must be an http:// or https:// URL, such as https://api.localytics.com"
	Endpoint string `json:"endpoint,omitempty"`

	// limits are the budgets of this API key. The defaults are Localytics'
	// published limits; override them when an account has other limits, or to
	// compress time against a simulator.
	// +optional
	// +kubebuilder:default={}
	Limits AccountLimits `json:"limits,omitempty"`
}

// AccountLimits are the budgets of one API key.
type AccountLimits struct {
	// profileUploads is the budget of profile uploads. Defaults to 10 per 1h.
	// +optional
	// +kubebuilder:default={count: 10, window: "1h"}
	ProfileUploads *RateLimit `json:"profileUploads,omitempty"`

	// profileStatus is the budget of profile import status requests. Defaults
	// to 60 per 1m.
	// +optional
	// +kubebuilder:default={count: 60, window: "1m"}
	ProfileStatus *RateLimit `json:"profileStatus,omitempty"`

	// audienceCalls is the budget shared by every audience list call. Defaults
	// to 60 per 1m.
	// +optional
	// +kubebuilder:default={count: 60, window: "1m"}
	AudienceCalls *RateLimit `json:"audienceCalls,omitempty"`

	// audienceListsPerApp is the most audience lists one app may hold. Defaults
	// to 500; the operator refuses to create one more before calling the API.
	// +optional
	// +kubebuilder:default=500
	// +kubebuilder:validation:Minimum=1
	AudienceListsPerApp int32 `json:"audienceListsPerApp,omitempty"`
}

// RateLimit allows count calls in any sliding window of the given length.
type RateLimit struct {
	// count is how many calls the window allows; at least 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	Count int32 `json:"count"`

	// window is the length of the sliding window, a Go duration such as 1h or 30s.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="window must be a positive duration, such as 1h"
	Window metav1.Duration `json:"window"`
}

// UploadReservation is one profile upload slot taken in an account's budget.
type UploadReservation struct {
	// time the slot was taken. The slot is free again one window later.
	// +required
	Time metav1.MicroTime `json:"time"`

	// profileImport is the namespace/name of the ProfileImport that took the slot.
	// +required
	ProfileImport string `json:"profileImport"`

	// uid is the UID of the ProfileImport that took the slot, so that an
	// import deleted and recreated under the same name takes a slot of its
	// own. Entries written before it existed lack it, and match the
	// ProfileImport by name alone.
	// +optional
	UID types.UID `json:"uid,omitempty"`

	// contentDigest is the sha256 digest of the file the slot was taken for.
	// +optional
	ContentDigest string `json:"contentDigest,omitempty"`

	// attempt counts the uploads of the file made after one of unknown
	// outcome: 0 for the first upload, 1 for its first retry, and so on.
	// Each attempt takes a slot of its own, since the vendor counts every
	// upload that reached it. Defaults to 0; never negative.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempt int32 `json:"attempt,omitempty"`
}

// AppAudienceLists counts the audience lists of one app.
type AppAudienceLists struct {
	// appID is the Localytics app.
	// +required
	AppID string `json:"appID"`

	// count is how many audience lists the app holds.
	// +required
	Count int32 `json:"count"`
}

// LocalyticsAccountStatus is the observed state of a LocalyticsAccount.
type LocalyticsAccountStatus struct {
	// observedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready (the credentials were verified), Reconciling and
	// Stalled (for instance: the Secret or one of its keys is missing, or the
	// credentials were refused).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// uploadLedger holds the profile upload slots taken in the current window.
	// It lives in the status so that every replica and shard reserves from the
	// same budget through the API server's optimistic concurrency, and a
	// restart forgets nothing.
	// +optional
	// +listType=atomic
	UploadLedger []UploadReservation `json:"uploadLedger,omitempty"`

	// uploadsLeft is how many profile uploads the current window still allows.
	// +optional
	UploadsLeft *int32 `json:"uploadsLeft,omitempty"`

	// nextUploadSlot is when the next profile upload slot opens, set while
	// none is left.
	// +optional
	NextUploadSlot *metav1.Time `json:"nextUploadSlot,omitempty"`

	// audienceLists counts the audience lists in use per app.
	// +optional
	// +listType=map
	// +listMapKey=appID
	AudienceLists []AppAudienceLists `json:"audienceLists,omitempty"`
}

// LocalyticsAccount is one set of Localytics credentials and its budgets.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lya,categories=localytics
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Uploads Left",type=integer,JSONPath=`.status.uploadsLeft`
// +kubebuilder:printcolumn:name="Next Slot",type=date,JSONPath=`.status.nextUploadSlot`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.spec.endpoint`,priority=1
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type LocalyticsAccount struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec LocalyticsAccountSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status LocalyticsAccountStatus `json:"status,omitempty"`
}

// LocalyticsAccountList is a list of LocalyticsAccounts.
//
// +kubebuilder:object:root=true
type LocalyticsAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LocalyticsAccount `json:"items"`
}
