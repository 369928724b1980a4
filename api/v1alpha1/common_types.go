package v1alpha1

// Condition types shared by every kind. They follow kstatus
// (sigs.k8s.io/cli-utils/pkg/kstatus), so Flux, Argo CD and
// `kubectl wait --for=condition=Ready` understand them:
//   - Ready: True when the object is in the state its spec asks for.
//   - Reconciling: True while the operator is working towards it.
//   - Stalled: True when only a person can move the object on (bad
//     credentials, an invalid file, a missing Secret); the message says what to fix.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
)

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// Source says where an import file comes from. Exactly one kind of source is set.
// +kubebuilder:validation:XValidation:rule="(has(self.configMapRef) ? 1 : 0) + (has(self.objectStore) ? 1 : 0) == 1",message="exactly one of configMapRef or objectStore must be set"
type Source struct {
	// configMapRef reads the file from a key of a ConfigMap in the same namespace,
	// from data or binaryData. ConfigMaps hold at most 1 MiB; use objectStore for
	// larger files. Excludes objectStore.
	// +optional
	ConfigMapRef *ConfigMapKeyReference `json:"configMapRef,omitempty"`

	// objectStore streams the file from an object store. Excludes configMapRef.
	// +optional
	ObjectStore *ObjectStoreSource `json:"objectStore,omitempty"`
}

// ConfigMapKeyReference names one key of a ConfigMap in the same namespace.
type ConfigMapKeyReference struct {
	// name of the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the ConfigMap's data or binaryData that holds the file.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// ObjectStoreSource names one object in an object store.
type ObjectStoreSource struct {
	// url of the object: s3://bucket/key?endpoint=...&region=... for AWS S3 or
	// any S3-compatible store, gs://bucket/object for Google Cloud Storage,
	// azblob://container/blob?account=... for Azure Blob Storage. The file is
	// streamed, never held whole in memory.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['s3', 'gs', 'azblob']",message="url must be an s3://, gs:// or azblob:// URL, such as s3://bucket/path/file.json"
	URL string `json:"url"`

	// secretRef names a Secret in the same namespace with the store's
	// credentials: for S3, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
	// AWS_SESSION_TOKEN for temporary ones); for GCS,
	// GOOGLE_APPLICATION_CREDENTIALS_JSON (a service account key); for Azure,
	// AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN,
	// or AZURE_STORAGE_CONNECTION_STRING. When omitted, the operator's own
	// credentials are used, for the provider's own service only (no endpoint
	// or domain) and only if the operator runs with
	// --object-store-ambient-credentials.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}
