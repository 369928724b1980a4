package source_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/endpoints"
	"github.com/localytics-operator/localytics-operator/internal/source"
)

func objectSource(url, secret string) importsv1alpha1.Source {
	src := importsv1alpha1.Source{ObjectStore: &importsv1alpha1.ObjectStoreSource{URL: url}}
	if secret != "" {
		src.ObjectStore.SecretRef = &importsv1alpha1.LocalObjectReference{Name: secret}
	}
	return src
}

// createStoreSecret creates a Secret with the store's credentials, the
// secret key replaced by secretKey when it is not empty.
func createStoreSecret(t testing.TB, name string, data map[string]string) {
	t.Helper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, StringData: data}
	NewWithT(t).Expect(k8sClient.Create(context.Background(), secret)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), secret) })
}

// storeOptions are the Options of an operator that allows the test store's
// endpoint.
func storeOptions() source.Options {
	return source.Options{AllowedEndpoints: endpoints.MustParse(store.Endpoint)}
}

// loopbackStores allows every store on loopback, whatever its port.
var loopbackStores = endpoints.MustParse("http://127.0.0.1")

func storeCredentials() map[string]string {
	return map[string]string{source.SecretKeyAccessKeyID: store.AccessKey, source.SecretKeySecretAccessKey: store.SecretKey}
}

func readFile(t *testing.T, src importsv1alpha1.Source) (*source.File, string) {
	t.Helper()
	g := NewWithT(t)
	f, err := source.Open(context.Background(), k8sClient, "default", src, storeOptions())
	g.Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	body, err := io.ReadAll(f)
	g.Expect(err).NotTo(HaveOccurred())
	return f, string(body)
}

// TestOpenObject reads objects from versitygw with the credentials of a
// Secret, and tells a changed object by its revision.
func TestOpenObject(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	createStoreSecret(t, "store-creds", storeCredentials())
	content := strings.Repeat(`{"customer_id":"c1","changes":[{"op":"delete","attr":"a"}]}`+"\n", 1000)
	g.Expect(store.Put(ctx, "imports", "2026/11/profiles.json", []byte(content))).To(Succeed())
	src := objectSource(store.URL("imports", "2026/11/profiles.json"), "store-creds")

	f, body := readFile(t, src)
	g.Expect(body).To(Equal(content))
	g.Expect(f.Size).To(BeEquivalentTo(len(content)))
	g.Expect(f.Description).To(Equal("object s3://imports/2026/11/profiles.json"))
	g.Expect(f.Revision).NotTo(BeEmpty())

	again, _ := readFile(t, src)
	g.Expect(again.Revision).To(Equal(f.Revision), "the same object, the same revision")
	rev, err := source.Revision(ctx, k8sClient, "default", src, storeOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rev).To(Equal(f.Revision), "Revision tells it without reading the object")

	g.Expect(store.Put(ctx, "imports", "2026/11/profiles.json", []byte(content+content))).To(Succeed())
	changed, body := readFile(t, src)
	g.Expect(body).To(Equal(content + content))
	g.Expect(changed.Revision).NotTo(Equal(f.Revision), "a new object, a new revision")
	rev, err = source.Revision(ctx, k8sClient, "default", src, storeOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rev).To(Equal(changed.Revision))
}

