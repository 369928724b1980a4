// Package install_test checks what installs the operator on a cluster against
// itself: the Dockerfile against the Makefile's build target and the manager's
// Deployment, the Deployment's ports and probes against the manager's flags,
// and the rendered config/default against what a real cluster will demand of
// it (the restricted Pod Security Standard, probes, resource limits, RBAC that
// only reads Secrets and ConfigMaps). No API server is needed; the rendering
// uses the kubectl that `make control-plane` builds.
package install_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// instruction is one Dockerfile instruction, its continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY...
	args string
}

// stage is one FROM of a Dockerfile and the instructions after it.
type stage struct {
	from, name string
	instrs     []instruction
}

func readDockerfile(t *testing.T) []stage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		stages []stage
		line   string
	)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if line == "" && (text == "" || strings.HasPrefix(text, "#")) {
			continue
		}
		if strings.HasSuffix(text, `\`) {
			line += strings.TrimSuffix(text, `\`) + " "
			continue
		}
		line += text
		cmd, args, _ := strings.Cut(line, " ")
		line = ""
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				continue
			}
			t.Fatalf("Dockerfile: %s before the first FROM", in.cmd)
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a build stage and a final one", len(stages))
	}
	return stages
}

// last is the value of the last instruction cmd of s, "" if none.
func (s stage) last(cmd string) string {
	v := ""
	for _, in := range s.instrs {
		if in.cmd == cmd {
			v = in.args
		}
	}
	return v
}

var envAssignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// goBuild splits a shell command line into its leading VAR=value assignments
// and the `go build` command after them; ok is false if it is no go build.
func goBuild(line string) (env map[string]string, argv []string, ok bool) {
	f := strings.Fields(line)
	env = map[string]string{}
	for len(f) > 0 && envAssignment.MatchString(f[0]) {
		k, v, _ := strings.Cut(f[0], "=")
		env[k] = v
		f = f[1:]
	}
	if len(f) < 2 || f[0] != "go" || f[1] != "build" {
		return nil, nil, false
	}
	return env, f, true
}

// withOutputRelativeTo returns argv with the path of its -o made relative to
// dir, so that command lines run in different directories can be compared.
func withOutputRelativeTo(t *testing.T, argv []string, dir string) []string {
	t.Helper()
	out := slices.Clone(argv)
	for i, a := range out {
		var p string
		switch {
		case a == "-o" && i+1 < len(out):
			p = out[i+1]
		case strings.HasPrefix(a, "-o="):
			p = strings.TrimPrefix(a, "-o=")
		default:
			continue
		}
		if !path.IsAbs(p) {
			p = path.Join(dir, p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		if a == "-o" {
			out[i+1] = rel
		} else {
			out[i] = "-o=" + rel
		}
		return out
	}
	t.Fatalf("%q has no -o", strings.Join(argv, " "))
	return nil
}

var makeVar = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*(\?=|:=|::=|=)\s*(.*)$`)
var makeRef = regexp.MustCompile(`\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]`)

// makeBuildCommand is the `go build` line of the Makefile's build target, its
// variables expanded (CURDIR is the repository's root).
func makeBuildCommand(t *testing.T) []string {
	t.Helper()
	root := testenv.RepoRoot()
	raw, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"CURDIR": filepath.Clean(root)}
	var recipe []string
	inBuild := false
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "\t") {
			if inBuild {
				recipe = append(recipe, strings.TrimSpace(l))
			}
			continue
		}
		inBuild = strings.HasPrefix(l, "build:")
		if m := makeVar.FindStringSubmatch(l); m != nil {
			if _, set := vars[m[1]]; !set || m[2] != "?=" {
				vars[m[1]] = strings.TrimSpace(m[3])
			}
		}
	}
	var expand func(string, int) string
	expand = func(s string, depth int) string {
		if depth > 10 {
			t.Fatalf("Makefile: variables too deeply nested in %q", s)
		}
		return makeRef.ReplaceAllStringFunc(s, func(ref string) string {
			v, ok := vars[makeRef.FindStringSubmatch(ref)[1]]
			if !ok {
				t.Fatalf("Makefile: %s in the build target is not defined in the Makefile", ref)
			}
			return expand(v, depth+1)
		})
	}
	for _, l := range recipe {
		if env, argv, ok := goBuild(expand(strings.TrimLeft(l, "@-+"), 0)); ok {
			if len(env) > 0 {
				t.Logf("Makefile build target sets %v", env)
			}
			return withOutputRelativeTo(t, argv, root)
		}
	}
	t.Fatal("Makefile: no `go build` in the recipe of the build target")
	return nil
}

