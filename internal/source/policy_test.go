package source_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/localytics-operator/localytics-operator/internal/endpoints"
	"github.com/localytics-operator/localytics-operator/internal/secrets"
	"github.com/localytics-operator/localytics-operator/internal/source"
)

// secretCounter is a reader of the API server that counts the Secrets read
// through it.
type secretCounter struct {
	client.Reader
	reads atomic.Int64
}

func (r *secretCounter) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		r.reads.Add(1)
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// TestObjectStoreEndpointAllowlist sends an import's Secret to no endpoint
// the operator does not allow: the Secret is not read and the endpoint gets
// no request.
func TestObjectStoreEndpointAllowlist(t *testing.T) {
	ctx := context.Background()
	createStoreSecret(t, "allowlist-creds", storeCredentials())
	NewWithT(t).Expect(store.Put(ctx, "allowlist", "profiles.json", []byte("{}\n"))).To(Succeed())

	// A store of the import author's choosing, which counts what reaches it.
	var requests atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(trap.Close)
	trapPort := trap.URL[strings.LastIndex(trap.URL, ":")+1:]
	at := func(endpoint string) string { return "s3://loot/profiles.json?endpoint=" + endpoint }

	tests := map[string]struct {
		url     string
		allowed string // the operator's --allowed-object-store-endpoints
		// asked: the endpoint is allowed and so asked; otherwise refused.
		asked bool
	}{
		"an endpoint, from an operator that allows none": {url: at(trap.URL)},
		"versitygw itself, from an operator that allows none": {
			url: store.URL("allowlist", "profiles.json"),
		},
		"an endpoint on a port the allowlist does not name": {
			url: at(trap.URL), allowed: store.Endpoint,
		},
		"an endpoint on a host the allowlist does not name": {
			url: at("http://localhost:" + trapPort), allowed: "http://127.0.0.1",
		},
		"plain http to a host the allowlist names with https": {
			url: at(trap.URL), allowed: "https://127.0.0.1",
		},
		"an endpoint outside the path the allowlist names": {
			url: at(trap.URL + "/other"), allowed: trap.URL + "/s3",
		},
		"an allowed endpoint is asked (the trap counts)": {
			url: at(trap.URL), allowed: "http://127.0.0.1", asked: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			opts := source.Options{}
			if tc.allowed != "" {
				opts.AllowedEndpoints = endpoints.MustParse(tc.allowed)
			}
			reader := &secretCounter{Reader: k8sClient}
			requests.Store(0)
			src := objectSource(tc.url, "allowlist-creds")

			f, openErr := source.Open(ctx, reader, "default", src, opts)
			_, revErr := source.Revision(ctx, reader, "default", src, opts)
			g.Expect(f).To(BeNil())
			if tc.asked {
				g.Expect(requests.Load()).To(BeNumerically(">", 0))
				g.Expect(reader.reads.Load()).To(BeNumerically(">", 0))
				_, ok := source.IsEndpointNotAllowed(openErr)
				g.Expect(ok).To(BeFalse(), "%v", openErr)
				return
			}
			for _, err := range []error{openErr, revErr} {
				e, ok := source.IsEndpointNotAllowed(err)
				g.Expect(ok).To(BeTrue(), "wrong kind of error: %T %v", err, err)
				g.Expect(err.Error()).To(ContainSubstring("spec.source.objectStore.url names the endpoint "))
				g.Expect(err.Error()).To(ContainSubstring("--allowed-object-store-endpoints"))
				g.Expect(e.Endpoint).NotTo(ContainSubstring("/other"), "only the scheme and host are echoed")
			}
			g.Expect(requests.Load()).To(BeZero(), "no request reaches an endpoint that is not allowed")
			g.Expect(store.Requests("GetObject", "allowlist", "profiles.json")).To(BeZero())
			g.Expect(store.Requests("HeadObject", "allowlist", "profiles.json")).To(BeZero())
			g.Expect(reader.reads.Load()).To(BeZero(), "the Secret is not even read")
		})
	}
}

// TestObjectStoreSecretLabel uses, under a policy that requires the label,
// only a store Secret that carries it, and asks the store nothing before.
func TestObjectStoreSecretLabel(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	g.Expect(store.Put(ctx, "labels", "profiles.json", []byte("{}\n"))).To(Succeed())
	createStoreSecret(t, "unlabelled-creds", storeCredentials())
	src := objectSource(store.URL("labels", "profiles.json"), "unlabelled-creds")
	strict := storeOptions()
	strict.SecretPolicy = secrets.Policy{RequireLabel: true}

	f, err := source.Open(ctx, k8sClient, "default", src, strict)
	g.Expect(f).To(BeNil())
	nl, ok := secrets.IsNotLabelled(err)
	g.Expect(ok).To(BeTrue(), "wrong kind of error: %T %v", err, err)
	g.Expect(nl.Name).To(Equal("unlabelled-creds"))
	g.Expect(err.Error()).To(ContainSubstring(`lacks the label imports.localytics.dev/use: "true"`))
	_, err = source.Revision(ctx, k8sClient, "default", src, strict)
	_, ok = secrets.IsNotLabelled(err)
	g.Expect(ok).To(BeTrue(), "Revision: wrong kind of error: %T %v", err, err)
	g.Expect(store.Requests("GetObject", "labels", "profiles.json")).To(BeZero())
	g.Expect(store.Requests("HeadObject", "labels", "profiles.json")).To(BeZero())

	// Without the policy the same Secret is used...
	f, err = source.Open(ctx, k8sClient, "default", src, storeOptions())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.Close()).To(Succeed())

	// ...and with it, once labelled.
	var secret corev1.Secret
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: "default", Name: "unlabelled-creds"}, &secret)).To(Succeed())
	secret.Labels = map[string]string{secrets.LabelUse: secrets.LabelUseValue}
	g.Expect(k8sClient.Update(ctx, &secret)).To(Succeed())
	f, err = source.Open(ctx, k8sClient, "default", src, strict)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(f.Close()).To(Succeed())
	_, err = source.Revision(ctx, k8sClient, "default", src, strict)
	g.Expect(err).NotTo(HaveOccurred())
}
