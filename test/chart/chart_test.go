// Package chart_test checks the Helm chart charts/localytics-operator against
// config/default: that it is what `make chart` writes from config/default
// now, and that Helm renders it, with its default values, into the objects of
// `kubectl kustomize config/default` (the image set as build-installer sets
// it), and with other values into a Deployment that has them. No API server is
// needed; the rendering uses the kubectl that `make control-plane` builds.
package chart_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/localytics-operator/localytics-operator/internal/chartgen"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

const namespace = "localytics-operator-system"

func chartDir() string { return filepath.Join(testenv.RepoRoot(), "charts", "localytics-operator") }

// kustomize is `kubectl kustomize config/default` with the kubectl of bin/k8s,
// skipping the test if there is none.
func kustomize(t *testing.T) []byte {
	t.Helper()
	kubectl, err := testenv.Kubectl()
	if err == nil {
		_, err = os.Stat(kubectl)
	}
	if err != nil {
		t.Skipf("no kubectl to render config/default with (run 'make control-plane' or set KUBEBUILDER_ASSETS): %v", err)
	}
	cmd := exec.Command(kubectl, "kustomize", filepath.Join(testenv.RepoRoot(), "config", "default"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v\n%s", err, stderr.String())
	}
	return out
}

// TestChartUpToDate fails if the committed chart is not what `make chart`
// writes now, as when config/ changed without `make chart`.
func TestChartUpToDate(t *testing.T) {
	want, err := chartgen.Generate(kustomize(t), chartgen.DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, name := range []string{"Chart.yaml", "values.yaml"} {
		if b, err := os.ReadFile(filepath.Join(chartDir(), name)); err == nil {
			got[name] = b
		}
	}
	for _, dir := range []string{"templates", "crds"} {
		entries, err := os.ReadDir(filepath.Join(chartDir(), dir))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(chartDir(), dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			got[dir+"/"+e.Name()] = b
		}
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s is missing: run 'make chart' and commit it", name)
		case !bytes.Equal(g, w):
			t.Errorf("%s is out of date: run 'make chart' and commit it", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is not written by 'make chart' from config/default: run 'make chart'", name)
		}
	}
}

type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	raw []byte
}

func (o object) key() string { return o.Kind + "/" + o.Metadata.Namespace + "/" + o.Metadata.Name }

func parse(t *testing.T, what string, raw string) []object {
	t.Helper()
	var objs []object
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(raw, -1) {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, doc)
		}
		if o.Kind != "" {
			o.raw = []byte(doc)
			objs = append(objs, o)
		}
	}
	return objs
}

// helmTemplate renders the chart as `helm template localytics-operator
// charts/localytics-operator -n localytics-operator-system --include-crds`
// with the values vals would.
func helmTemplate(t *testing.T, vals map[string]any) []object {
	t.Helper()
	ch, err := loader.Load(chartDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		t.Fatal(err)
	}
	values, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: "localytics-operator", Namespace: namespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := engine.Render(ch, values)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []object
	for _, n := range names {
		objs = append(objs, parse(t, n, rendered[n])...)
	}
	for _, crd := range ch.CRDObjects() {
		objs = append(objs, parse(t, crd.Filename, string(crd.File.Data))...)
	}
	return objs
}

func byKey(objs []object) map[string]object {
	m := map[string]object{}
	for _, o := range objs {
		m[o.key()] = o
	}
	return m
}

func deployment(t *testing.T, objs []object) *appsv1.Deployment {
	t.Helper()
	var found []*appsv1.Deployment
	for _, o := range objs {
		if o.Kind == "Deployment" {
			d := new(appsv1.Deployment)
			if err := yaml.UnmarshalStrict(o.raw, d); err != nil {
				t.Fatalf("Deployment %s: %v", o.Metadata.Name, err)
			}
			found = append(found, d)
		}
	}
	if len(found) != 1 || len(found[0].Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one Deployment with one container, the manager's")
	}
	return found[0]
}

// makefileImage is the Makefile's default IMG, the image build-installer sets.
func makefileImage(t *testing.T) string {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^IMG \?= (\S+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no IMG ?= in the Makefile")
	}
	return string(m[1])
}