// The image builds the manager exactly as `make build` does, statically,
// with the Go of go.mod, from every package it needs, and runs it as the
// user and with the command of the Deployment.
func TestDockerfile(t *testing.T) {
	stages := readDockerfile(t)
	builder, final := stages[0], stages[len(stages)-1]

	goMod, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if m == nil {
		t.Fatal("go.mod: no go line")
	}
	if want := "golang:" + string(m[1]); builder.from != want && !strings.HasPrefix(builder.from, want+".") && !strings.HasPrefix(builder.from, want+"-") {
		t.Errorf("build stage FROM %s, want %s (go.mod's go %s)", builder.from, want, m[1])
	}

	workdir := builder.last("WORKDIR")
	if !path.IsAbs(workdir) {
		t.Fatalf("build stage: WORKDIR %q, want an absolute one", workdir)
	}
	var (
		dockerBuild []string
		dockerEnv   map[string]string
		copied      []string
	)
	for _, in := range builder.instrs {
		switch in.cmd {
		case "RUN":
			if env, argv, ok := goBuild(in.args); ok {
				if dockerBuild != nil {
					t.Errorf("build stage: more than one go build")
				}
				dockerEnv, dockerBuild = env, withOutputRelativeTo(t, argv, workdir)
			}
		case "COPY":
			f := strings.Fields(in.args)
			for _, src := range f[:len(f)-1] {
				if !strings.HasPrefix(src, "--") {
					copied = append(copied, strings.TrimSuffix(path.Clean(src), "/"))
				}
			}
		}
	}
	if dockerBuild == nil {
		t.Fatal("build stage: no RUN go build")
	}
	if dockerEnv["CGO_ENABLED"] != "0" {
		t.Errorf("build stage: go build without CGO_ENABLED=0 (the distroless static image has no libc)")
	}
	if want := makeBuildCommand(t); !slices.Equal(dockerBuild, want) {
		t.Errorf("build stage runs\n\t%s\nthe Makefile's build target\n\t%s", strings.Join(dockerBuild, " "), strings.Join(want, " "))
	}

	checkCopied(t, copied)

	if final.from != "gcr.io/distroless/static:nonroot" {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static:nonroot", final.from)
	}
	var entrypoint []string
	if err := json.Unmarshal([]byte(final.last("ENTRYPOINT")), &entrypoint); err != nil || len(entrypoint) == 0 {
		t.Fatalf("final stage: ENTRYPOINT %q, want the exec (JSON) form: %v", final.last("ENTRYPOINT"), err)
	}
	// The binary the entrypoint runs is the one go build wrote.
	i := slices.Index(dockerBuild, "-o")
	if i < 0 {
		t.Fatalf("build stage: write the binary with -o PATH, not -o=PATH (the test reads that form only)")
	}
	builtAt := path.Join(workdir, dockerBuild[i+1])
	wantCopy := "--from=" + builder.name + " " + builtAt + " " + entrypoint[0]
	if !slices.ContainsFunc(final.instrs, func(in instruction) bool {
		return in.cmd == "COPY" && strings.Join(strings.Fields(in.args), " ") == wantCopy
	}) {
		t.Errorf("final stage: no COPY %s (the built binary to the ENTRYPOINT)", wantCopy)
	}

	checkRunsAs(t, final, entrypoint)
}

// checkCopied fails if the build stage does not copy every package of the
// module that the manager imports.
func checkCopied(t *testing.T, copied []string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-C", testenv.RepoRoot(), "-deps",
		"-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list -deps .: %v", err)
	}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(testenv.RepoRoot(), dir)
		if err != nil {
			t.Fatal(err)
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			// The main package: its files at the root must be copied one by one.
			files, err := filepath.Glob(filepath.Join(dir, "*.go"))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if name := filepath.Base(f); !strings.HasSuffix(name, "_test.go") && !slices.Contains(copied, name) && !slices.Contains(copied, ".") {
					t.Errorf("build stage does not COPY %s, a file of the manager's main package", name)
				}
			}
			continue
		}
		if !slices.ContainsFunc(copied, func(c string) bool { return c == "." || rel == c || strings.HasPrefix(rel, c+"/") }) {
			t.Errorf("build stage does not COPY %s/, a package the manager imports", rel)
		}
	}
}

