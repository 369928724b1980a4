package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// installImage is the manager's image the test renders the installer with:
// not the Makefile's default, so that the test sees IMG reach the file.
const installImage = "example.com/localytics-operator:test"

// TestInstaller installs the one-file installer as a user would, with kubectl
// only, on a real control plane (etcd and kube-apiserver from bin/k8s) that
// has no CRDs of the operator before: the installer must bring them.
//
//   - It renders install.yaml with the Makefile's own build-installer target,
//     into a temporary directory (DIST=...), with image IMG.
//   - `kubectl apply --server-side -f install.yaml` succeeds, twice, and then
//     every object of the file exists, its CRDs established and served.
//   - The operator's namespace enforces the restricted Pod Security Standard,
//     and the Deployment's pod template meets it: a Pod made of the template
//     is accepted (server-side dry run) there, while the same Pod without
//     runAsNonRoot, or privileged, is refused by pod security admission, and
//     accepted in a namespace without the label.
//   - The manager's service account may read Secrets and ConfigMaps in a
//     tenant's namespace but not write them, and may do what the manager does
//     (watch its resources, patch their status, record events, hold its lease).
//
// The manager itself does not run: a control plane alone has no nodes.
func TestInstaller(t *testing.T) {
	assets := needsControlPlane(t, false)
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skipf("no make to run the build-installer target with: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dist := t.TempDir()
	objects := installObjects(t, installRender(ctx, t, makeBin, assets, dist))
	f := installCheckFile(t, objects)

	k := installStartCluster(t)

	// The control plane starts without the operator's CRDs (testenv.New would
	// install them): the installer must.
	if out := k.must(ctx, t, "get", "customresourcedefinitions", "-o", "name"); strings.Contains(out, "localytics.dev") {
		t.Fatalf("the control plane has the operator's CRDs before the installer ran:\n%s", out)
	}

	file := filepath.Join(dist, "install.yaml")
	k.must(ctx, t, "apply", "--server-side", "-f", file)
	// Applying again, as an upgrade or a second run does, succeeds too.
	k.must(ctx, t, "apply", "--server-side", "-f", file)

	installCheckObjects(ctx, t, k, objects)
	for _, crd := range f.crds {
		k.must(ctx, t, "wait", "--for=condition=Established", "--timeout=60s", "customresourcedefinitions.v1.apiextensions.k8s.io/"+crd)
	}
	// The API of the CRDs is served: a user can list their objects.
	k.must(ctx, t, "get", "profileimports,audiencelists,localyticsaccounts", "--all-namespaces")

	serviceAccount := installCheckPodSecurity(ctx, t, k, f.namespace, f.deployment)
	installCheckRBAC(ctx, t, k, f.namespace, serviceAccount)
}

// installFile is what install.yaml holds that the test looks at.
type installFile struct {
	namespace, deployment string
	crds                  []string // sorted
}

// installCheckFile checks what install.yaml must hold, whatever else it holds,
// lest an empty or a truncated file pass the test.
func installCheckFile(t *testing.T, objects []*unstructured.Unstructured) installFile {
	t.Helper()
	var f installFile
	kinds := map[string]int{}
	for _, o := range objects {
		kinds[o.GetKind()]++
		switch o.GroupVersionKind() {
		case schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}:
			f.namespace = o.GetName()
		case schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}:
			f.deployment = o.GetName()
		case schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}:
			f.crds = append(f.crds, o.GetName())
		}
	}
	for kind, want := range map[string]int{
		"Namespace": 1, "CustomResourceDefinition": 4, "ServiceAccount": 1, "Deployment": 1,
		"Role": 1, "RoleBinding": 1, "ClusterRole": 3, "ClusterRoleBinding": 2, "Service": 1,
	} {
		if kinds[kind] != want {
			t.Errorf("install.yaml holds %d objects of kind %s, want %d", kinds[kind], kind, want)
		}
	}
	slices.Sort(f.crds)
	if want := []string{
		"audiencelists.imports.localytics.dev",
		"localyticsaccounts.imports.localytics.dev",
		"profileimports.imports.localytics.dev",
		"uploadledgers.imports.localytics.dev",
	}; !slices.Equal(f.crds, want) {
		t.Errorf("install.yaml holds the CRDs %v, want %v", f.crds, want)
	}
	if t.Failed() {
		t.FailNow()
	}
	return f
}

