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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/endpoints"
	"github.com/localytics-operator/localytics-operator/internal/secrets"
)

// File is one opened import file. Close it when done.
type File struct {
	io.ReadCloser
	// Size is the length of the file in bytes, or -1 when unknown before it
	// is read. For an object it is what the store says, which a broken or
	// hostile store may say wrong: a reader that must not read more than so
	// many bytes limits the stream itself.
	Size int64
	// Revision identifies the version of the source that was read (a
	// ConfigMap's resourceVersion): two opens with the same Revision read the
	// same bytes.
	Revision string
	// Description names the source for people, e.g. `ConfigMap "x" key "y"`.
	Description string
}

// Kinds of what a NotFoundError names.
const (
	KindConfigMap = "ConfigMap"
	KindSecret    = "Secret"
	// KindObject is an object in an object store, outside Kubernetes.
	KindObject = "object"
)

// NotFoundError says that the object or the key a source names does not
// exist. Its message names both, for a condition a person reads.
type NotFoundError struct {
	// Kind is the kind of object, e.g. "ConfigMap".
	Kind string
	// Name is the object's name (for KindObject, its URL without the
	// query); Namespace its namespace (empty for KindObject).
	Namespace, Name string
	// Key is the missing key; empty when the object itself is missing.
	Key string
}

func (e *NotFoundError) Error() string {
	switch {
	case e.Key != "" && e.Kind == KindConfigMap:
		return fmt.Sprintf("%s %q has no key %q in data or binaryData", e.Kind, e.Name, e.Key)
	case e.Key != "":
		return fmt.Sprintf("%s %q has no key %q", e.Kind, e.Name, e.Key)
	case e.Kind == KindObject:
		return fmt.Sprintf("%s %s not found", e.Kind, e.Name)
	}
	return fmt.Sprintf("%s %q not found in namespace %q", e.Kind, e.Name, e.Namespace)
}

// InvalidError says that a source's spec cannot work, in a way the CRD's
// validation does not catch.
type InvalidError struct {
	// Field is the spec field, e.g. "spec.source.objectStore.url".
	Field string
	// Message says what is wrong with it.
	Message string
}

func (e *InvalidError) Error() string { return e.Field + " " + e.Message }

// AccessDeniedError says that an object store refused the credentials, or
// their access to the object.
type AccessDeniedError struct {
	// Description names the object, e.g. "object s3://bucket/key".
	Description string
	// SecretName is the Secret the credentials came from; empty for the
	// operator's own.
	SecretName string
}

func (e *AccessDeniedError) Error() string {
	creds := "the operator's own credentials"
	if e.SecretName != "" {
		creds = fmt.Sprintf("the credentials in Secret %q", e.SecretName)
	}
	return fmt.Sprintf("the store refused access to %s with %s", e.Description, creds)
}