// checkRunsAs fails unless the Deployment runs the image's ENTRYPOINT as its USER.
func checkRunsAs(t *testing.T, final stage, entrypoint []string) {
	t.Helper()
	user, group, _ := strings.Cut(final.last("USER"), ":")
	uid, err := strconv.ParseInt(user, 10, 64)
	if err != nil {
		t.Fatalf("final stage: USER %q, want a numeric uid (runAsNonRoot needs one): %v", final.last("USER"), err)
	}
	d := managerDeployment(t, readObjects(t, filepath.Join(testenv.RepoRoot(), "config", "manager", "manager.yaml")))
	c := d.Spec.Template.Spec.Containers[0]
	pod, ctr := d.Spec.Template.Spec.SecurityContext, c.SecurityContext
	runAsUser, runAsGroup := (*int64)(nil), (*int64)(nil)
	if pod != nil {
		runAsUser, runAsGroup = pod.RunAsUser, pod.RunAsGroup
	}
	if ctr != nil && ctr.RunAsUser != nil {
		runAsUser = ctr.RunAsUser
	}
	if ctr != nil && ctr.RunAsGroup != nil {
		runAsGroup = ctr.RunAsGroup
	}
	if runAsUser == nil || *runAsUser != uid {
		t.Errorf("the Deployment's runAsUser is %v, the image's USER %d", deref(runAsUser), uid)
	}
	if group != "" {
		if gid, err := strconv.ParseInt(group, 10, 64); err != nil || runAsGroup == nil || *runAsGroup != gid {
			t.Errorf("the Deployment's runAsGroup is %v, the image's USER group %s", deref(runAsGroup), group)
		}
	}
	if !slices.Equal(c.Command, entrypoint) {
		t.Errorf("the container's command is %q, the image's ENTRYPOINT %q", c.Command, entrypoint)
	}
}

func deref(p *int64) any {
	if p == nil {
		return "unset"
	}
	return *p
}

// The Docker build context leaves out what the build does not need.
func TestDockerignore(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.Trim(l, "/"))
		}
	}
	for _, want := range []string{".git", "bin", "dist"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore does not leave out %s/", want)
		}
	}
	for _, needed := range []string{"go.mod", "go.sum", "main.go", "api", "controllers", "internal"} {
		if slices.Contains(patterns, needed) {
			t.Errorf(".dockerignore leaves out %s, which the build copies", needed)
		}
	}
}

type object struct {
	raw  []byte
	meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
	}
}

func parseObjects(t *testing.T, what string, raw []byte) []object {
	t.Helper()
	var objs []object
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		o := object{raw: []byte(doc)}
		if err := yaml.Unmarshal(o.raw, &o.meta); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if o.meta.Kind != "" {
			objs = append(objs, o)
		}
	}
	return objs
}

func readObjects(t *testing.T, file string) []object {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return parseObjects(t, file, raw)
}

// render is `kubectl kustomize config/<dir>` with the kubectl of bin/k8s,
// skipping the test if there is none.
func render(t *testing.T, dir string) []object {
	t.Helper()
	kubectl, err := testenv.Kubectl()
	if err == nil {
		_, err = os.Stat(kubectl)
	}
	if err != nil {
		t.Skipf("no kubectl to render config/%s with (run 'make control-plane' or set KUBEBUILDER_ASSETS): %v", dir, err)
	}
	cmd := exec.Command(kubectl, "kustomize", filepath.Join(testenv.RepoRoot(), "config", dir))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/%s: %v\n%s", dir, err, stderr.String())
	}
	return parseObjects(t, "config/"+dir, out)
}

func decode[T any](t *testing.T, o object) *T {
	t.Helper()
	v := new(T)
	if err := yaml.UnmarshalStrict(o.raw, v); err != nil {
		t.Fatalf("%s %s: %v", o.meta.Kind, o.meta.Metadata.Name, err)
	}
	return v
}