func TestOpenObjectFailures(t *testing.T) {
	ctx := context.Background()
	g := NewWithT(t)
	g.Expect(store.Put(ctx, "failures", "there.json", []byte("{}\n"))).To(Succeed())
	createStoreSecret(t, "good-creds", storeCredentials())
	createStoreSecret(t, "wrong-secret", map[string]string{source.SecretKeyAccessKeyID: store.AccessKey, source.SecretKeySecretAccessKey: "not-the-secret"})
	createStoreSecret(t, "unknown-key", map[string]string{source.SecretKeyAccessKeyID: "nobody", source.SecretKeySecretAccessKey: "x"})
	createStoreSecret(t, "no-secret-key", map[string]string{source.SecretKeyAccessKeyID: store.AccessKey})

	// A port nothing listens on: the store cannot be reached.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	closedPort := ln.Addr().String()
	g.Expect(ln.Close()).To(Succeed())

	g.Expect(store.WriteFile("failures", "copied-by-hand.json", []byte("{}\n"))).To(Succeed())
	tests := map[string]openFailure{
		"a missing object": {
			src:     objectSource(store.URL("failures", "missing.json"), "good-creds"),
			check:   isNotFound,
			wantMsg: "object s3://failures/missing.json not found",
		},
		"a missing bucket": {
			src:     objectSource(store.URL("no-such-bucket", "x.json"), "good-creds"),
			check:   isNotFound,
			wantMsg: "object s3://no-such-bucket/x.json not found",
		},
		"a missing Secret": {
			src:     objectSource(store.URL("failures", "there.json"), "absent"),
			check:   isNotFound,
			wantMsg: `Secret "absent" not found in namespace "default"`,
		},
		"a Secret without the secret key": {
			src:     objectSource(store.URL("failures", "there.json"), "no-secret-key"),
			check:   isNotFound,
			wantMsg: `Secret "no-secret-key" has no key "AWS_SECRET_ACCESS_KEY"`,
		},
		"a wrong secret key": {
			src:     objectSource(store.URL("failures", "there.json"), "wrong-secret"),
			check:   isAccessDenied,
			wantMsg: `the store refused access to object s3://failures/there.json with the credentials in Secret "wrong-secret"`,
		},
		"an unknown access key": {
			src:     objectSource(store.URL("failures", "there.json"), "unknown-key"),
			check:   isAccessDenied,
			wantMsg: `Secret "unknown-key"`,
		},
		"credentials in the URL": {
			src:     objectSource("s3://key:secret@failures/there.json", "good-creds"),
			check:   isInvalid,
			wantMsg: "spec.source.objectStore.url must not hold credentials",
		},
		"no object key": {
			src:     objectSource("s3://failures/", "good-creds"),
			check:   isInvalid,
			wantMsg: "must name a bucket and an object, as in s3://bucket/path/file.json",
		},
		"a misspelt parameter": {
			src:     objectSource(store.URL("failures", "there.json")+"&regoin=eu-west-1", "good-creds"),
			check:   isInvalid,
			wantMsg: `unknown parameter "regoin"`,
		},
		"an endpoint that is not a URL": {
			src:     objectSource("s3://failures/there.json?endpoint=localhost:9000", "good-creds"),
			check:   isInvalid,
			wantMsg: "has an endpoint that is not an http:// or https:// URL",
		},
		"an endpoint with credentials in it": {
			src:     objectSource("s3://failures/there.json?endpoint=http://key:hidden@"+store.Endpoint[len("http://"):], "good-creds"),
			check:   isInvalid,
			wantMsg: "has an endpoint with credentials in it",
		},
		"no secretRef, from an operator that lends none of its own": {
			src:     objectSource("s3://failures/there.json", ""),
			check:   isInvalid,
			wantMsg: "spec.source.objectStore.secretRef is required: this operator does not lend its own credentials",
		},
		"no secretRef with an endpoint, from an operator that lends its own to AWS": {
			src:     objectSource(store.URL("failures", "there.json"), ""),
			opts:    source.Options{AmbientCredentials: true, AllowedEndpoints: loopbackStores},
			check:   isInvalid,
			wantMsg: "spec.source.objectStore.secretRef is required with an endpoint",
		},
		"an object the store has no ETag for": {
			src:     objectSource(store.URL("failures", "copied-by-hand.json"), "good-creds"),
			check:   isInvalid,
			wantMsg: "names an object its store sends no ETag or generation for",
		},
		"a bucket in another region": {
			src:     objectSource(store.URL("failures", "there.json")+"&region=eu-west-1", "good-creds"),
			check:   isInvalid,
			wantMsg: "names a bucket in",
		},
		"a URL of a store the operator knows nothing of": {
			src:     objectSource("ftp://bucket/file.json", "good-creds"),
			check:   func(err error) bool { _, ok := source.IsUnsupported(err); return ok },
			wantMsg: "spec.source.objectStore with a ftp:// URL is not supported yet",
		},
		"a store that cannot be reached": {
			src:     objectSource("s3://failures/there.json?endpoint=http://"+closedPort, "good-creds"),
			check:   func(err error) bool { _, ok := source.IsUnavailable(err); return ok },
			wantMsg: "object s3://failures/there.json could not be read",
		},
	}
	for name, tc := range tests {
		if tc.opts.AllowedEndpoints.IsZero() {
			tc.opts.AllowedEndpoints = loopbackStores // the store and the closed port
			tests[name] = tc
		}
	}
	expectOpenFailures(t, tests, store.SecretKey, "hidden")
}

// openFailure is a source that Open and Revision must refuse, and how.
type openFailure struct {
	src     importsv1alpha1.Source
	opts    source.Options
	check   func(error) bool
	wantMsg string
}

// expectOpenFailures opens each source and asks its revision: both must
// fail with the error the test names, whose message holds none of never
// (the secrets the sources were given).
func expectOpenFailures(t *testing.T, tests map[string]openFailure, never ...string) {
	ctx := context.Background()
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f, err := source.Open(ctx, k8sClient, "default", tc.src, tc.opts)
			g.Expect(f).To(BeNil())
			g.Expect(err).To(HaveOccurred())
			g.Expect(tc.check(err)).To(BeTrue(), "wrong kind of error: %T %v", err, err)
			g.Expect(err.Error()).To(ContainSubstring(tc.wantMsg))
			for _, secret := range never {
				g.Expect(err.Error()).NotTo(ContainSubstring(secret), "a secret must never show")
			}

			// Revision fails the same way, without reading the object.
			_, err = source.Revision(ctx, k8sClient, "default", tc.src, tc.opts)
			g.Expect(err).To(HaveOccurred())
			g.Expect(tc.check(err)).To(BeTrue(), "Revision: wrong kind of error: %T %v", err, err)
			g.Expect(err.Error()).To(ContainSubstring(tc.wantMsg))
		})
	}
}

func isNotFound(err error) bool     { _, ok := source.IsNotFound(err); return ok }
func isAccessDenied(err error) bool { _, ok := source.IsAccessDenied(err); return ok }
func isInvalid(err error) bool      { _, ok := source.IsInvalid(err); return ok }
