package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/secrets"
)

// The keys of an object store's Secret (spec.source.objectStore.secretRef):
// the names the AWS tools give the same things.
const (
	SecretKeyAccessKeyID     = "AWS_ACCESS_KEY_ID"
	SecretKeySecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	// SecretKeySessionToken is optional, for temporary credentials.
	SecretKeySessionToken = "AWS_SESSION_TOKEN"
)

// urlField is the spec field an object-store URL comes from, for messages.
const urlField = "spec.source.objectStore.url"

// objectLocation is what an object-store URL names.
type objectLocation struct {
	scheme, bucket, key string
	// S3: endpoint is the base URL of an S3-compatible store (empty for
	// AWS), region its region, pathStyle addresses buckets as
	// endpoint/bucket rather than bucket.endpoint.
	endpoint, region string
	pathStyle        bool
}

// display is the URL without its query, to name the object to people.
func (l objectLocation) display() string {
	return l.scheme + "://" + l.bucket + "/" + l.key
}

// defaultRegion is the region of requests to a bucket whose URL names
// none, when neither the endpoint nor the operator's own configuration says.
const defaultRegion = "us-east-1"

// storeHeaderTimeout bounds the wait for a store's answer to begin once a
// request is sent. Connecting has the SDK's deadline (30 seconds, and 10 for
// the TLS handshake); reading a body ends with its caller's context (the
// validation pass, the upload).
const storeHeaderTimeout = time.Minute

// s3HTTPClient is shared by every bucket opened, so that connections to a
// store are reused rather than made anew, with a TLS handshake, per file. A
// store that accepts a request and never answers holds it a minute, not a
// worker for ever.
var s3HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
	t.ResponseHeaderTimeout = storeHeaderTimeout
})

// s3Params are the query parameters an s3:// URL may carry.
var s3Params = []string{"endpoint", "region", "use_path_style"}

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
	if u.Scheme != "s3" {
		return loc, nil // refused by openObject, with a message of its own
	}
	q := u.Query()
	for name := range q {
		if !slices.Contains(s3Params, name) {
			return objectLocation{}, &InvalidError{Field: urlField,
				Message: fmt.Sprintf("has an unknown parameter %q (known: %s)", name, strings.Join(s3Params, ", "))}
		}
	}
	loc.endpoint, loc.region = q.Get("endpoint"), q.Get("region")
	if loc.endpoint != "" {
		// The endpoint is not echoed: it may hold what it must not.
		e, err := url.Parse(loc.endpoint)
		switch {
		case err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "":
			return objectLocation{}, &InvalidError{Field: urlField, Message: "has an endpoint that is not an http:// or https:// URL"}
		case e.User != nil:
			return objectLocation{}, &InvalidError{Field: urlField,
				Message: "has an endpoint with credentials in it; put them in the Secret named by spec.source.objectStore.secretRef"}
		}
		if loc.region == "" {
			loc.region = defaultRegion // what S3-compatible stores answer for
		}
	}
	// S3-compatible stores mostly know only path-style addressing; AWS
	// prefers virtual-hosted style.
	loc.pathStyle = loc.endpoint != ""
	if v := q.Get("use_path_style"); v != "" {
		if loc.pathStyle, err = strconv.ParseBool(v); err != nil {
			return objectLocation{}, &InvalidError{Field: urlField,
				Message: fmt.Sprintf("has use_path_style=%q, which is neither true nor false", v)}
		}
	}
	return loc, nil
}

// secretRefField is the spec field of an object store's Secret.
const secretRefField = "spec.source.objectStore.secretRef"

