package source

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/api/googleapi"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// A store that accepts a request and never answers must not hold a worker
// beyond the header timeout (its body reads end with the caller's context).
func TestStoreRequestsHaveAHeaderTimeout(t *testing.T) {
	if got := s3HTTPClient.GetTransport().ResponseHeaderTimeout; got != storeHeaderTimeout || got <= 0 {
		t.Fatalf("the store client waits %v for an answer, want %v", got, storeHeaderTimeout)
	}
	if got := s3HTTPClient.GetDialer().Timeout; got <= 0 {
		t.Fatalf("the store client connects without a deadline")
	}
	if got := storeTransport.ResponseHeaderTimeout; got != storeHeaderTimeout {
		t.Fatalf("the GCS and Azure clients wait %v for an answer, want %v", got, storeHeaderTimeout)
	}
	if azureHTTPClient.Transport != storeTransport {
		t.Fatalf("the Azure client does not use the store transport")
	}
}

// GCS answers refused credentials with 401 or 403, which gocloud.dev maps to
// NotFound (GCS sends 403 for a missing object that the credentials may not
// list); fake-gcs-server checks no credentials, so this is the one place
// that shows the refusal is told as such.
func TestGCSRefusalsAreAccessDenied(t *testing.T) {
	loc := objectLocation{scheme: "gs", bucket: "b", key: "k"}
	ref := &importsv1alpha1.LocalObjectReference{Name: "gcs-reader"}
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		err := objectError(gcsDriver, loc, ref, fmt.Errorf("blob: %w", &googleapi.Error{Code: code, Message: "denied"}))
		if _, ok := IsAccessDenied(err); !ok {
			t.Errorf("a %d: %T %v, want an *AccessDeniedError", code, err, err)
		}
	}
}

// A service account key that also holds an OAuth client's fields (which
// Google's library would try first, and fail on at the first token) is
// passed on with a service account's fields only.
func TestGoogleKeysArePassedOnWithTheirKnownFieldsOnly(t *testing.T) {
	key, err := testenv.ServiceAccountKey(func(f map[string]any) {
		f["installed"] = map[string]any{"redirect_uris": []string{"x"}, "token_uri": "http://evil.example.com"}
	})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := gcsCredentials(context.Background(), &storeSecret{name: "gcs", data: map[string][]byte{SecretKeyGoogleCredentials: []byte(key)}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(creds.JSON), "installed") || strings.Contains(string(creds.JSON), "evil") {
		t.Fatalf("the credentials passed on hold more than a service account key: %s", creds.JSON)
	}
}
