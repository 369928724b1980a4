package source_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	. "github.com/onsi/gomega"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/endpoints"
	"github.com/localytics-operator/localytics-operator/internal/source"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// The same behaviour as S3's (objectstore_test.go) from Google Cloud Storage
// (fake-gcs-server) and Azure Blob Storage (Azurite).

// serviceAccountKey is a service account key, its fields changed by edit.
func serviceAccountKey(t testing.TB, edit func(map[string]any)) string {
	t.Helper()
	key, err := testenv.ServiceAccountKey(edit)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// azuriteOptions allow the emulator's service, as an operator that reads
// from it must.
func azuriteOptions() source.Options {
	return source.Options{AllowedEndpoints: endpoints.MustParse("http://" + azurite.Domain)}
}

func azuriteCredentials() map[string]string {
	return map[string]string{source.SecretKeyAzureAccount: azurite.Account, source.SecretKeyAzureKey: azurite.Key}
}

func openAndRead(t *testing.T, src importsv1alpha1.Source, opts source.Options) (*source.File, []byte) {
	t.Helper()
	g := NewWithT(t)
	f, err := source.Open(context.Background(), k8sClient, "default", src, opts)
	g.Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	body, err := io.ReadAll(f)
	g.Expect(err).NotTo(HaveOccurred())
	return f, body
}

// TestOpenCloudObjects reads an object from each store, tells it again by
// its revision without reading it, and tells a replaced object by a new one.
func TestOpenCloudObjects(t *testing.T) {
	ctx := context.Background()
	content := []byte(strings.Repeat(`{"customer_id":"c1","changes":[{"op":"delete","attr":"a"}]}`+"\n", 1000))
	createStoreSecret(t, "gcs-creds", map[string]string{source.SecretKeyGoogleCredentials: serviceAccountKey(t, nil)})
	createStoreSecret(t, "azure-key", azuriteCredentials())
	readSAS, err := azurite.SAS("sas", sas.ContainerPermissions{Read: true})
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	createStoreSecret(t, "azure-sas", map[string]string{source.SecretKeyAzureAccount: azurite.Account, source.SecretKeyAzureSASToken: readSAS})
	createStoreSecret(t, "azure-connection-string", map[string]string{source.SecretKeyAzureConnectionString: "DefaultEndpointsProtocol=http;AccountName=" +
		azurite.Account + ";AccountKey=" + azurite.Key + ";BlobEndpoint=" + azurite.ServiceURL() + ";"})

	stores := map[string]struct {
		put         func(body []byte) error
		src         importsv1alpha1.Source
		opts        source.Options
		description string
	}{
		"GCS, with a service account key": {
			put:         func(body []byte) error { return gcs.Put(ctx, "imports", "2026/11/profiles.json", body) },
			src:         objectSource(gcs.URL("imports", "2026/11/profiles.json"), "gcs-creds"),
			description: "object gs://imports/2026/11/profiles.json",
		},
		"Azure, with an account key": {
			put:         func(body []byte) error { return azurite.Put(ctx, "imports", "2026/11/profiles.json", body) },
			src:         objectSource(azurite.URL("imports", "2026/11/profiles.json"), "azure-key"),
			opts:        azuriteOptions(),
			description: "object azblob://imports/2026/11/profiles.json",
		},
		"Azure, with a SAS token": {
			put:         func(body []byte) error { return azurite.Put(ctx, "sas", "profiles.json", body) },
			src:         objectSource(azurite.URL("sas", "profiles.json"), "azure-sas"),
			opts:        azuriteOptions(),
			description: "object azblob://sas/profiles.json",
		},
		"Azure, with a connection string": {
			put:         func(body []byte) error { return azurite.Put(ctx, "strings", "profiles.json", body) },
			src:         objectSource("azblob://strings/profiles.json", "azure-connection-string"),
			opts:        azuriteOptions(),
			description: "object azblob://strings/profiles.json",
		},
	}
	for name, tc := range stores {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(tc.put(content)).To(Succeed())
			f, body := openAndRead(t, tc.src, tc.opts)
			g.Expect(body).To(Equal(content))
			g.Expect(f.Size).To(BeEquivalentTo(len(content)))
			g.Expect(f.Description).To(Equal(tc.description))
			g.Expect(f.Revision).NotTo(BeEmpty())

			again, _ := openAndRead(t, tc.src, tc.opts)
			g.Expect(again.Revision).To(Equal(f.Revision), "the same object, the same revision")
			rev, err := source.Revision(ctx, k8sClient, "default", tc.src, tc.opts)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(rev).To(Equal(f.Revision), "Revision tells it without reading the object")

			g.Expect(tc.put(append(content, content...))).To(Succeed())
			changed, body := openAndRead(t, tc.src, tc.opts)
			g.Expect(body).To(HaveLen(2 * len(content)))
			g.Expect(changed.Revision).NotTo(Equal(f.Revision), "a replaced object, a new revision")
			rev, err = source.Revision(ctx, k8sClient, "default", tc.src, tc.opts)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(rev).To(Equal(changed.Revision))
		})
	}
}

