package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UploadLedgerNamePrefix starts the name of every UploadLedger: "key-" and
// the hex of a keyed hash of the API key (see internal/ledger.NameOf).
const UploadLedgerNamePrefix = "key-"

// UploadLedgerStatus holds the profile upload slots of one API key.
type UploadLedgerStatus struct {
	// entries are the profile upload slots taken in the current window by
	// every LocalyticsAccount of the key, in every namespace; at most 100
	// (no more than the largest upload budget allows).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Entries []UploadReservation `json:"entries,omitempty"`
	// retention is how long an entry is kept: the longest window (and its
	// margin) any account of the key reserved with, so that an account
	// that declares a shorter window never frees the slots of one that
	// declares a longer.
	// +optional
	// +kubebuilder:validation:Type=string
	Retention *metav1.Duration `json:"retention,omitempty"`
	// uploadsLeft is how many profile uploads the current window still
	// allows, counted with the limits of the account that last reserved.
	// +optional
	UploadsLeft *int32 `json:"uploadsLeft,omitempty"`
	// nextUploadSlot is when the next profile upload slot opens, set while
	// none is left.
	// +optional
	NextUploadSlot *metav1.Time `json:"nextUploadSlot,omitempty"`
}

// UploadLedger is the profile upload budget of one Localytics API key,
// which every LocalyticsAccount using the key reserves from, whatever its
// namespace, so that they never spend more than the key's budget between
// them. The operator creates one at a key's first upload and names it after
// a keyed hash of the key: the key itself is never stored. It holds no
// credentials and nothing to edit.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=localytics
// +kubebuilder:printcolumn:name="Uploads Left",type=integer,JSONPath=`.status.uploadsLeft`
// +kubebuilder:printcolumn:name="Next Slot",type=string,JSONPath=`.status.nextUploadSlot`,description="When the next upload slot opens"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type UploadLedger struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// status is the ledger.
	// +optional
	Status UploadLedgerStatus `json:"status,omitempty"`
}

// UploadLedgerList is a list of UploadLedgers.
//
// +kubebuilder:object:root=true
type UploadLedgerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UploadLedger `json:"items"`
}