func managerDeployment(t *testing.T, objs []object) *appsv1.Deployment {
	t.Helper()
	var found []*appsv1.Deployment
	for _, o := range objs {
		if o.meta.Kind == "Deployment" {
			found = append(found, decode[appsv1.Deployment](t, o))
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d Deployments, want the manager's only", len(found))
	}
	if n := len(found[0].Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the Deployment has %d containers, want the manager only", n)
	}
	return found[0]
}

// flags are the container's --name=value arguments; a bare --name is "true".
func flags(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	f := map[string]string{}
	for _, a := range c.Args {
		if !strings.HasPrefix(a, "--") {
			t.Fatalf("argument %q: want --name=value (the test reads no other form)", a)
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			v = "true"
		}
		f[k] = v
	}
	return f
}

// flagPort is the port of the address flag name.
func flagPort(t *testing.T, f map[string]string, name string) int32 {
	t.Helper()
	addr, ok := f[name]
	if !ok {
		t.Fatalf("the manager has no --%s", name)
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("--%s=%s: %v", name, addr, err)
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		t.Fatalf("--%s=%s: %v", name, addr, err)
	}
	return int32(n)
}

// containerPort resolves p, a number or a name of one of c's ports.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("no container port named %q", p.StrVal)
	return 0
}

func hasContainerPort(c corev1.Container, port int32) bool {
	return slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == port })
}

// The Deployment is one a cluster enforcing the restricted Pod Security
// Standard admits, whose probes and Service reach the ports the manager
// listens on, with leader election, resource requests and limits.
func TestDefaultDeployment(t *testing.T) {
	objs := render(t, "default")
	d := managerDeployment(t, objs)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	f := flags(t, c)

	if f["leader-elect"] != "true" {
		t.Errorf("the manager runs without --leader-elect: two replicas (a rollout) would both upload")
	}

	health := flagPort(t, f, "health-probe-bind-address")
	if !hasContainerPort(c, health) {
		t.Errorf("no container port %d, the one of --health-probe-bind-address", health)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s path %s, want %s", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if port := containerPort(t, c, p.probe.HTTPGet.Port); port != health {
			t.Errorf("%s port %d, --health-probe-bind-address's %d", p.name, port, health)
		}
	}

	checkMetricsService(t, objs, d, f)

	checkRestricted(t, pod.SecurityContext, c.SecurityContext)

	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := req[r]; !ok || q.IsZero() {
			t.Errorf("no %s request", r)
		}
	}
	if q, ok := lim[corev1.ResourceMemory]; !ok || q.IsZero() {
		t.Errorf("no memory limit")
	} else if r := req[corev1.ResourceMemory]; q.Cmp(r) < 0 {
		t.Errorf("memory limit %s below its request %s", q.String(), r.String())
	}

	var ns *corev1.Namespace
	for _, o := range objs {
		if o.meta.Kind == "Namespace" {
			ns = decode[corev1.Namespace](t, o)
		}
	}
	if ns == nil {
		t.Fatal("config/default has no Namespace")
	}
	if ns.Name != d.Namespace {
		t.Errorf("the Namespace is %s, the Deployment's %s", ns.Name, d.Namespace)
	}
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("Namespace %s: pod-security.kubernetes.io/enforce is %q, want restricted", ns.Name, got)
	}
}

