package controllers

// The permissions of the manager, generated into config/rbac/role.yaml.
// ConfigMaps and Secrets are only read: they hold import files and credentials.
//
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=localyticsaccounts;profileimports;audiencelists,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=localyticsaccounts/status;profileimports/status;audiencelists/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=imports.localytics.dev,resources=profileimports/finalizers;audiencelists/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets;configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
