package secrets_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/localytics-operator/localytics-operator/internal/secrets"
)

// oneSecret is a reader of the API server that holds one Secret. (The
// packages that use Policy test it against a real API server.)
type oneSecret struct {
	client.Reader
	secret *corev1.Secret
}

func (r oneSecret) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if r.secret == nil || key.Namespace != r.secret.Namespace || key.Name != r.secret.Name {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, key.Name)
	}
	r.secret.DeepCopyInto(obj.(*corev1.Secret))
	return nil
}

func TestPolicyGet(t *testing.T) {
	secret := func(labels map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "creds", Labels: labels}}
	}
	strict := secrets.Policy{RequireLabel: true}
	tests := map[string]struct {
		policy      secrets.Policy
		secret      *corev1.Secret
		notLabelled bool
		notFound    bool
	}{
		"by default, any Secret":                     {secret: secret(nil)},
		"with the label required, a labelled Secret": {policy: strict, secret: secret(map[string]string{secrets.LabelUse: "true"})},
		"with the label required, an unlabelled Secret is refused": {
			policy: strict, secret: secret(map[string]string{"app": "crm"}), notLabelled: true,
		},
		"with the label required, a label that is not true is refused": {
			policy: strict, secret: secret(map[string]string{secrets.LabelUse: "yes"}), notLabelled: true,
		},
		"a missing Secret is the reader's NotFound": {policy: strict, notFound: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := tc.policy.Get(context.Background(), oneSecret{secret: tc.secret}, "team-a", "creds")
			switch {
			case tc.notLabelled:
				nl, ok := secrets.IsNotLabelled(err)
				g.Expect(ok).To(BeTrue(), "wrong kind of error: %T %v", err, err)
				g.Expect(nl.Name).To(Equal("creds"))
				g.Expect(err.Error()).To(ContainSubstring(`Secret "creds" lacks the label imports.localytics.dev/use: "true"`))
				g.Expect(err.Error()).To(ContainSubstring("--require-secret-label"))
				g.Expect(err.Error()).To(ContainSubstring("kubectl label secret -n team-a creds imports.localytics.dev/use=true"))
				g.Expect(got).To(BeNil())
			case tc.notFound:
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
				g.Expect(got).To(BeNil())
			default:
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got.Name).To(Equal("creds"))
			}
		})
	}
}
