package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/secrets"
)

// Objects in stores outside Kubernetes, through gocloud.dev's blob API: what
// every store has in common is here, what differs is its driver (s3.go,
// gcs.go, azure.go).

// urlField is the spec field an object-store URL comes from, for messages.
const urlField = "spec.source.objectStore.url"

// secretRefField is the spec field of an object store's Secret.
const secretRefField = "spec.source.objectStore.secretRef"

// storeHeaderTimeout bounds the wait for a store's answer to begin once a
// request is sent. Reading a body ends with its caller's context (the
// validation pass, the upload).
const storeHeaderTimeout = time.Minute

// storeTransport is shared by the buckets of GCS and Azure, so that
// connections to a store are reused rather than made anew, with a TLS
// handshake, per file; a store that never answers holds a request a minute,
// not a worker for ever. (S3's is s3HTTPClient, the SDK's own kind.)
var storeTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = storeHeaderTimeout
	return t
}()

// objectLocation is what an object-store URL names.
type objectLocation struct {
	scheme, bucket, key string
	// S3: endpoint is the base URL of an S3-compatible store (empty for
	// AWS), region its region, pathStyle addresses buckets as
	// endpoint/bucket rather than bucket.endpoint.
	endpoint, region string
	pathStyle        bool
	// Azure: account is the storage account the URL names (?account=), if
	// any; domain, protocol and localEmulator reach another service than
	// Azure's public cloud (azure.go).
	account, domain, protocol string
	localEmulator             bool
}

// display is the URL without its query, to name the object to people.
func (l objectLocation) display() string {
	return l.scheme + "://" + l.bucket + "/" + l.key
}

// A driver is what one kind of store (one URL scheme) does its own way.
type driver struct {
	// params are the URL's query parameters it knows; parse reads them.
	params []string
	parse  func(*objectLocation, url.Values) error
	// endpoint is the base URL the URL sends requests (and so credentials)
	// to, when it is not the provider's own service: it must be among the
	// operator's allowed endpoints, and it needs a Secret.
	endpoint func(objectLocation) string
	// open opens the bucket with the credentials of secret, or the
	// operator's own if secret is nil. Typed errors are returned as they
	// are; any other is the store being unavailable.
	open func(ctx context.Context, loc objectLocation, secret *storeSecret, opts Options) (*blob.Bucket, error)
	// revision is the version of the object a reader reads, and of the
	// object attributes describe: two opens with the same revision read the
	// same bytes. Empty when the store says none.
	revision      func(*blob.Reader) string
	attrsRevision func(*blob.Attributes) string
	// size is the object's size as its store said it, -1 if it did not;
	// nil takes gocloud.dev's.
	size func(*blob.Reader) int64
	// classify returns the typed error of a failure gocloud.dev does not
	// map to its codes the way the operator needs, or nil.
	classify func(loc objectLocation, secretRef *importsv1alpha1.LocalObjectReference, err error) error
}

// drivers are the stores by URL scheme.
var drivers = map[string]driver{
	"s3":     s3Driver,
	"gs":     gcsDriver,
	"azblob": azureDriver,
}

// parseObjectURL reads an object-store URL: scheme://bucket/key?params. The
// CRD already checks that it is a URL with a known scheme.
func parseObjectURL(raw string) (objectLocation, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return objectLocation{}, &InvalidError{Field: urlField, Message: "is not a URL"}
	}
	if u.User != nil {
		return objectLocation{}, &InvalidError{Field: urlField,
			Message: "must not hold credentials; put them in the Secret named by spec.source.objectStore.secretRef"}
	}
	loc := objectLocation{scheme: u.Scheme, bucket: u.Host, key: strings.TrimPrefix(u.Path, "/")}
	if loc.bucket == "" || loc.key == "" || strings.HasSuffix(loc.key, "/") {
		return objectLocation{}, &InvalidError{Field: urlField,
			Message: fmt.Sprintf("must name a bucket and an object, as in %s://bucket/path/file.json", u.Scheme)}
	}
	d, ok := drivers[u.Scheme]
	if !ok {
		return loc, nil // refused by openObjectBucket, with a message of its own
	}
	q := u.Query()
	for name := range q {
		if !slices.Contains(d.params, name) {
			known := "none"
			if len(d.params) > 0 {
				known = strings.Join(d.params, ", ")
			}
			return objectLocation{}, &InvalidError{Field: urlField,
				Message: fmt.Sprintf("has an unknown parameter %q (known: %s)", name, known)}
		}
	}
	if d.parse == nil {
		return loc, nil
	}
	return loc, d.parse(&loc, q)
}