// openObject opens the object src names, with the credentials of its Secret
// (read through reader) or, without one and if opts allow it, the operator's
// own (the AWS SDK's default chain: environment, shared files, the pod's
// role).
func openObject(ctx context.Context, reader client.Reader, namespace string, src importsv1alpha1.ObjectStoreSource, opts Options) (*File, error) {
	bucket, loc, err := openObjectBucket(ctx, reader, namespace, src, opts)
	if err != nil {
		return nil, err
	}
	r, err := bucket.NewReader(ctx, loc.key, nil)
	if err != nil {
		_ = bucket.Close()
		return nil, objectError(loc, src.SecretRef, err)
	}
	// The ETag is the revision: a GET streams one version of an object,
	// whatever happens to it meanwhile, so two opens with the same ETag read
	// the same bytes. Without it nothing would pin what is uploaded to what
	// was validated (a time and a size would not: an object rewritten within
	// the second, at the same size, would pass).
	var out s3.GetObjectOutput
	if !r.As(&out) || aws.ToString(out.ETag) == "" {
		_ = r.Close()
		_ = bucket.Close()
		return nil, errNoETag
	}
	size := r.Size()
	if out.ContentLength == nil && out.ContentRange == nil {
		size = -1 // the store did not say (gocloud.dev would say 0)
	}
	return &File{
		ReadCloser:  &objectReader{Reader: r, bucket: bucket},
		Size:        size,
		Revision:    aws.ToString(out.ETag),
		Description: "object " + loc.display(),
	}, nil
}

// objectRevision is the ETag of the object src names, from its attributes
// (a HEAD request), without reading it.
func objectRevision(ctx context.Context, reader client.Reader, namespace string, src importsv1alpha1.ObjectStoreSource, opts Options) (string, error) {
	bucket, loc, err := openObjectBucket(ctx, reader, namespace, src, opts)
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
			return "", objectError(loc, src.SecretRef, getErr)
		}
		_ = r.Close()
		return "", objectError(loc, src.SecretRef, err)
	}
	if attrs.ETag == "" {
		return "", errNoETag
	}
	return attrs.ETag, nil
}

var errNoETag = &InvalidError{Field: urlField,
	Message: "names an object its store sends no ETag for: without one the operator cannot tell that what it uploads is what it validated"}

// openObjectBucket opens the bucket of the object src names, with the
// credentials the source may use.
func openObjectBucket(ctx context.Context, reader client.Reader, namespace string,
	src importsv1alpha1.ObjectStoreSource, opts Options) (*blob.Bucket, objectLocation, error) {
	loc, err := parseObjectURL(src.URL)
	if err != nil {
		return nil, loc, err
	}
	if loc.scheme != "s3" {
		return nil, loc, &UnsupportedError{Kind: "objectStore with a " + loc.scheme + ":// URL"}
	}
	if loc.endpoint != "" && !opts.AllowedEndpoints.Allows(loc.endpoint) {
		// Before the Secret is even read: its credentials must not reach a
		// store the cluster admin did not allow.
		return nil, loc, &EndpointNotAllowedError{Endpoint: origin(loc.endpoint)}
	}
	var creds *aws.Credentials
	switch {
	case src.SecretRef != nil:
		if creds, err = readCredentials(ctx, reader, namespace, src.SecretRef.Name, opts.SecretPolicy); err != nil {
			return nil, loc, err
		}
	case !opts.AmbientCredentials:
		return nil, loc, &InvalidError{Field: secretRefField,
			Message: "is required: this operator does not lend its own credentials to imports (its flag --object-store-ambient-credentials)"}
	case loc.endpoint != "":
		// Signed requests, session token included, would go wherever the
		// import's author points them.
		return nil, loc, &InvalidError{Field: secretRefField,
			Message: "is required with an endpoint: the operator's own credentials go to AWS only"}
	}
	bucket, err := openS3Bucket(ctx, loc, creds)
	if err != nil {
		return nil, loc, &UnavailableError{Description: "object " + loc.display(), Err: err}
	}
	return bucket, loc, nil
}