// TestDefaultValuesRenderConfigDefault: the chart with its default values is
// config/default, less the Namespace (Helm's --create-namespace makes it,
// unless namespace.create).
func TestDefaultValuesRenderConfigDefault(t *testing.T) {
	want := parse(t, "config/default", string(kustomize(t)))
	got := helmTemplate(t, nil)
	wantByKey, gotByKey := byKey(want), byKey(got)
	for k, w := range wantByKey {
		g, ok := gotByKey[k]
		if w.Kind == "Namespace" {
			if ok {
				t.Errorf("the chart makes %s by default; want it only with namespace.create", k)
			}
			continue
		}
		if !ok {
			t.Errorf("config/default has %s, the chart does not", k)
			continue
		}
		if w.Kind == "CustomResourceDefinition" {
			var wm, gm map[string]any
			if err := yaml.Unmarshal(w.raw, &wm); err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(g.raw, &gm); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(wm, gm) {
				t.Errorf("%s differs from config/default's", k)
			}
		}
	}
	for k := range gotByKey {
		if _, ok := wantByKey[k]; !ok {
			t.Errorf("the chart has %s, config/default does not", k)
		}
	}

	wd, gd := deployment(t, want), deployment(t, got)
	wc, gc := wd.Spec.Template.Spec.Containers[0], gd.Spec.Template.Spec.Containers[0]
	if img := makefileImage(t); gc.Image != img {
		t.Errorf("default image %q, want the Makefile's IMG %q", gc.Image, img)
	}
	if !slices.Equal(gc.Args, wc.Args) {
		t.Errorf("args %q, want config/default's %q", gc.Args, wc.Args)
	}
	if !slices.Equal(gc.Command, wc.Command) {
		t.Errorf("command %q, want config/default's %q", gc.Command, wc.Command)
	}
	if !equality.Semantic.DeepEqual(gc.SecurityContext, wc.SecurityContext) {
		t.Errorf("container securityContext %+v, want config/default's %+v", gc.SecurityContext, wc.SecurityContext)
	}
	if !equality.Semantic.DeepEqual(gd.Spec.Template.Spec.SecurityContext, wd.Spec.Template.Spec.SecurityContext) {
		t.Errorf("pod securityContext differs from config/default's")
	}
	// Everything else of the Deployment, but for the image and the managed-by
	// label, is config/default's.
	wd.Spec.Template.Spec.Containers[0].Image = gc.Image
	if gc.ImagePullPolicy == "IfNotPresent" && wc.ImagePullPolicy == "" {
		wd.Spec.Template.Spec.Containers[0].ImagePullPolicy = gc.ImagePullPolicy
	}
	wd.Labels["app.kubernetes.io/managed-by"] = gd.Labels["app.kubernetes.io/managed-by"]
	if !equality.Semantic.DeepEqual(gd, wd) {
		t.Errorf("the Deployment differs from config/default's:\nchart: %+v\nconfig/default: %+v", gd.Spec, wd.Spec)
	}
}

func TestOverriddenValues(t *testing.T) {
	kustomize(t) // skip where config/default cannot be rendered, as the other tests do
	got := helmTemplate(t, map[string]any{
		"image":                       map[string]any{"repository": "registry.example.com/localytics-operator", "tag": "v9.9.9", "pullPolicy": "Always"},
		"replicaCount":                3,
		"watchNamespaces":             []any{"team-a", "team-b"},
		"logLevel":                    "debug",
		"leaderElection":              map[string]any{"enabled": false},
		"metrics":                     map[string]any{"port": 9443, "secure": false},
		"allowedEndpoints":            []any{"https://api.localytics.com", "http://sim:8080"},
		"allowedObjectStoreEndpoints": []any{"https://minio.example.com"},
		"requireSecretLabel":          true,
		"resources":                   map[string]any{"limits": map[string]any{"memory": "1Gi"}},
		"namespace":                   map[string]any{"create": true},
	})
	d := deployment(t, got)
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example.com/localytics-operator:v9.9.9" || c.ImagePullPolicy != "Always" {
		t.Errorf("image %q pull policy %q", c.Image, c.ImagePullPolicy)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	wantArgs := []string{
		"--health-probe-bind-address=:8081",
		"--metrics-bind-address=:9443",
		"--metrics-secure=false",
		"--watch-namespaces=team-a,team-b",
		"--zap-log-level=debug",
		"--allowed-endpoints=https://api.localytics.com,http://sim:8080",
		"--allowed-object-store-endpoints=https://minio.example.com",
		"--require-secret-label",
	}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args %q, want %q", c.Args, wantArgs)
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == 9443 }) {
		t.Errorf("no container port metrics 9443: %+v", c.Ports)
	}
	// Helm merges the values given into the defaults: the requests stay.
	if c.Resources.Limits.Memory().String() != "1Gi" || c.Resources.Requests.Cpu().String() != "100m" {
		t.Errorf("resources %+v, want limits.memory 1Gi and the default requests", c.Resources)
	}
	keys := byKey(got)
	if _, ok := keys["Namespace//"+namespace]; !ok {
		t.Errorf("namespace.create: no Namespace %s", namespace)
	}
	svc, ok := keys["Service/"+namespace+"/localytics-operator-controller-manager-metrics-service"]
	if !ok {
		t.Fatal("no metrics Service")
	}
	if !strings.Contains(string(svc.raw), "port: 9443") || !strings.Contains(string(svc.raw), "name: http\n") {
		t.Errorf("metrics Service not on plain http 9443:\n%s", svc.raw)
	}

	// Metrics off: no Service, and the manager serves none.
	got = helmTemplate(t, map[string]any{"metrics": map[string]any{"enabled": false}})
	if _, ok := byKey(got)["Service/"+namespace+"/localytics-operator-controller-manager-metrics-service"]; ok {
		t.Error("metrics.enabled=false still makes the metrics Service")
	}
	if args := deployment(t, got).Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--metrics-bind-address=0") {
		t.Errorf("metrics.enabled=false: args %q, want --metrics-bind-address=0", args)
	}
}