// openObject opens the object src names, with the credentials of its Secret
// (read through reader) or, without one and if opts allow it, the operator's
// own (its provider's default chain).
func openObject(ctx context.Context, reader client.Reader, namespace string, src importsv1alpha1.ObjectStoreSource, opts Options) (*File, error) {
	bucket, loc, d, err := openObjectBucket(ctx, reader, namespace, src, opts)
	if err != nil {
		return nil, err
	}
	r, err := bucket.NewReader(ctx, loc.key, nil)
	if err != nil {
		_ = bucket.Close()
		return nil, objectError(d, loc, src.SecretRef, err)
	}
	// The revision (an ETag, a generation) pins what is read: a GET streams
	// one version of an object, whatever happens to it meanwhile, so two
	// opens with the same revision read the same bytes. Without it nothing
	// would pin what is uploaded to what was validated (a time and a size
	// would not: an object rewritten within the second, at the same size,
	// would pass).
	revision := d.revision(r)
	if revision == "" {
		_ = r.Close()
		_ = bucket.Close()
		return nil, errNoRevision
	}
	size := r.Size()
	if d.size != nil {
		size = d.size(r)
	}
	return &File{
		ReadCloser:  &objectReader{Reader: r, bucket: bucket},
		Size:        size,
		Revision:    revision,
		Description: "object " + loc.display(),
	}, nil
}

// objectRevision is the revision of the object src names, from its
// attributes (a HEAD request or the like), without reading it.
func objectRevision(ctx context.Context, reader client.Reader, namespace string, src importsv1alpha1.ObjectStoreSource, opts Options) (string, error) {
	bucket, loc, d, err := openObjectBucket(ctx, reader, namespace, src, opts)
	if err != nil {
		return "", err
	}
	defer func() { _ = bucket.Close() }()
	attrs, err := bucket.Attributes(ctx, loc.key)
	if err != nil {
		// A HEAD answer has no body to say why (versitygw answers an unknown
		// key with a bare 404): a GET's does.
		r, getErr := bucket.NewReader(ctx, loc.key, nil)
		if getErr != nil {
			return "", objectError(d, loc, src.SecretRef, getErr)
		}
		_ = r.Close()
		return "", objectError(d, loc, src.SecretRef, err)
	}
	revision := d.attrsRevision(attrs)
	if revision == "" {
		return "", errNoRevision
	}
	return revision, nil
}

var errNoRevision = &InvalidError{Field: urlField,
	Message: "names an object its store sends no ETag or generation for: without one the operator cannot tell that what it uploads is what it validated"}

// openObjectBucket opens the bucket of the object src names, with the
// credentials the source may use.
func openObjectBucket(ctx context.Context, reader client.Reader, namespace string,
	src importsv1alpha1.ObjectStoreSource, opts Options) (*blob.Bucket, objectLocation, driver, error) {
	loc, err := parseObjectURL(src.URL)
	if err != nil {
		return nil, loc, driver{}, err
	}
	d, ok := drivers[loc.scheme]
	if !ok {
		return nil, loc, d, &UnsupportedError{Kind: "objectStore with a " + loc.scheme + ":// URL"}
	}
	endpoint := ""
	if d.endpoint != nil {
		endpoint = d.endpoint(loc)
	}
	if endpoint != "" && !opts.AllowedEndpoints.Allows(endpoint) {
		// Before the Secret is even read: its credentials must not reach a
		// store the cluster admin did not allow.
		return nil, loc, d, &EndpointNotAllowedError{Endpoint: origin(endpoint)}
	}
	var secret *storeSecret
	switch {
	case src.SecretRef != nil:
		if secret, err = readStoreSecret(ctx, reader, namespace, src.SecretRef.Name, opts.SecretPolicy); err != nil {
			return nil, loc, d, err
		}
	case !opts.AmbientCredentials:
		return nil, loc, d, &InvalidError{Field: secretRefField,
			Message: "is required: this operator does not lend its own credentials to imports (its flag --object-store-ambient-credentials)"}
	case endpoint != "":
		// Signed requests, tokens included, would go wherever the
		// import's author points them.
		return nil, loc, d, &InvalidError{Field: secretRefField,
			Message: "is required with an endpoint: the operator's own credentials go to its cloud provider's own service only"}
	}
	bucket, err := d.open(ctx, loc, secret, opts)
	if err != nil {
		if typed(err) {
			return nil, loc, d, err
		}
		return nil, loc, d, unavailable(loc, err)
	}
	return bucket, loc, d, nil
}

