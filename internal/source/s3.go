package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// AWS S3 and S3-compatible stores: s3://bucket/key, with ?endpoint= for a
// store other than AWS (which must be allowed, and needs a Secret).

// The keys of an S3 store's Secret (spec.source.objectStore.secretRef): the
// names the AWS tools give the same things.
const (
	SecretKeyAccessKeyID     = "AWS_ACCESS_KEY_ID"
	SecretKeySecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	// SecretKeySessionToken is optional, for temporary credentials.
	SecretKeySessionToken = "AWS_SESSION_TOKEN"
)

// defaultRegion is the region of requests to a bucket whose URL names
// none, when neither the endpoint nor the operator's own configuration says.
const defaultRegion = "us-east-1"

var s3Driver = driver{
	params:   []string{"endpoint", "region", "use_path_style"},
	parse:    parseS3Params,
	endpoint: func(loc objectLocation) string { return loc.endpoint },
	open:     openS3Bucket,
	revision: func(r *blob.Reader) string {
		var out s3.GetObjectOutput
		if !r.As(&out) {
			return ""
		}
		return aws.ToString(out.ETag)
	},
	attrsRevision: func(a *blob.Attributes) string { return a.ETag },
	size: func(r *blob.Reader) int64 {
		var out s3.GetObjectOutput
		if r.As(&out) && out.ContentLength == nil && out.ContentRange == nil {
			return -1 // the store did not say (gocloud.dev would say 0)
		}
		return r.Size()
	},
	classify: classifyS3,
}

// s3HTTPClient is shared by every bucket opened, so that connections to a
// store are reused rather than made anew, with a TLS handshake, per file. A
// store that accepts a request and never answers holds it a minute, not a
// worker for ever. Connecting has the SDK's deadline (30 seconds, and 10 for
// the TLS handshake).
var s3HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
	t.ResponseHeaderTimeout = storeHeaderTimeout
})

// parseS3Params reads the parameters of an s3:// URL.
func parseS3Params(loc *objectLocation, q url.Values) error {
	var err error
	loc.endpoint, loc.region = q.Get("endpoint"), q.Get("region")
	if loc.endpoint != "" {
		// The endpoint is not echoed: it may hold what it must not.
		e, err := url.Parse(loc.endpoint)
		switch {
		case err != nil || !webScheme(e.Scheme) || e.Host == "":
			return &InvalidError{Field: urlField, Message: "has an endpoint that is not an http:// or https:// URL"}
		case e.User != nil:
			return &InvalidError{Field: urlField,
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
			return &InvalidError{Field: urlField, Message: fmt.Sprintf("has use_path_style=%q, which is neither true nor false", v)}
		}
	}
	return nil
}

// s3Credentials reads the access key of an S3 store's Secret.
func s3Credentials(secret *storeSecret) (*aws.Credentials, error) {
	id, err := secret.value(SecretKeyAccessKeyID)
	if err != nil {
		return nil, err
	}
	key, err := secret.value(SecretKeySecretAccessKey)
	if err != nil {
		return nil, err
	}
	return &aws.Credentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: string(secret.data[SecretKeySessionToken])}, nil
}

// openS3Bucket opens an S3 bucket with the Secret's credentials, or the
// operator's own (the AWS SDK's default chain: environment, shared files,
// the pod's role).
func openS3Bucket(ctx context.Context, loc objectLocation, secret *storeSecret, _ Options) (*blob.Bucket, error) {
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
	if secret != nil {
		creds, err := s3Credentials(secret)
		if err != nil {
			return nil, err
		}
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

// classifyS3 types the S3 answers gocloud.dev does not map: refused
// signatures and unknown keys come with codes of their own, and not always
// as 403 (versitygw answers an unknown key with 404 XAdminUserNotFound); a
// bucket of another region is a URL to fix.
func classifyS3(loc objectLocation, secretRef *importsv1alpha1.LocalObjectReference, err error) error {
	var apiErr smithy.APIError
	var re *awshttp.ResponseError
	errors.As(err, &re)
	if errors.As(err, &apiErr) && slices.Contains(regionErrorCodes, apiErr.ErrorCode()) {
		msg := "names a bucket in another region than its requests were signed for: add the bucket's, as in ?region=eu-west-1"
		if re != nil && re.Response != nil {
			if region := re.Response.Header.Get("X-Amz-Bucket-Region"); region != "" {
				msg = fmt.Sprintf("names a bucket in region %s: add ?region=%s", region, region)
			}
		}
		return &InvalidError{Field: urlField, Message: msg}
	}
	if apiErr != nil && slices.Contains(credentialErrorCodes, apiErr.ErrorCode()) || re != nil && deniedStatus(re.HTTPStatusCode()) {
		return accessDenied(loc, secretRef)
	}
	return nil
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