// TestOpenLargeCloudObjects streams 48 MiB objects from each store.
func TestOpenLargeCloudObjects(t *testing.T) {
	ctx := context.Background()
	g := NewWithT(t)
	big := bytes.Repeat([]byte(`{"customer_id":"c1","changes":[{"op":"assign","attr":"tier","value":"gold"}]}`+"\n"), 48<<20/78)
	want := sha256.Sum256(big)
	createStoreSecret(t, "gcs-big", map[string]string{source.SecretKeyGoogleCredentials: serviceAccountKey(t, nil)})
	createStoreSecret(t, "azure-big", azuriteCredentials())
	g.Expect(gcs.Put(ctx, "big", "profiles.json", big)).To(Succeed())
	g.Expect(azurite.Put(ctx, "big", "profiles.json", big)).To(Succeed())
	for name, tc := range map[string]struct {
		src  importsv1alpha1.Source
		opts source.Options
	}{
		"GCS":   {src: objectSource(gcs.URL("big", "profiles.json"), "gcs-big")},
		"Azure": {src: objectSource(azurite.URL("big", "profiles.json"), "azure-big"), opts: azuriteOptions()},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f, err := source.Open(ctx, k8sClient, "default", tc.src, tc.opts)
			g.Expect(err).NotTo(HaveOccurred())
			defer f.Close()
			h := sha256.New()
			n, err := io.CopyBuffer(h, f, make([]byte, 64<<10))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(n).To(BeEquivalentTo(len(big)))
			g.Expect(h.Sum(nil)).To(Equal(want[:]))
		})
	}
}

