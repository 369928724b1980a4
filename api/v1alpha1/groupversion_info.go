// Package v1alpha1 holds the API of localytics-operator: LocalyticsAccount,
// ProfileImport and AudienceList in the group imports.localytics.dev.
//
// +kubebuilder:object:generate=true
// +groupName=imports.localytics.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "imports.localytics.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	// It is apimachinery's, so that importing the API pulls in no controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&LocalyticsAccount{}, &LocalyticsAccountList{},
		&ProfileImport{}, &ProfileImportList{},
		&AudienceList{}, &AudienceListList{},
		&UploadLedger{}, &UploadLedgerList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
