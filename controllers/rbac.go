package controllers

// The permissions of the manager, generated into config/rbac/role.yaml, and
// no more than the controllers use (rbac_test.go holds the generated role to
// this list):
//
//   - The three kinds are read and watched. Only the metadata of
//     ProfileImports (the retry annotation, removed once honoured) and of
//     AudienceLists (their finalizer) is written, with patches; an account's
//     metadata never is.
//   - Status is written with merge patches. The upload ledger of an API
//     key is an UploadLedger (cluster-scoped, named after a hash of the
//     key), created at the key's first upload and written with updates of
//     its status, whose resourceVersion serialises the replicas and shards
//     that reserve slots; it is never deleted by the operator.
//   - Only AudienceLists have a finalizer.
//   - ConfigMaps and Secrets are only read: they hold import files and
//     credentials.
//   - Events are recorded (events.k8s.io, or the core group where the
//     recorder falls back to it).
//
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=localyticsaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=profileimports;audiencelists,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=localyticsaccounts/status,verbs=patch
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=profileimports/status;audiencelists/status,verbs=patch
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=audiencelists/finalizers,verbs=update
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=uploadledgers,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=uploadledgers/status,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