// installCheckObjects checks that every object of install.yaml exists on the
// API server, of its kind and namespace, with its labels.
func installCheckObjects(ctx context.Context, t *testing.T, k installKubectl, objects []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objects {
		args := []string{"get", installResourceArg(o.GroupVersionKind()), o.GetName(), "-o", "json"}
		if o.GetNamespace() != "" {
			args = append(args, "--namespace", o.GetNamespace())
		}
		out, err := k.run(ctx, args...)
		if err != nil {
			t.Errorf("%s %s/%s of install.yaml: %v", o.GetAPIVersion(), o.GetKind(), o.GetName(), err)
			continue
		}
		var live unstructured.Unstructured
		if err := live.UnmarshalJSON([]byte(out)); err != nil {
			t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		if live.GroupVersionKind() != o.GroupVersionKind() || live.GetName() != o.GetName() || live.GetNamespace() != o.GetNamespace() {
			t.Errorf("kubectl %s returned %s %s/%s in namespace %q, want %s %s/%s in %q", strings.Join(args, " "),
				live.GetAPIVersion(), live.GetKind(), live.GetName(), live.GetNamespace(),
				o.GetAPIVersion(), o.GetKind(), o.GetName(), o.GetNamespace())
		}
		for key, value := range o.GetLabels() {
			if got, ok := live.GetLabels()[key]; !ok || got != value {
				t.Errorf("%s %s/%s: label %s is %q on the API server, %q in install.yaml", o.GetKind(), o.GetNamespace(), o.GetName(), key, got, value)
			}
		}
	}
}

// installCheckPodSecurity checks that the namespace enforces the restricted
// Pod Security Standard, that the Deployment's pod template meets it, and that
// the enforcement is real. It returns the Deployment's service account.
//
// A Deployment whose template breaks the standard is still admitted (pod
// security only warns of workloads), and a control plane alone makes no Pods
// of it: so the test makes the Pod, as the ReplicaSet would, in a server-side
// dry run.
func installCheckPodSecurity(ctx context.Context, t *testing.T, k installKubectl, namespace, deployment string) string {
	t.Helper()
	var ns unstructured.Unstructured
	if err := ns.UnmarshalJSON([]byte(k.must(ctx, t, "get", "namespace", namespace, "-o", "json"))); err != nil {
		t.Fatal(err)
	}
	if got := ns.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace %s: label pod-security.kubernetes.io/enforce is %q, want restricted", namespace, got)
	}

	var deploy unstructured.Unstructured
	if err := deploy.UnmarshalJSON([]byte(k.must(ctx, t, "get", "deployments.v1.apps", deployment, "--namespace", namespace, "-o", "json"))); err != nil {
		t.Fatal(err)
	}
	containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("deployment %s/%s has %d containers, want 1", namespace, deployment, len(containers))
	}
	if image, _, _ := unstructured.NestedString(containers[0].(map[string]any), "image"); image != installImage {
		t.Errorf("deployment %s/%s runs image %q, want %q (IMG)", namespace, deployment, image, installImage)
	}
	serviceAccount, _, _ := unstructured.NestedString(deploy.Object, "spec", "template", "spec", "serviceAccountName")
	if serviceAccount == "" {
		t.Fatalf("deployment %s/%s names no service account", namespace, deployment)
	}

	podDir := t.TempDir()
	createPod := func(name, namespace string, edit func(spec map[string]any)) (string, error) {
		data, err := json.Marshal(installPodFromTemplate(t, &deploy, name, edit))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(podDir, name+".json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return k.run(ctx, "create", "--dry-run=server", "--namespace", namespace, "-f", path, "-o", "name")
	}
	if out, err := createPod("install-template", namespace, nil); err != nil {
		t.Errorf("a Pod of the Deployment's template is refused in namespace %s: %v", namespace, err)
	} else if strings.TrimSpace(out) != "pod/install-template" {
		t.Errorf("kubectl create --dry-run=server of a Pod of the Deployment's template printed %q", out)
	}

	// What breaks the standard is refused there, by pod security admission,
	// and accepted where the standard is not enforced.
	for _, c := range []struct {
		name, violation string
		edit            func(spec map[string]any)
	}{
		{
			name:      "install-root",
			violation: "runAsNonRoot != true",
			edit: func(spec map[string]any) {
				unstructured.RemoveNestedField(spec, "securityContext", "runAsNonRoot")
			},
		},
		{
			name:      "install-privileged",
			violation: "privileged",
			edit: func(spec map[string]any) {
				manager := spec["containers"].([]any)[0].(map[string]any)
				// allowPrivilegeEscalation false with privileged true is
				// invalid, refused before admission: drop it too.
				unstructured.RemoveNestedField(manager, "securityContext", "allowPrivilegeEscalation")
				if err := unstructured.SetNestedField(manager, true, "securityContext", "privileged"); err != nil {
					t.Fatal(err)
				}
			},
		},
	} {
		out, err := createPod(c.name, namespace, c.edit)
		switch {
		case err == nil:
			t.Errorf("a Pod of the Deployment's template with %s is accepted in namespace %s: %s", c.violation, namespace, out)
		case !strings.Contains(err.Error(), `violates PodSecurity "restricted:`) || !strings.Contains(err.Error(), c.violation):
			t.Errorf("a Pod of the Deployment's template with %s is refused in namespace %s, but not by pod security admission's restricted profile for %q: %v",
				c.violation, namespace, c.violation, err)
		default:
			t.Logf("refused as it should be: %v", err)
		}
		if out, err := createPod(c.name, "default", c.edit); err != nil {
			t.Errorf("a Pod of the Deployment's template with %s is refused in namespace default, which enforces no standard: %v (%s)", c.violation, err, out)
		}
	}
	return serviceAccount
}

