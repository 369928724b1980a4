package controllers

// The permissions of the manager, generated into config/rbac/role.yaml, and
// no more than the controllers use (rbac_test.go holds the generated role to
// this list):
//
//   - The three kinds are read and watched. Only the metadata of
//     ProfileImports (the retry annotation, removed once honoured) and of
//     AudienceLists (their finalizer) is written, with patches; an account's
//     metadata never is.
//   - Status is written with merge patches; the upload ledger is written
//     with an update of the account's status, whose resourceVersion
//     serialises the replicas that reserve slots.
//   - Only AudienceLists have a finalizer.
//   - ConfigMaps and Secrets are only read: they hold import files and
//     credentials.
//   - Events are recorded (events.k8s.io, or the core group where the
//     recorder falls back to it).
//
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=localyticsaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=profileimports;audiencelists,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=localyticsaccounts/status,verbs=update;patch
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=profileimports/status;audiencelists/status,verbs=patch
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=audiencelists/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
