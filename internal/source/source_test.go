package source_test

import (
	"context"
	"io"
	"os"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/source"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// The sources are read from a real API server and a real object store.
var (
	k8sClient client.Client
	store     *testenv.ObjectStore
	gcs       *testenv.GCSEmulator
	azurite   *testenv.Azurite
)

func TestMain(m *testing.M) {
	// Nothing here may reach for the cloud's instance metadata (the AWS
	// SDK's last resort for credentials): every test names its Secret.
	_ = os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	env, err := testenv.New()
	if err != nil {
		panic(err)
	}
	cfg, err := env.Start()
	if err != nil {
		panic(err)
	}
	if store, err = testenv.StartObjectStore(); err != nil {
		_ = env.Stop()
		panic(err)
	}
	if gcs, err = testenv.StartGCSEmulator(); err != nil {
		_ = env.Stop()
		panic(err)
	}
	// gs:// reads go to the emulator, as an operator started with it in
	// its environment sends them.
	_ = os.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	if azurite, err = testenv.StartAzurite(); err != nil {
		_ = env.Stop()
		panic(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	_ = store.Stop()
	gcs.Stop()
	_ = azurite.Stop()
	if err := env.Stop(); err != nil {
		panic(err)
	}
	os.Exit(code)
}

func configMapSource(name, key string) importsv1alpha1.Source {
	return importsv1alpha1.Source{ConfigMapRef: &importsv1alpha1.ConfigMapKeyReference{Name: name, Key: key}}
}

func TestOpen(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "files"},
		Data:       map[string]string{"text.json": "{\"customer_id\":\"c1\"}\n"},
		BinaryData: map[string][]byte{"binary.csv": []byte("customer_id,plan\r\nc1,\xc3\xa9t\xc3\xa9\r\n")},
	}
	g.Expect(k8sClient.Create(ctx, cm)).To(Succeed())

	tests := map[string]struct {
		src     importsv1alpha1.Source
		want    string
		wantErr string
		check   func(g Gomega, err error)
	}{
		"reads a key of data": {
			src:  configMapSource("files", "text.json"),
			want: "{\"customer_id\":\"c1\"}\n",
		},
		"reads a key of binaryData": {
			src:  configMapSource("files", "binary.csv"),
			want: "customer_id,plan\r\nc1,\xc3\xa9t\xc3\xa9\r\n",
		},
		"names a missing ConfigMap": {
			src:     configMapSource("absent", "text.json"),
			wantErr: `ConfigMap "absent" not found in namespace "default"`,
			check: func(g Gomega, err error) {
				nf, ok := source.IsNotFound(err)
				g.Expect(ok).To(BeTrue())
				g.Expect(nf.Name).To(Equal("absent"))
				g.Expect(nf.Key).To(BeEmpty())
			},
		},
		"names a missing key": {
			src:     configMapSource("files", "other.json"),
			wantErr: `ConfigMap "files" has no key "other.json" in data or binaryData`,
			check: func(g Gomega, err error) {
				nf, ok := source.IsNotFound(err)
				g.Expect(ok).To(BeTrue())
				g.Expect(nf.Key).To(Equal("other.json"))
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f, err := source.Open(ctx, k8sClient, "default", tc.src, source.Options{})
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				g.Expect(f).To(BeNil())
				tc.check(g, err)
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			defer func() { g.Expect(f.Close()).To(Succeed()) }()
			content, err := io.ReadAll(f)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(content)).To(Equal(tc.want))
			g.Expect(f.Size).To(Equal(int64(len(tc.want))))
			g.Expect(f.Revision).To(Equal(cm.ResourceVersion))
			g.Expect(f.Description).To(ContainSubstring(`ConfigMap "files"`))
		})
	}
}

func TestOpenReadsTheLatestVersion(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "changing"},
		Data:       map[string]string{"f": "one\n"},
	}
	g.Expect(k8sClient.Create(ctx, cm)).To(Succeed())
	first, err := source.Open(ctx, k8sClient, "default", configMapSource("changing", "f"), source.Options{})
	g.Expect(err).NotTo(HaveOccurred())

	cm.Data["f"] = "two\n"
	g.Expect(k8sClient.Update(ctx, cm)).To(Succeed())
	second, err := source.Open(ctx, k8sClient, "default", configMapSource("changing", "f"), source.Options{})
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(second.Revision).NotTo(Equal(first.Revision), "a new version has a new revision")
	content, err := io.ReadAll(second)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(content)).To(Equal("two\n"))

	// Revision tells the same without reading the data.
	rev, err := source.Revision(ctx, k8sClient, "default", configMapSource("changing", "f"), source.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rev).To(Equal(second.Revision))
	_, err = source.Revision(ctx, k8sClient, "default", configMapSource("absent", "f"), source.Options{})
	g.Expect(err).To(MatchError(`ConfigMap "absent" not found in namespace "default"`))
}
