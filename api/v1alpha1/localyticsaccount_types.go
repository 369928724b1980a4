package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// DefaultEndpoint is the base URL of the Localytics API.
const DefaultEndpoint = "https://api.localytics.com"

// Bounds of an account's spec and status. Each is the one home of its value:
// the markers below repeat it, and the API's tests check that the generated
// CRD agrees.
const (
	// MaxProfileUploadsPerWindow is the largest spec.limits.profileUploads.count.
	// The upload ledger in the status holds one entry per upload of the
	// window, so it bounds the ledger (status.uploadLedger has at most as
	// many entries) and with it the size of the object every reservation
	// rewrites. The vendor's published budget is 10 an hour: 100 leaves room
	// for an account with a larger one.
	MaxProfileUploadsPerWindow = 100

	// MaxRateLimitCount is the largest count of any budget. The client keeps
	// the time of every call of the window in memory, per API key and
	// budget: 10000 is at most a few hundred KB per key, and over a hundred
	// times the vendor's budgets (60 a minute).
	MaxRateLimitCount = 10000

	// MaxAudienceListApps is the most apps status.audienceLists shows; the
	// account controller shows the first ones, in the order of their ids,
	// when an account's AudienceLists use more.
	MaxAudienceListApps = 256
)

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
	// gathering says how long an upload waits for more imports to share it:
	// a directory of ProfileImports applied at once arrives over seconds,
	// and an upload sent at the first would leave the rest for the next
	// slot. Defaults to a quiet period of 10s bounded by 1m.
	// +optional
	// +kubebuilder:default={}
	Gathering Gathering `json:"gathering,omitempty"`
}

// Gathering bounds the wait of an upload for more imports of its scope.
type Gathering struct {
	// quietPeriod is how long no new ProfileImport of the scope must have
	// arrived before an upload is sent; 0s sends at once. Defaults to 10s.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('1h')",message="quietPeriod may be at most 1h"
	QuietPeriod *metav1.Duration `json:"quietPeriod,omitempty"`
	// maxWait bounds the wait, counted from the creation of the upload's
	// first import, however many keep arriving. Defaults to 1m.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('1h')",message="maxWait may be at most 1h"
	MaxWait *metav1.Duration `json:"maxWait,omitempty"`
}

// AccountLimits are the budgets of one API key.
type AccountLimits struct {
	// profileUploads is the budget of profile uploads. Defaults to 10 per 1h;
	// the count is at most 100 (status.uploadLedger holds one entry per
	// upload of the window).
	// +optional
	// +kubebuilder:default={count: 10, window: "1h"}
	// +kubebuilder:validation:XValidation:rule="self.count <= 100",message="profileUploads.count may be at most 100: the account's status holds one ledger entry per upload of the window"
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
	// maxUploadBytes is the largest body one profile upload may carry.
	// Imports packed into one upload stay under it. Defaults to
	// 100000000, Localytics' limit.
	// +optional
	// +kubebuilder:default=100000000
	// +kubebuilder:validation:Minimum=1024
	MaxUploadBytes int64 `json:"maxUploadBytes,omitempty"`
}

// RateLimit allows count calls in any sliding window of the given length.
type RateLimit struct {
	// count is how many calls the window allows; at least 1, at most 10000.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
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

	// profileImport is the namespace/name of the ProfileImport that took the
	// slot: at most 63 + 1 + 253 characters.
	// +required
	// +kubebuilder:validation:MaxLength=317
	ProfileImport string `json:"profileImport"`

	// uid is the UID of the ProfileImport that took the slot, so that an
	// import deleted and recreated under the same name takes a slot of its
	// own. Entries written before it existed lack it, and match the
	// ProfileImport by name alone.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=128
	UID types.UID `json:"uid,omitempty"`

	// contentDigest is the sha256 digest of the file the slot was taken for.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	ContentDigest string `json:"contentDigest,omitempty"`

	// attempt counts the uploads of the file made after one of unknown
	// outcome: 0 for the first upload, 1 for its first retry, and so on.
	// Each attempt takes a slot of its own, since the vendor counts every
	// upload that reached it. Defaults to 0; never negative.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempt int32 `json:"attempt,omitempty"`

	// part is the part of the file the slot was taken for, from 0, for a
	// file uploaded in parts: each part takes a slot of its own.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Part int32 `json:"part,omitempty"`
}

// AppAudienceLists counts the audience lists of one app.
type AppAudienceLists struct {
	// appID is the Localytics app.
	// +required
	// +kubebuilder:validation:MaxLength=128
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

	// uploadLedger shows the profile upload slots taken in the current
	// window by every account of the API key: a copy of the key's
	// UploadLedger (status.keyHash), which every replica and shard reserves
	// from through the API server's optimistic concurrency.
	// At most 100 entries: no more than the largest upload budget allows.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	UploadLedger []UploadReservation `json:"uploadLedger,omitempty"`

	// keyHash names the UploadLedger of the account's API key (a keyed
	// hash of the key, never the key): every account of the key reserves
	// from it. Set once the credentials were verified; until it is, the
	// entries of uploadLedger are the account's own, from before ledgers
	// were kept per key, and are carried into the key's ledger.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	KeyHash string `json:"keyHash,omitempty"`
	// uploadsLeft is how many profile uploads the current window still allows.
	// +optional
	UploadsLeft *int32 `json:"uploadsLeft,omitempty"`

	// nextUploadSlot is when the next profile upload slot opens, set while
	// none is left.
	// +optional
	NextUploadSlot *metav1.Time `json:"nextUploadSlot,omitempty"`

	// audienceLists counts the audience lists in use per app, for at most
	// 256 apps (the first, in the order of their ids).
	// +optional
	// +listType=map
	// +listMapKey=appID
	// +kubebuilder:validation:MaxItems=256
	AudienceLists []AppAudienceLists `json:"audienceLists,omitempty"`
}

// LocalyticsAccount is one set of Localytics credentials and its budgets.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lya,categories=localytics
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Uploads Left",type=integer,JSONPath=`.status.uploadsLeft`
// +kubebuilder:printcolumn:name="Next Slot",type=string,JSONPath=`.status.nextUploadSlot`,description="When the next upload slot opens (a time: a date column would show a future time as <invalid>)"
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