// UnavailableError says that a source could not be read for a reason that
// may pass: the store is unreachable, or answered with an error of its own.
// Err is the cause, for logs: it may hold addresses and request ids.
type UnavailableError struct {
	Description string
	Err         error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s could not be read: %v", e.Description, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// UnsupportedError says that a kind of source is not implemented yet.
type UnsupportedError struct {
	// Kind is the spec field of the source, e.g. "objectStore".
	Kind string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("spec.source.%s is not supported yet; use spec.source.configMapRef", e.Kind)
}

// EndpointNotAllowedError says that an object-store URL names an endpoint
// outside the operator's --allowed-object-store-endpoints. It is returned
// before the source's Secret is read and before any request is made: the
// Secret's credentials must not reach a store the cluster admin did not
// allow.
type EndpointNotAllowedError struct {
	// Endpoint is the endpoint's scheme and host, e.g.
	// "https://minio.example.com" (its path and query left out).
	Endpoint string
}

func (e *EndpointNotAllowedError) Error() string {
	return fmt.Sprintf("%s names the endpoint %s, which is not among the operator's --allowed-object-store-endpoints; "+
		"nothing was read or sent. Ask the cluster admin to allow it, or use an allowed store", urlField, e.Endpoint)
}

// IsEndpointNotAllowed reports whether err is an *EndpointNotAllowedError
// and returns it.
func IsEndpointNotAllowed(err error) (*EndpointNotAllowedError, bool) {
	return errors.AsType[*EndpointNotAllowedError](err)
}

// IsNotFound reports whether err is a *NotFoundError and returns it.
func IsNotFound(err error) (*NotFoundError, bool) {
	return errors.AsType[*NotFoundError](err)
}

// IsUnsupported reports whether err is an *UnsupportedError and returns it.
func IsUnsupported(err error) (*UnsupportedError, bool) {
	return errors.AsType[*UnsupportedError](err)
}

// IsInvalid reports whether err is an *InvalidError and returns it.
func IsInvalid(err error) (*InvalidError, bool) {
	return errors.AsType[*InvalidError](err)
}

// IsAccessDenied reports whether err is an *AccessDeniedError and returns it.
func IsAccessDenied(err error) (*AccessDeniedError, bool) {
	return errors.AsType[*AccessDeniedError](err)
}

// IsUnavailable reports whether err is an *UnavailableError and returns it.
func IsUnavailable(err error) (*UnavailableError, bool) {
	return errors.AsType[*UnavailableError](err)
}

// Options are the operator's settings for opening sources.
type Options struct {
	// AmbientCredentials lets an object-store source without a secretRef use
	// the operator's own credentials (its provider's default chain: AWS's,
	// Google's Application Default Credentials, Azure's), for the provider's
	// own service only: never with an endpoint or a domain of the source's
	// choosing. Off by default: with it, whoever may create an import may
	// read what the operator's identity can.
	AmbientCredentials bool
	// AllowedEndpoints are the base URLs an s3:// URL's endpoint parameter,
	// and an azblob:// URL's protocol://domain, may name (the manager's flag
	// --allowed-object-store-endpoints): the Secret of the source is sent
	// there, and the import's author chooses it. The zero value allows none,
	// so only the providers' own services are used.
	AllowedEndpoints endpoints.Allowlist
	// SecretPolicy says which Secrets may hold an object store's
	// credentials (the manager's flag --require-secret-label).
	SecretPolicy secrets.Policy
}

// Open opens the file src names, in namespace. reader should be uncached
// (see the package comment). *NotFoundError, *UnsupportedError,
// *InvalidError, *EndpointNotAllowedError, *AccessDeniedError and
// *secrets.NotLabelledError need a person; *UnavailableError and errors from
// the API server are worth retrying.
func Open(ctx context.Context, reader client.Reader, namespace string, src importsv1alpha1.Source, opts Options) (*File, error) {
	switch {
	case src.ConfigMapRef != nil:
		return openConfigMapKey(ctx, reader, namespace, *src.ConfigMapRef)
	case src.ObjectStore != nil:
		return openObject(ctx, reader, namespace, *src.ObjectStore, opts)
	default:
		// The CRD requires exactly one kind of source.
		return nil, &UnsupportedError{Kind: "(none)"}
	}
}

// Revision returns the revision of the file src names, as File.Revision
// would, without reading the file: a ConfigMap's metadata, an object's
// attributes. A file validated at this revision need not be read again
// before its upload. It fails as Open does, except that a missing key of
// a ConfigMap only shows when the file is opened.
func Revision(ctx context.Context, reader client.Reader, namespace string, src importsv1alpha1.Source, opts Options) (string, error) {
	switch {
	case src.ConfigMapRef != nil:
		var cm metav1.PartialObjectMetadata
		cm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(KindConfigMap))
		name := src.ConfigMapRef.Name
		if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &cm); err != nil {
			if apierrors.IsNotFound(err) {
				return "", &NotFoundError{Kind: KindConfigMap, Namespace: namespace, Name: name}
			}
			return "", fmt.Errorf("reading ConfigMap %q: %w", name, err)
		}
		return cm.ResourceVersion, nil
	case src.ObjectStore != nil:
		return objectRevision(ctx, reader, namespace, *src.ObjectStore, opts)
	}
	return "", &UnsupportedError{Kind: "(none)"}
}

func openConfigMapKey(ctx context.Context, reader client.Reader, namespace string, ref importsv1alpha1.ConfigMapKeyReference) (*File, error) {
	var cm corev1.ConfigMap
	if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &NotFoundError{Kind: KindConfigMap, Namespace: namespace, Name: ref.Name}
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
	return nil, &NotFoundError{Kind: KindConfigMap, Namespace: namespace, Name: ref.Name, Key: ref.Key}
}
