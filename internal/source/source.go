package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// File is one opened import file. Close it when done.
type File struct {
	io.ReadCloser
	// Size is the exact length of the file in bytes, or -1 when unknown
	// before it is read.
	Size int64
	// Revision identifies the version of the source that was read (a
	// ConfigMap's resourceVersion): two opens with the same Revision read the
	// same bytes.
	Revision string
	// Description names the source for people, e.g. `ConfigMap "x" key "y"`.
	Description string
}

// NotFoundError says that the object or the key a source names does not
// exist. Its message names both, for a condition a person reads.
type NotFoundError struct {
	// Kind is the kind of object, e.g. "ConfigMap".
	Kind string
	// Name is the object's name; Namespace its namespace.
	Namespace, Name string
	// Key is the missing key; empty when the object itself is missing.
	Key string
}

func (e *NotFoundError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s %q not found in namespace %q", e.Kind, e.Name, e.Namespace)
	}
	return fmt.Sprintf("%s %q has no key %q in data or binaryData", e.Kind, e.Name, e.Key)
}

// UnsupportedError says that a kind of source is not implemented yet.
type UnsupportedError struct {
	// Kind is the spec field of the source, e.g. "objectStore".
	Kind string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("spec.source.%s is not supported yet; use spec.source.configMapRef", e.Kind)
}

// IsNotFound reports whether err is a *NotFoundError and returns it.
func IsNotFound(err error) (*NotFoundError, bool) {
	var nf *NotFoundError
	ok := errors.As(err, &nf)
	return nf, ok
}

// IsUnsupported reports whether err is an *UnsupportedError and returns it.
func IsUnsupported(err error) (*UnsupportedError, bool) {
	var u *UnsupportedError
	ok := errors.As(err, &u)
	return u, ok
}

// Open opens the file src names, in namespace. reader should be uncached
// (see the package comment). Errors other than *NotFoundError and
// *UnsupportedError come from the API server and are worth retrying.
func Open(ctx context.Context, reader client.Reader, namespace string, src importsv1alpha1.Source) (*File, error) {
	switch {
	case src.ConfigMapRef != nil:
		return openConfigMapKey(ctx, reader, namespace, *src.ConfigMapRef)
	case src.ObjectStore != nil:
		return nil, &UnsupportedError{Kind: "objectStore"}
	default:
		// The CRD requires exactly one kind of source.
		return nil, &UnsupportedError{Kind: "(none)"}
	}
}

func openConfigMapKey(ctx context.Context, reader client.Reader, namespace string, ref importsv1alpha1.ConfigMapKeyReference) (*File, error) {
	var cm corev1.ConfigMap
	if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &NotFoundError{Kind: "ConfigMap", Namespace: namespace, Name: ref.Name}
		}
		return nil, fmt.Errorf("reading ConfigMap %q: %w", ref.Name, err)
	}
	f := &File{Revision: cm.ResourceVersion, Description: fmt.Sprintf("ConfigMap %q key %q", ref.Name, ref.Key)}
	// The API server refuses a key present in both data and binaryData.
	if s, ok := cm.Data[ref.Key]; ok {
		f.ReadCloser, f.Size = io.NopCloser(strings.NewReader(s)), int64(len(s))
		return f, nil
	}
	if b, ok := cm.BinaryData[ref.Key]; ok {
		f.ReadCloser, f.Size = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		return f, nil
	}
	return nil, &NotFoundError{Kind: "ConfigMap", Namespace: namespace, Name: ref.Name, Key: ref.Key}
}