func TestOpenCloudObjectFailures(t *testing.T) {
	ctx := context.Background()
	g := NewWithT(t)
	g.Expect(gcs.Put(ctx, "failures", "there.json", []byte("{}\n"))).To(Succeed())
	g.Expect(azurite.Put(ctx, "failures", "there.json", []byte("{}\n"))).To(Succeed())
	createStoreSecret(t, "gcs-good", map[string]string{source.SecretKeyGoogleCredentials: serviceAccountKey(t, nil)})
	createStoreSecret(t, "gcs-empty", map[string]string{"other": "x"})
	createStoreSecret(t, "gcs-not-json", map[string]string{source.SecretKeyGoogleCredentials: "hidden-not-json"})
	createStoreSecret(t, "gcs-external", map[string]string{source.SecretKeyGoogleCredentials: serviceAccountKey(t, func(f map[string]any) {
		f["type"] = "external_account"
		f["credential_source"] = map[string]any{"executable": map[string]any{"command": "/bin/sh -c id"}}
	})})
	createStoreSecret(t, "gcs-token-uri", map[string]string{source.SecretKeyGoogleCredentials: serviceAccountKey(t, func(f map[string]any) {
		f["token_uri"] = "http://169.254.169.254/hidden"
	})})
	createStoreSecret(t, "gcs-bad-key", map[string]string{source.SecretKeyGoogleCredentials: serviceAccountKey(t, func(f map[string]any) {
		f["private_key"] = "-----BEGIN PRIVATE KEY-----\nhidden\n-----END PRIVATE KEY-----\n"
	})})
	createStoreSecret(t, "azure-good", azuriteCredentials())
	createStoreSecret(t, "azure-wrong-key", map[string]string{source.SecretKeyAzureAccount: azurite.Account,
		source.SecretKeyAzureKey: "aGlkZGVuLWJ1dC13cm9uZy1rZXktb2YtdGhlLWFjY291bnQ="})
	listOnly, err := azurite.SAS("failures", sas.ContainerPermissions{List: true})
	g.Expect(err).NotTo(HaveOccurred())
	createStoreSecret(t, "azure-list-only", map[string]string{source.SecretKeyAzureAccount: azurite.Account, source.SecretKeyAzureSASToken: listOnly})
	createStoreSecret(t, "azure-protocol-url", map[string]string{source.SecretKeyAzureConnectionString: "DefaultEndpointsProtocol=http://10.0.0.5:8080/p?x=;AccountName=" +
		azurite.Account + ";AccountKey=" + azurite.Key})
	createStoreSecret(t, "azure-bad-sas", map[string]string{source.SecretKeyAzureAccount: azurite.Account, source.SecretKeyAzureSASToken: "sv=1&sig=hidden#x"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	closedPort := ln.Addr().String()
	g.Expect(ln.Close()).To(Succeed())
	createStoreSecret(t, "azure-no-key", map[string]string{source.SecretKeyAzureAccount: azurite.Account})
	createStoreSecret(t, "azure-elsewhere", map[string]string{source.SecretKeyAzureConnectionString: "AccountName=" + azurite.Account +
		";AccountKey=" + azurite.Key + ";BlobEndpoint=https://collector.example.com/" + azurite.Account})

	tests := map[string]openFailure{
		"GCS: a missing object": {
			src: objectSource(gcs.URL("failures", "missing.json"), "gcs-good"), check: isNotFound,
			wantMsg: "object gs://failures/missing.json not found",
		},
		"GCS: a missing bucket": {
			src: objectSource(gcs.URL("no-such-bucket", "x.json"), "gcs-good"), check: isNotFound,
			wantMsg: "object gs://no-such-bucket/x.json not found",
		},
		"GCS: a Secret without the key": {
			src: objectSource(gcs.URL("failures", "there.json"), "gcs-empty"), check: isNotFound,
			wantMsg: `Secret "gcs-empty" has no key "GOOGLE_APPLICATION_CREDENTIALS_JSON"`,
		},
		"GCS: a key that is not JSON": {
			src: objectSource(gcs.URL("failures", "there.json"), "gcs-not-json"), check: isInvalid,
			wantMsg: `Secret "gcs-not-json" key "GOOGLE_APPLICATION_CREDENTIALS_JSON" is not JSON`,
		},
		"GCS: a credential that runs a command": {
			src: objectSource(gcs.URL("failures", "there.json"), "gcs-external"), check: isInvalid,
			wantMsg: "is not a service account key",
		},
		"GCS: a key whose token goes elsewhere": {
			src: objectSource(gcs.URL("failures", "there.json"), "gcs-token-uri"), check: isInvalid,
			wantMsg: "names a token_uri that is not Google's token endpoint",
		},
		"GCS: a key that is no key": {
			src: objectSource(gcs.URL("failures", "there.json"), "gcs-bad-key"), check: isInvalid,
			wantMsg: "is not a usable service account key",
		},
		"GCS: a parameter": {
			src: objectSource(gcs.URL("failures", "there.json")+"?endpoint=http://127.0.0.1:1", "gcs-good"), check: isInvalid,
			wantMsg: `has an unknown parameter "endpoint" (known: none)`,
		},
		"GCS: no secretRef, from an operator that lends none of its own": {
			src: objectSource(gcs.URL("failures", "there.json"), ""), check: isInvalid,
			wantMsg: "secretRef is required: this operator does not lend its own credentials",
		},
		"Azure: a missing blob": {
			src: objectSource(azurite.URL("failures", "missing.json"), "azure-good"), opts: azuriteOptions(), check: isNotFound,
			wantMsg: "object azblob://failures/missing.json not found",
		},
		"Azure: a missing container": {
			src: objectSource(azurite.URL("no-such-container", "x.json"), "azure-good"), opts: azuriteOptions(), check: isNotFound,
			wantMsg: "object azblob://no-such-container/x.json not found",
		},
		"Azure: a wrong account key": {
			src: objectSource(azurite.URL("failures", "there.json"), "azure-wrong-key"), opts: azuriteOptions(), check: isAccessDenied,
			wantMsg: `the store refused access to object azblob://failures/there.json with the credentials in Secret "azure-wrong-key"`,
		},
		"Azure: a SAS token that may not read": {
			src: objectSource(azurite.URL("failures", "there.json"), "azure-list-only"), opts: azuriteOptions(), check: isAccessDenied,
			wantMsg: `the store refused access to object azblob://failures/there.json with the credentials in Secret "azure-list-only"`,
		},
		"Azure: a service that cannot be reached, with a SAS token": {
			src:     objectSource("azblob://failures/there.json?protocol=http&localemu=true&domain="+closedPort, "azure-list-only"),
			opts:    source.Options{AllowedEndpoints: endpoints.MustParse("http://127.0.0.1")},
			check:   func(err error) bool { _, ok := source.IsUnavailable(err); return ok },
			wantMsg: "object azblob://failures/there.json could not be read",
		},
		"Azure: a Secret without a key or SAS": {
			src: objectSource(azurite.URL("failures", "there.json"), "azure-no-key"), opts: azuriteOptions(), check: isNotFound,
			wantMsg: `Secret "azure-no-key" has no key "AZURE_STORAGE_KEY"`,
		},
		"Azure: an emulator the operator does not allow": {
			src: objectSource(azurite.URL("failures", "there.json"), "azure-good"), check: isEndpointNotAllowed,
			wantMsg: "names the endpoint http://" + azurite.Domain + ", which is not among the operator's --allowed-object-store-endpoints",
		},
		"Azure: a connection string to a service the operator does not allow": {
			src: objectSource("azblob://failures/there.json", "azure-elsewhere"), opts: azuriteOptions(), check: isEndpointNotAllowed,
			wantMsg: "names the endpoint https://collector.example.com",
		},
		"Azure: a connection string whose protocol is a URL": {
			src: objectSource("azblob://failures/there.json", "azure-protocol-url"), check: isInvalid,
			wantMsg: "has a DefaultEndpointsProtocol that is neither http nor https",
		},
		"Azure: an allowed domain with a tenant's account in front of it": {
			// The allowlist names a host; the account would make it another.
			src:  objectSource("azblob://failures/there.json?domain=storage.example.com&account=evilbucket", "azure-good"),
			opts: source.Options{AllowedEndpoints: endpoints.MustParse("https://storage.example.com")}, check: isEndpointNotAllowed,
			wantMsg: "names the endpoint https://evilbucket.storage.example.com",
		},
		"Azure: another cloud, its account's host allowed, the account in the Secret": {
			// Past both checks of where requests go: the host does not exist.
			src:  objectSource("azblob://failures/there.json?domain=blob.cloud.invalid", "azure-good"),
			opts: source.Options{AllowedEndpoints: endpoints.MustParse("https://" + azurite.Account + ".blob.cloud.invalid")}, check: isNotFound,
			wantMsg: "object azblob://failures/there.json not found",
		},
		"Azure: a SAS token that is not one": {
			src: objectSource(azurite.URL("failures", "there.json"), "azure-bad-sas"), opts: azuriteOptions(), check: isInvalid,
			wantMsg: `Secret "azure-bad-sas" key "AZURE_STORAGE_SAS_TOKEN" is not a SAS token`,
		},
		"Azure: a domain without a Secret": {
			src:  objectSource(azurite.URL("failures", "there.json"), ""),
			opts: source.Options{AmbientCredentials: true, AllowedEndpoints: endpoints.MustParse("http://" + azurite.Domain)}, check: isInvalid,
			wantMsg: "secretRef is required with an endpoint",
		},
		"Azure: no account": {
			src: objectSource("azblob://failures/there.json", ""), opts: source.Options{AmbientCredentials: true}, check: isInvalid,
			wantMsg: "names no storage account: add ?account=NAME",
		},
		"Azure: a domain that is not a host": {
			src: objectSource("azblob://failures/there.json?domain=a/b&localemu=true", "azure-good"), check: isInvalid,
			wantMsg: "has a domain that is not a host name",
		},
		"Azure: a misspelt parameter": {
			src: objectSource(azurite.URL("failures", "there.json")+"&acount=x", "azure-good"), opts: azuriteOptions(), check: isInvalid,
			wantMsg: `unknown parameter "acount" (known: account, domain, protocol, localemu)`,
		},
	}
	// The key, a SAS token's signature, and what the Secrets hold.
	expectOpenFailures(t, tests, azurite.Key, "sig=", "hidden")
}

func isEndpointNotAllowed(err error) bool { _, ok := source.IsEndpointNotAllowed(err); return ok }