// typed tells the errors a person must fix, which are passed on as they are.
func typed(err error) bool {
	_, invalid := IsInvalid(err)
	_, notFound := IsNotFound(err)
	_, notAllowed := IsEndpointNotAllowed(err)
	return invalid || notFound || notAllowed
}

// origin is the scheme and host of an endpoint the URL's parser accepted,
// without the rest, which may hold what must not be echoed.
func origin(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(not a URL)"
	}
	return u.Scheme + "://" + u.Host
}

// objectError classifies a failure to open an object: what a person must
// fix (a missing object or bucket, refused credentials) is typed; anything
// else is worth retrying.
func objectError(d driver, loc objectLocation, secretRef *importsv1alpha1.LocalObjectReference, err error) error {
	if d.classify != nil {
		if typedErr := d.classify(loc, secretRef, err); typedErr != nil {
			return typedErr
		}
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return &NotFoundError{Kind: KindObject, Name: loc.display()}
	case gcerrors.PermissionDenied:
		return accessDenied(loc, secretRef)
	}
	return unavailable(loc, err)
}

// unavailable is the *UnavailableError of a store that failed. Its cause,
// for logs, loses the queries of the URLs it names: an Azure SAS token
// travels in the query, and net/http's errors quote the whole URL.
func unavailable(loc objectLocation, err error) error {
	return &UnavailableError{Description: "object " + loc.display(), Err: withoutQueries(err)}
}

// urlQuery finds the query of a URL in a message.
var urlQuery = regexp.MustCompile(`(https?://[^\s"'?]*)\?[^\s"']*`)

// withoutQueries is err with the queries of the URLs in its message
// replaced (it is classified before: only its message is left).
func withoutQueries(err error) error {
	msg := err.Error()
	if clean := urlQuery.ReplaceAllString(msg, "$1?(query removed)"); clean != msg {
		return errors.New(clean)
	}
	return err
}

func accessDenied(loc objectLocation, secretRef *importsv1alpha1.LocalObjectReference) error {
	e := &AccessDeniedError{Description: "object " + loc.display()}
	if secretRef != nil {
		e.SecretName = secretRef.Name
	}
	return e
}

// webScheme tells the schemes of an endpoint: http and https.
func webScheme(scheme string) bool { return scheme == "http" || scheme == "https" }

// deniedStatus tells the HTTP statuses of refused credentials.
func deniedStatus(code int) bool {
	return code == http.StatusUnauthorized || code == http.StatusForbidden
}

// storeSecret is the Secret of an object store, as read for one open: each
// driver takes the keys it knows.
type storeSecret struct {
	namespace, name string
	data            map[string][]byte
}

// value returns the key's value, or the *NotFoundError of a missing key.
func (s *storeSecret) value(key string) (string, error) {
	v := string(s.data[key])
	if v == "" {
		return "", &NotFoundError{Kind: KindSecret, Namespace: s.namespace, Name: s.name, Key: key}
	}
	return v, nil
}

// invalid is the *InvalidError of a key of the Secret.
func (s *storeSecret) invalid(key, message string) error {
	return &InvalidError{Field: fmt.Sprintf("Secret %q key %q", s.name, key), Message: message}
}

// readStoreSecret reads an object store's Secret, one the policy lets the
// operator use.
func readStoreSecret(ctx context.Context, reader client.Reader, namespace, name string, policy secrets.Policy) (*storeSecret, error) {
	secret, err := policy.Get(ctx, reader, namespace, name)
	if err != nil {
		if _, ok := secrets.IsNotLabelled(err); ok {
			return nil, err
		}
		if apierrors.IsNotFound(err) {
			return nil, &NotFoundError{Kind: KindSecret, Namespace: namespace, Name: name}
		}
		return nil, fmt.Errorf("reading Secret %q: %w", name, err)
	}
	return &storeSecret{namespace: namespace, name: name, data: secret.Data}, nil
}

// objectReader closes the bucket with the object.
type objectReader struct {
	*blob.Reader
	bucket *blob.Bucket
}

func (r *objectReader) Close() error {
	return errors.Join(r.Reader.Close(), r.bucket.Close())
}