// installCheckRBAC checks, with kubectl auth can-i, what the manager's service
// account may do: read but not write Secrets and ConfigMaps in a tenant's
// namespace, and what the manager does.
func installCheckRBAC(ctx context.Context, t *testing.T, k installKubectl, namespace, serviceAccount string) {
	t.Helper()
	// Authorization is real, not AlwaysAllow: a service account without
	// bindings may do nothing.
	k.canI(ctx, t, "system:serviceaccount:default:install-nobody", "default", "no", "get", "secrets")

	manager := "system:serviceaccount:" + namespace + ":" + serviceAccount
	const tenant = "default"
	for _, resource := range []string{"secrets", "configmaps"} {
		for _, verb := range []string{"get", "list", "watch"} {
			k.canI(ctx, t, manager, tenant, "yes", verb, resource)
		}
		for _, verb := range []string{"create", "update", "patch", "delete", "deletecollection"} {
			k.canI(ctx, t, manager, tenant, "no", verb, resource)
		}
	}
	for _, resource := range []string{"profileimports", "audiencelists", "localyticsaccounts"} {
		resource += ".imports.localytics.dev"
		for _, verb := range []string{"get", "list", "watch"} {
			k.canI(ctx, t, manager, tenant, "yes", verb, resource)
		}
		k.canI(ctx, t, manager, tenant, "yes", "patch", resource, "--subresource=status")
		// The manager never creates or deletes the users' objects.
		k.canI(ctx, t, manager, tenant, "no", "create", resource)
		k.canI(ctx, t, manager, tenant, "no", "delete", resource)
	}
	k.canI(ctx, t, manager, tenant, "yes", "update", "audiencelists.imports.localytics.dev", "--subresource=finalizers")
	k.canI(ctx, t, manager, tenant, "yes", "create", "events")
	k.canI(ctx, t, manager, tenant, "yes", "create", "events.events.k8s.io")
	k.canI(ctx, t, manager, tenant, "no", "create", "pods")
	// Leader election: the lease in its own namespace only.
	for _, verb := range []string{"get", "create", "update"} {
		k.canI(ctx, t, manager, namespace, "yes", verb, "leases.coordination.k8s.io")
	}
	k.canI(ctx, t, manager, tenant, "no", "update", "leases.coordination.k8s.io")
	// The metrics endpoint's authentication and authorization.
	k.canI(ctx, t, manager, "", "yes", "create", "tokenreviews.authentication.k8s.io")
	k.canI(ctx, t, manager, "", "yes", "create", "subjectaccessreviews.authorization.k8s.io")
}

// installRender runs `make build-installer` with DIST=dist and IMG=installImage
// from the repository's root and returns the install.yaml it wrote there.
//
// make runs with -o manifests -o control-plane: the target's prerequisites are
// taken as made. The recipe is the very one a release runs, but manifests
// would regenerate config/crd and config/rbac in the working tree from the Go
// sources, a change of the tree a test must not make (`make verify` checks
// that they are up to date), and control-plane is already there, or the test
// would have been skipped.
func installRender(ctx context.Context, t *testing.T, makeBin, assets, dist string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, makeBin, "-s", "-o", "manifests", "-o", "control-plane", "build-installer",
		"DIST="+dist, "IMG="+installImage)
	cmd.Dir = testenv.RepoRoot()
	// Not the flags and variables of a make this test may run under.
	env := os.Environ()
	for _, name := range []string{"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "KUBECTL_PINNED", "KUBEBUILDER_ASSETS"} {
		env = withoutEnv(env, name)
	}
	cmd.Env = append(env, "KUBEBUILDER_ASSETS="+assets)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("make build-installer DIST=%s IMG=%s: %v\n%s", dist, installImage, err, out.String())
	}
	file := filepath.Join(dist, "install.yaml")
	if want := fmt.Sprintf("wrote %s (image %s)", file, installImage); strings.TrimSpace(out.String()) != want {
		t.Errorf("make build-installer printed %q, want %q", out.String(), want)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("make build-installer DIST=%s: %v", dist, err)
	}
	if _, err := os.Stat(file + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("make build-installer left %s.tmp behind (%v)", file, err)
	}
	return data
}