// checkRestricted fails unless the security contexts of the pod and its
// container meet the restricted Pod Security Standard, which the namespace enforces.
func checkRestricted(t *testing.T, pod *corev1.PodSecurityContext, ctr *corev1.SecurityContext) {
	t.Helper()
	psc := pod
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := ctr
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if !isTrue(sc.RunAsNonRoot) && (sc.RunAsNonRoot != nil || !isTrue(psc.RunAsNonRoot)) {
		t.Errorf("runAsNonRoot is not true")
	}
	if uid := sc.RunAsUser; (uid != nil && *uid == 0) || (uid == nil && psc.RunAsUser != nil && *psc.RunAsUser == 0) {
		t.Errorf("runAsUser is 0")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		t.Errorf("the container is privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities %+v, want drop ALL and add none", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
		t.Errorf("seccompProfile %+v, want RuntimeDefault", seccomp)
	}
}

// checkMetricsService fails unless the only Service selects the manager's pods
// and targets the port of --metrics-bind-address.
func checkMetricsService(t *testing.T, objs []object, d *appsv1.Deployment, f map[string]string) {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	metrics := flagPort(t, f, "metrics-bind-address")
	if !hasContainerPort(c, metrics) {
		t.Errorf("no container port %d, the one of --metrics-bind-address", metrics)
	}
	services := 0
	for _, o := range objs {
		if o.meta.Kind != "Service" {
			continue
		}
		services++
		svc := decode[corev1.Service](t, o)
		for k, v := range svc.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, which the manager's pods are not labelled", svc.Name, k, v)
			}
		}
		for _, sp := range svc.Spec.Ports {
			if port := containerPort(t, c, sp.TargetPort); port != metrics {
				t.Errorf("Service %s port %s targets %d, --metrics-bind-address's %d", svc.Name, sp.Name, port, metrics)
			}
		}
	}
	if services != 1 {
		t.Errorf("%d Services, want the metrics Service only", services)
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// The operator only reads Secrets and ConfigMaps, whether it watches the
// whole cluster (config/default) or some namespaces (config/namespaced).
func TestRBACReadsSecretsAndConfigMapsOnly(t *testing.T) {
	read := []string{"get", "list", "watch"}
	for _, dir := range []string{"default", "namespaced"} {
		t.Run(dir, func(t *testing.T) {
			roles := 0
			for _, o := range render(t, dir) {
				var rules []rbacv1.PolicyRule
				switch o.meta.Kind {
				case "ClusterRole":
					rules = decode[rbacv1.ClusterRole](t, o).Rules
				case "Role":
					rules = decode[rbacv1.Role](t, o).Rules
				default:
					continue
				}
				roles++
				for _, r := range rules {
					if !slices.Contains(r.APIGroups, "") && !slices.Contains(r.APIGroups, "*") {
						continue
					}
					for _, res := range r.Resources {
						base, _, _ := strings.Cut(res, "/")
						if base != "secrets" && base != "configmaps" && base != "*" {
							continue
						}
						for _, v := range r.Verbs {
							if !slices.Contains(read, v) {
								t.Errorf("%s %s grants %s on %s", o.meta.Kind, o.meta.Metadata.Name, v, res)
							}
						}
					}
				}
			}
			if roles == 0 {
				t.Fatal("no Role or ClusterRole rendered")
			}
		})
	}
}

// An operator limited to some namespaces still reserves upload slots in the
// cluster-scoped UploadLedgers: config/namespaced grants, cluster-wide, the
// generated rules of uploadledgers and nothing else of the operator's API
// group, to the manager's ServiceAccount.
func TestNamespacedInstallReachesTheUploadLedgers(t *testing.T) {
	// grants lists "resource verb" of the operator's group that rules grant,
	// of the resources keep passes.
	grants := func(rules []rbacv1.PolicyRule, keep func(string) bool) []string {
		var out []string
		for _, r := range rules {
			if !slices.Contains(r.APIGroups, "imports.localytics.dev") {
				continue
			}
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if keep(res) {
						out = append(out, res+" "+v)
					}
				}
			}
		}
		slices.Sort(out)
		return out
	}
	var want, got []string
	for _, o := range render(t, "default") {
		if o.meta.Kind == "ClusterRole" {
			want = append(want, grants(decode[rbacv1.ClusterRole](t, o).Rules, func(res string) bool { return strings.HasPrefix(res, "uploadledgers") })...)
		}
	}
	if len(want) == 0 {
		t.Fatal("the generated ClusterRole has no rule on uploadledgers")
	}
	bound := false
	for _, o := range render(t, "namespaced") {
		switch o.meta.Kind {
		case "ClusterRole":
			got = append(got, grants(decode[rbacv1.ClusterRole](t, o).Rules, func(string) bool { return true })...)
		case "ClusterRoleBinding":
			for _, s := range decode[rbacv1.ClusterRoleBinding](t, o).Subjects {
				bound = bound || (s.Kind == "ServiceAccount" && strings.HasSuffix(s.Name, "controller-manager"))
			}
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("config/namespaced grants cluster-wide %v of the operator's group, want the generated rules of uploadledgers %v", got, want)
	}
	if !bound {
		t.Error("config/namespaced binds no ClusterRole to the manager's ServiceAccount")
	}
}
