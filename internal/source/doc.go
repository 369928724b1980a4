// Package source opens the file of an import as its spec.source names it: a
// key of a ConfigMap (data or binaryData), or an object in an object store
// through gocloud.dev's blob API: s3:// URLs for AWS and any S3-compatible
// store (s3.go), gs:// for Google Cloud Storage (gcs.go), azblob:// for Azure
// Blob Storage (azure.go). Objects are read with the credentials of a Secret
// or, where Options allow, the operator's own.
//
// Open returns a fresh stream each time it is called, because the operator
// reads a file twice (once to validate it, once to upload it) and never
// holds it whole; File.Revision tells whether the two reads see the same
// bytes (a ConfigMap's resourceVersion, an object's ETag or generation).
// ConfigMaps, and the Secrets of object stores, are read through an uncached
// reader (a manager's GetAPIReader): clusters hold tens of thousands of them
// and the operator needs a few, so the manager does not cache them.
//
// Where credentials may go is the operator's choice, not the import's: an
// s3:// URL's endpoint, and an azblob:// URL's protocol and domain (or those
// of an Azure connection string), must be among Options.AllowedEndpoints
// (none by default: the providers' own services only), checked before any
// request is made; a gs:// URL takes no parameter, and a Google credential
// is taken only if it is a service account key for Google's own token
// endpoint. The Secret must be one Options.SecretPolicy lets the operator
// use (package secrets).
//
// Failures a person must fix are typed: a missing ConfigMap, key, Secret,
// bucket, container or object is a *NotFoundError naming it, a URL or a
// Secret that cannot work an *InvalidError, an endpoint outside the
// allowlist an *EndpointNotAllowedError, a Secret the policy refuses a
// *secrets.NotLabelledError, refused credentials an *AccessDeniedError, a
// URL of an unknown scheme an *UnsupportedError. A store that cannot be
// reached, or fails, is an *UnavailableError, worth retrying.
package source
