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

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
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
	if loc.region == "" {
		loc.region = "us-east-1"
	}
	if loc.endpoint != "" {
		e, err := url.Parse(loc.endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return objectLocation{}, &InvalidError{Field: urlField,
				Message: fmt.Sprintf("has an endpoint %q that is not an http:// or https:// URL", loc.endpoint)}
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

// openObject opens the object src names, with the credentials of its Secret
// (read through reader) or, without one, the operator's own (the AWS SDK's
// default chain: environment, shared files, the pod's IAM role).
func openObject(ctx context.Context, reader client.Reader, namespace string, src importsv1alpha1.ObjectStoreSource) (*File, error) {
	loc, err := parseObjectURL(src.URL)
	if err != nil {
		return nil, err
	}
	if loc.scheme != "s3" {
		return nil, &UnsupportedError{Kind: "objectStore with a " + loc.scheme + ":// URL"}
	}
	var creds *aws.Credentials
	if src.SecretRef != nil {
		if creds, err = readCredentials(ctx, reader, namespace, src.SecretRef.Name); err != nil {
			return nil, err
		}
	}
	bucket, err := openS3Bucket(ctx, loc, creds)
	if err != nil {
		return nil, &UnavailableError{Description: "object " + loc.display(), Err: err}
	}
	r, err := bucket.NewReader(ctx, loc.key, nil)
	if err != nil {
		_ = bucket.Close()
		return nil, objectError(loc, src.SecretRef, err)
	}
	f := &File{
		ReadCloser:  &objectReader{Reader: r, bucket: bucket},
		Size:        r.Size(),
		Revision:    objectRevision(r),
		Description: "object " + loc.display(),
	}
	return f, nil
}

// objectRevision is the object's ETag as this read sees it: a GET streams
// one version of an object, whatever happens to it meanwhile, so two opens
// with the same ETag read the same bytes.
func objectRevision(r *blob.Reader) string {
	var out *s3.GetObjectOutput
	if r.As(&out) && aws.ToString(out.ETag) != "" {
		return aws.ToString(out.ETag)
	}
	// A store that sends no ETag: the time and size are the next best thing.
	return fmt.Sprintf("%s/%d", r.ModTime().UTC().Format("2006-01-02T15:04:05.999999999Z"), r.Size())
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
	switch {
	case errors.As(err, &apiErr) && slices.Contains(credentialErrorCodes, apiErr.ErrorCode()):
		code = gcerrors.PermissionDenied
	case errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusUnauthorized || re.HTTPStatusCode() == http.StatusForbidden):
		code = gcerrors.PermissionDenied
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

// readCredentials reads an object store's credentials from a Secret.
func readCredentials(ctx context.Context, reader client.Reader, namespace, name string) (*aws.Credentials, error) {
	var secret corev1.Secret
	if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &secret); err != nil {
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
		o.Region = loc.region
		o.UsePathStyle = loc.pathStyle
		if loc.endpoint != "" {
			o.BaseEndpoint = aws.String(loc.endpoint)
		}
	}
	var s3Client *s3.Client
	if creds != nil {
		s3Client = s3.New(s3.Options{Credentials: credentials.StaticCredentialsProvider{Value: *creds}}, configure)
	} else {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(loc.region))
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