// installObjects splits install.yaml into its objects.
func installObjects(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objects []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("install.yaml: %v", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		o := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &o.Object); err != nil {
			t.Fatalf("install.yaml: %v\n%s", err, doc)
		}
		if o.GetKind() == "" || o.GetName() == "" {
			t.Fatalf("install.yaml holds an object without kind or name:\n%s", doc)
		}
		objects = append(objects, o)
	}
	return objects
}

// installResourceArg names a kind for kubectl get, fully qualified so that no
// other API group's kind of the same name can answer: Kind.version.group, or
// Kind.version. (trailing dot) for the core group.
func installResourceArg(gvk schema.GroupVersionKind) string {
	if gvk.Group == "" {
		return gvk.Kind + "." + gvk.Version + "."
	}
	return gvk.Kind + "." + gvk.Version + "." + gvk.Group
}

// installPodFromTemplate wraps a copy of the Deployment's pod template as a Pod
// named name, edited by edit if not nil.
func installPodFromTemplate(t *testing.T, deploy *unstructured.Unstructured, name string, edit func(spec map[string]any)) map[string]any {
	t.Helper()
	template, found, err := unstructured.NestedMap(deploy.Object, "spec", "template")
	if err != nil || !found {
		t.Fatalf("deployment %s has no pod template (%v)", deploy.GetName(), err)
	}
	spec, _, _ := unstructured.NestedMap(template, "spec")
	if edit != nil {
		edit(spec)
	}
	labels, _, _ := unstructured.NestedStringMap(template, "metadata", "labels")
	metadata := map[string]any{"name": name}
	if len(labels) > 0 {
		l := map[string]any{}
		for key, value := range labels {
			l[key] = value
		}
		metadata["labels"] = l
	}
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
}

// installKubectl runs the pinned kubectl as the control plane's admin.
type installKubectl struct {
	bin, kubeconfig, cacheDir string
}

// installStartCluster starts a control plane without the operator's CRDs,
// stopped when the test ends, with RBAC authorization and pod security
// admission on, and returns a kubectl of its admin.
func installStartCluster(t *testing.T) installKubectl {
	t.Helper()
	c := startControlPlane(t, func(env *envtest.Environment) {
		env.CRDDirectoryPaths, env.ErrorIfCRDPathMissing = nil, false
		api := env.ControlPlane.GetAPIServer()
		// Both are envtest's and kube-apiserver's defaults: RBAC is envtest's
		// authorization mode, PodSecurity one of the admission plugins on by
		// default since Kubernetes 1.25. Set here all the same, since the test
		// means nothing without them.
		api.Configure().Set("authorization-mode", "RBAC")
		api.Configure().Append("enable-admission-plugins", "PodSecurity")
	})
	return installKubectl{bin: c.kubectlBin, kubeconfig: c.kubeconfig, cacheDir: c.cacheDir}
}

// run runs kubectl with args and returns its standard output; the error holds
// its standard error.
func (k installKubectl) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig", k.kubeconfig, "--cache-dir", k.cacheDir}, args...)...)
	cmd.Env = withoutEnv(os.Environ(), "KUBECONFIG")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// must runs kubectl and fails the test now if it fails.
func (k installKubectl) must(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	out, err := k.run(ctx, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// canI checks that `kubectl auth can-i verb resource --as=user` answers want
// ("yes" or "no") in namespace (all namespaces if empty).
func (k installKubectl) canI(ctx context.Context, t *testing.T, user, namespace, want, verb, resource string, extra ...string) {
	t.Helper()
	args := append([]string{"auth", "can-i", verb, resource, "--as=" + user}, extra...)
	if namespace != "" {
		args = append(args, "--namespace", namespace)
	}
	// can-i exits 1 when the answer is no.
	out, err := k.run(ctx, args...)
	got := strings.TrimSpace(out)
	var exit *exec.ExitError
	if err != nil && (got != "no" || !errors.As(err, &exit) || exit.ExitCode() != 1) {
		t.Errorf("%v", err)
		return
	}
	if got != want {
		where := "in namespace " + namespace
		if namespace == "" {
			where = "cluster-wide"
		}
		t.Errorf("%s may %s %s: %q, want %q", user, strings.Join(append([]string{verb, resource}, extra...), " "), where, got, want)
	}
}