// origin is the scheme and host of an endpoint parseObjectURL accepted,
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
func objectError(loc objectLocation, secretRef *importsv1alpha1.LocalObjectReference, err error) error {
	code := gcerrors.Code(err)
	// Refused signatures and unknown keys come with codes gocloud.dev does
	// not map, and not always as 403 (versitygw answers an unknown key with
	// 404 XAdminUserNotFound).
	var apiErr smithy.APIError
	var re *awshttp.ResponseError
	errors.As(err, &re)
	switch {
	case errors.As(err, &apiErr) && slices.Contains(credentialErrorCodes, apiErr.ErrorCode()):
		code = gcerrors.PermissionDenied
	case re != nil && (re.HTTPStatusCode() == http.StatusUnauthorized || re.HTTPStatusCode() == http.StatusForbidden):
		code = gcerrors.PermissionDenied
	}
	if apiErr != nil && slices.Contains(regionErrorCodes, apiErr.ErrorCode()) {
		msg := "names a bucket in another region than its requests were signed for: add the bucket's, as in ?region=eu-west-1"
		if re != nil && re.Response != nil {
			if region := re.Response.Header.Get("X-Amz-Bucket-Region"); region != "" {
				msg = fmt.Sprintf("names a bucket in region %s: add ?region=%s", region, region)
			}
		}
		return &InvalidError{Field: urlField, Message: msg}
	}
	switch code {
	case gcerrors.NotFound:
		return &NotFoundError{Kind: KindObject, Name: loc.display()}
	case gcerrors.PermissionDenied:
		e := &AccessDeniedError{Description: "object " + loc.display()}
		if secretRef != nil {
			e.SecretName = secretRef.Name
		}
		return e
	}
	return &UnavailableError{Description: "object " + loc.display(), Err: err}
}

// credentialErrorCodes are the S3 error codes that mean the credentials were
// refused.
var credentialErrorCodes = []string{
	"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
	"XAdminUserNotFound",
}

// regionErrorCodes are the S3 error codes of a request signed for, or sent
// to, another region than the bucket's.
var regionErrorCodes = []string{"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}

// readCredentials reads an object store's credentials from a Secret the
// policy lets the operator use.
func readCredentials(ctx context.Context, reader client.Reader, namespace, name string, policy secrets.Policy) (*aws.Credentials, error) {
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
	creds := &aws.Credentials{
		AccessKeyID:     string(secret.Data[SecretKeyAccessKeyID]),
		SecretAccessKey: string(secret.Data[SecretKeySecretAccessKey]),
		SessionToken:    string(secret.Data[SecretKeySessionToken]),
	}
	switch {
	case creds.AccessKeyID == "":
		return nil, &NotFoundError{Kind: KindSecret, Namespace: namespace, Name: name, Key: SecretKeyAccessKeyID}
	case creds.SecretAccessKey == "":
		return nil, &NotFoundError{Kind: KindSecret, Namespace: namespace, Name: name, Key: SecretKeySecretAccessKey}
	}
	return creds, nil
}

// openS3Bucket opens an S3 bucket through gocloud.dev's blob API, which the
// gs:// and azblob:// drivers implement too.
func openS3Bucket(ctx context.Context, loc objectLocation, creds *aws.Credentials) (*blob.Bucket, error) {
	configure := func(o *s3.Options) {
		o.HTTPClient = s3HTTPClient
		if loc.region != "" {
			o.Region = loc.region
		}
		if o.Region == "" {
			o.Region = defaultRegion
		}
		o.UsePathStyle = loc.pathStyle
		if loc.endpoint != "" {
			o.BaseEndpoint = aws.String(loc.endpoint)
		}
	}
	var s3Client *s3.Client
	if creds != nil {
		s3Client = s3.New(s3.Options{Credentials: credentials.StaticCredentialsProvider{Value: *creds}}, configure)
	} else {
		// The operator's own configuration names the region, unless the URL does.
		cfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(s3HTTPClient))
		if err != nil {
			return nil, err
		}
		s3Client = s3.NewFromConfig(cfg, configure)
	}
	return s3blob.OpenBucket(ctx, s3Client, loc.bucket, nil)
}

// objectReader closes the bucket with the object.
type objectReader struct {
	*blob.Reader
	bucket *blob.Bucket
}

func (r *objectReader) Close() error {
	return errors.Join(r.Reader.Close(), r.bucket.Close())
}
