package source

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"slices"
	"strconv"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/googleapi"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// Google Cloud Storage: gs://bucket/object, without parameters: requests go
// to Google's storage API, and a service account key's signed token request
// to Google's token endpoint, whatever the import says. STORAGE_EMULATOR_HOST
// in the operator's environment (the cluster admin's choice; the tests' way
// to fake-gcs-server) sends every gs:// read to that emulator instead,
// without credentials.

// SecretKeyGoogleCredentials is the key of a GCS Secret that holds a service
// account key, the JSON file the Google Cloud console downloads.
const SecretKeyGoogleCredentials = "GOOGLE_APPLICATION_CREDENTIALS_JSON"

// googleTokenURIs are the token endpoints a service account key may name.
var googleTokenURIs = []string{"https://oauth2.googleapis.com/token", "https://accounts.google.com/o/oauth2/token"}

var gcsDriver = driver{
	open: openGCSBucket,
	revision: func(r *blob.Reader) string {
		var raw *storage.Reader
		if !r.As(&raw) || raw == nil || raw.Attrs.Generation == 0 {
			return ""
		}
		return strconv.FormatInt(raw.Attrs.Generation, 10)
	},
	attrsRevision: func(a *blob.Attributes) string {
		var attrs storage.ObjectAttrs
		if !a.As(&attrs) || attrs.Generation == 0 {
			return ""
		}
		return strconv.FormatInt(attrs.Generation, 10)
	},
	classify: func(loc objectLocation, secretRef *importsv1alpha1.LocalObjectReference, err error) error {
		// gocloud.dev answers NotFound for a 403, which GCS also sends for
		// a missing object the credentials may not list.
		var gerr *googleapi.Error
		if errors.As(err, &gerr) && deniedStatus(gerr.Code) {
			return accessDenied(loc, secretRef)
		}
		// Google's token endpoint refusing the key (revoked, deleted):
		// invalid_grant, a 400.
		var rerr *oauth2.RetrieveError
		if errors.As(err, &rerr) && rerr.Response != nil && (rerr.Response.StatusCode == http.StatusBadRequest || deniedStatus(rerr.Response.StatusCode)) {
			return accessDenied(loc, secretRef)
		}
		return nil
	},
}

// openGCSBucket opens a GCS bucket with the service account key of the
// Secret, or the operator's own credentials (Application Default
// Credentials: GKE Workload Identity, the metadata server).
func openGCSBucket(ctx context.Context, loc objectLocation, secret *storeSecret, _ Options) (*blob.Bucket, error) {
	var creds *google.Credentials
	var err error
	if secret != nil {
		if creds, err = gcsCredentials(ctx, secret); err != nil {
			return nil, err
		}
	}
	if os.Getenv("STORAGE_EMULATOR_HOST") != "" {
		// gcsblob sends every request to the emulator, unauthenticated.
		return gcsblob.OpenBucket(ctx, &gcp.HTTPClient{}, loc.bucket, nil)
	}
	if creds == nil {
		if creds, err = google.FindDefaultCredentials(ctx, storage.ScopeReadOnly); err != nil {
			return nil, err
		}
	}
	client, err := gcp.NewHTTPClient(storeTransport, creds.TokenSource)
	if err != nil {
		return nil, err
	}
	return gcsblob.OpenBucket(ctx, client, loc.bucket, nil)
}

// serviceAccountKey is what the operator checks of a key before it is used.
// Only these fields are passed on to Google's library: the others (such as
// an "installed" client's, which it would try first) never reach it.
type serviceAccountKey struct {
	Type           string `json:"type"`
	ProjectID      string `json:"project_id,omitempty"`
	PrivateKeyID   string `json:"private_key_id,omitempty"`
	ClientEmail    string `json:"client_email"`
	ClientID       string `json:"client_id,omitempty"`
	PrivateKey     string `json:"private_key"`
	TokenURI       string `json:"token_uri,omitempty"`
	UniverseDomain string `json:"universe_domain,omitempty"`
}

// usablePrivateKey tells a PEM RSA key in PKCS #8 or PKCS #1, as the
// console writes them: the token source parses it only at its first token.
func usablePrivateKey(key string) bool {
	block, _ := pem.Decode([]byte(key))
	if block == nil {
		return false
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return true
	}
	_, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	return err == nil
}

// gcsCredentials reads the service account key of a GCS Secret. Only
// service_account keys are taken: the other kinds of credential file name
// commands to run or URLs to fetch tokens from, which the import's author
// would choose.
func gcsCredentials(ctx context.Context, secret *storeSecret) (*google.Credentials, error) {
	raw, err := secret.value(SecretKeyGoogleCredentials)
	if err != nil {
		return nil, err
	}
	var key serviceAccountKey
	switch {
	case json.Unmarshal([]byte(raw), &key) != nil:
		return nil, secret.invalid(SecretKeyGoogleCredentials, "is not JSON: it must hold a service account key, as the Google Cloud console downloads it")
	case key.Type != string(google.ServiceAccount):
		return nil, secret.invalid(SecretKeyGoogleCredentials,
			"is not a service account key (its type is not service_account): other kinds of Google credential are not taken from Secrets")
	case key.TokenURI != "" && !slices.Contains(googleTokenURIs, key.TokenURI):
		return nil, secret.invalid(SecretKeyGoogleCredentials, "names a token_uri that is not Google's token endpoint")
	case key.UniverseDomain != "" && key.UniverseDomain != "googleapis.com":
		return nil, secret.invalid(SecretKeyGoogleCredentials, "names a universe_domain other than googleapis.com")
	case key.ClientEmail == "" || !usablePrivateKey(key.PrivateKey):
		// Not echoed: the key is the secret.
		return nil, secret.invalid(SecretKeyGoogleCredentials,
			"is not a usable service account key: its client_email is missing, or its private_key is not a PEM key")
	}
	checked, err := json.Marshal(key)
	if err != nil {
		return nil, err
	}
	creds, err := google.CredentialsFromJSONWithType(ctx, checked, google.ServiceAccount, storage.ScopeReadOnly)
	if err != nil {
		// Not echoed: the parser's message may quote the key.
		return nil, secret.invalid(SecretKeyGoogleCredentials, "is not a usable service account key")
	}
	return creds, nil
}
