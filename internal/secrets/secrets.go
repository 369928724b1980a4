// Package secrets is the one home of the rule that says which Secrets the
// operator may use. It uses Secrets of the namespace of the object that names
// them: whoever may create a LocalyticsAccount, a ProfileImport or an
// AudienceList in a namespace may have the operator use that namespace's
// Secrets. A cluster admin who wants less starts the operator with
// --require-secret-label: then only Secrets labelled LabelUse: "true" are
// used, so that a namespace's owners choose, Secret by Secret, which ones
// the operator may read (as users of External Secrets or Flux know).
package secrets

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LabelUse is the label that lets the operator use a Secret when Policy
// requires it; its value must be LabelUseValue.
const (
	LabelUse      = "imports.localytics.dev/use"
	LabelUseValue = "true"
)

// Policy says which Secrets of a namespace the operator may use. The zero
// value uses any Secret an object names.
type Policy struct {
	// RequireLabel uses only Secrets labelled LabelUse: "true" (the
	// manager's flag --require-secret-label).
	RequireLabel bool
}

// NotLabelledError says that a Secret lacks the label the policy requires.
// Its message says which label to add.
type NotLabelledError struct {
	Namespace, Name string
}

func (e *NotLabelledError) Error() string {
	return fmt.Sprintf(`Secret %q lacks the label %s: %q, which this operator requires (its flag --require-secret-label) of the Secrets it uses; `+
		`label it to let the operator use it: kubectl label secret -n %s %s %s=%s`,
		e.Name, LabelUse, LabelUseValue, e.Namespace, e.Name, LabelUse, LabelUseValue)
}

// IsNotLabelled reports whether err is a *NotLabelledError and returns it.
func IsNotLabelled(err error) (*NotLabelledError, bool) {
	return errors.AsType[*NotLabelledError](err)
}

// Allows tells whether the policy lets the operator use secret.
func (p Policy) Allows(secret *corev1.Secret) bool {
	return !p.RequireLabel || secret.Labels[LabelUse] == LabelUseValue
}

// Get reads the Secret name of namespace through reader, which should be
// uncached (the operator does not cache Secrets), and returns it if the
// policy lets the operator use it; otherwise a *NotLabelledError. Errors of
// the reader, a missing Secret's NotFound among them, are returned as they
// are.
func (p Policy) Get(ctx context.Context, reader client.Reader, namespace, name string) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret); err != nil {
		return nil, err
	}
	if !p.Allows(secret) {
		return nil, &NotLabelledError{Namespace: namespace, Name: name}
	}
	return secret, nil
}
