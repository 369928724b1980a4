package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// Field indexes on the kinds that read a source with an account's
// credentials, to find the objects of a ConfigMap, a Secret or an account
// that changed. Each kind has indexes of its own under these names.
const (
	sourceConfigMapIndex = ".spec.source.configMapRef.name"
	sourceSecretIndex    = ".spec.source.objectStore.secretRef.name"
	accountRefIndex      = ".spec.accountRef.name"
)

// indexReferences registers the three indexes for a kind; refs returns an
// object's source and the name of its account.
func indexReferences(ctx context.Context, indexer client.FieldIndexer, obj client.Object,
	refs func(client.Object) (importsv1alpha1.Source, string)) error {
	indexes := map[string]func(client.Object) []string{
		sourceConfigMapIndex: func(o client.Object) []string {
			if src, _ := refs(o); src.ConfigMapRef != nil {
				return []string{src.ConfigMapRef.Name}
			}
			return nil
		},
		sourceSecretIndex: func(o client.Object) []string {
			if src, _ := refs(o); src.ObjectStore != nil && src.ObjectStore.SecretRef != nil {
				return []string{src.ObjectStore.SecretRef.Name}
			}
			return nil
		},
		accountRefIndex: func(o client.Object) []string {
			_, account := refs(o)
			return []string{account}
		},
	}
	for field, extract := range indexes {
		if err := indexer.IndexField(ctx, obj, field, extract); err != nil {
			return err
		}
	}
	return nil
}
