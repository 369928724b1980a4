package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// The processes the end-to-end tests drive, each the real binary: the
// control plane (etcd and kube-apiserver, through envtest), the simulator
// (cmd/localytics-sim), the object store (versitygw) and the operator
// (bin/manager's build). The tests touch the cluster only through kubectl.

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime; the processes keep their own logs.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary is the path of one of the repository's commands, built once per
// run as the Makefile builds them ("." is the manager).
func binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "localytics-e2e-"); buildErr != nil {
			return
		}
		for out, pkg := range map[string]string{"manager": ".", "localytics-sim": "./cmd/localytics-sim"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, out), pkg)
			cmd.Dir = testenv.RepoRoot()
			if output, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %w\n%s", pkg, err, output)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

// needsControlPlane skips the test, under -short or when the control plane
// (and, with store, the object store) has not been built, and returns where
// the control plane's binaries are.
func needsControlPlane(t testing.TB, store bool) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: starts a control plane, and for most tests the simulator and the operator")
	}
	assets, err := testenv.BinaryAssetsDir()
	if err != nil {
		t.Skipf("no control plane binaries (run 'make control-plane'): %v", err)
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(assets, name)); err != nil {
			t.Skipf("no %s in KUBEBUILDER_ASSETS=%s (run 'make control-plane'): %v", name, assets, err)
		}
	}
	if store {
		if _, err := testenv.VersityGW(); err != nil {
			t.Skipf("no object store binary (run 'make object-store'): %v", err)
		}
	}
	return assets
}

// cluster is a running control plane, and the kubectl that drives it as a
// cluster admin.
type cluster struct {
	t          testing.TB
	kubeconfig string
	cacheDir   string
	kubectlBin string
}

// startCluster starts a control plane with the operator's CRDs.
func startCluster(t testing.TB) *cluster {
	t.Helper()
	needsControlPlane(t, true)
	return startControlPlane(t, nil)
}

// startControlPlane starts etcd and kube-apiserver, configured by configure
// if given, stopped when the test ends, and writes the kubeconfig of a
// cluster admin.
func startControlPlane(t testing.TB, configure func(*envtest.Environment)) *cluster {
	t.Helper()
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(env)
	}
	if _, err := env.Start(); err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	admin, err := env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// kubectl's own cache too: control planes of earlier tests may have had
	// the same port.
	c := &cluster{t: t, kubeconfig: filepath.Join(dir, "kubeconfig"), cacheDir: filepath.Join(dir, "cache")}
	if err := os.WriteFile(c.kubeconfig, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	if c.kubectlBin, err = testenv.Kubectl(); err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs kubectl with stdin and returns its output (stdout and stderr).
func (c *cluster) run(stdin string, args ...string) (string, error) {
	cmd := exec.Command(c.kubectlBin, append([]string{"--kubeconfig", c.kubeconfig, "--cache-dir", c.cacheDir}, args...)...)
	cmd.Env = withoutEnv(os.Environ(), "KUBECONFIG")
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// kubectl runs kubectl and fails the test if it fails.
func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.run("", args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// namespace creates a namespace for one story and returns the kubectl of it.
func (c *cluster) namespace(name string) *namespace {
	c.t.Helper()
	c.kubectl("create", "namespace", name)
	return &namespace{c: c, name: name}
}

// namespace is kubectl with -n.
type namespace struct {
	c    *cluster
	name string
}

func (n *namespace) kubectl(args ...string) string {
	n.c.t.Helper()
	return n.c.kubectl(append([]string{"-n", n.name}, args...)...)
}

func (n *namespace) run(stdin string, args ...string) (string, error) {
	return n.c.run(stdin, append([]string{"-n", n.name}, args...)...)
}

// apply is `kubectl apply -f -` of manifest.
func (n *namespace) apply(manifest string) {
	n.c.t.Helper()
	if out, err := n.run(manifest, "apply", "-f", "-"); err != nil {
		n.c.t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, manifest)
	}
}

// get is `kubectl get OBJECT -o jsonpath=PATH`.
func (n *namespace) get(object, jsonpath string) string {
	n.c.t.Helper()
	return n.kubectl("get", object, "-o", "jsonpath="+jsonpath)
}

// wait is `kubectl wait OBJECT --for=FOR` for as long as a story waits; on timeout it fails the test with
// the object as kubectl shows it.
func (n *namespace) wait(object, forCondition string) {
	n.c.t.Helper()
	out, err := n.run("", "wait", object, "--for="+forCondition, fmt.Sprintf("--timeout=%s", ready))
	if err != nil {
		yaml, _ := n.run("", "get", object, "-o", "yaml")
		n.c.t.Fatalf("kubectl wait %s --for=%s: %v\n%s\n%s", object, forCondition, err, out, yaml)
	}
}

// waitReason waits until OBJECT's Ready condition has the reason.
func (n *namespace) waitReason(object, reason string) {
	n.c.t.Helper()
	n.wait(object, `jsonpath={.status.conditions[?(@.type=="Ready")].reason}=`+reason)
}

// startStore starts versitygw, stopped when the test ends.
func startStore(t testing.TB) *testenv.ObjectStore {
	t.Helper()
	store, err := testenv.StartObjectStore()
	if err != nil {
		t.Fatalf("starting the object store: %v", err)
	}
	t.Cleanup(func() { _ = store.Stop() })
	return store
}

// startGCS starts fake-gcs-server, stopped when the test ends.
func startGCS(t testing.TB) *testenv.GCSEmulator {
	t.Helper()
	gcs, err := testenv.StartGCSEmulator()
	if err != nil {
		t.Fatalf("starting the GCS emulator: %v", err)
	}
	t.Cleanup(gcs.Stop)
	return gcs
}

// startAzurite starts Azurite, stopped when the test ends.
func startAzurite(t testing.TB) *testenv.Azurite {
	t.Helper()
	a, err := testenv.StartAzurite()
	if err != nil {
		t.Fatalf("starting Azurite: %v", err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	return a
}

// putObject writes an object, making its bucket if need be.
func putObject(t testing.TB, store *testenv.ObjectStore, bucket, key, content string) {
	t.Helper()
	if err := store.Put(context.Background(), bucket, key, []byte(content)); err != nil {
		t.Fatalf("putting s3://%s/%s: %v", bucket, key, err)
	}
}

// waitEvent waits until an event of the object named name has the reason
// (events are recorded a moment after what they tell).
func (n *namespace) waitEvent(name, reason string) {
	n.c.t.Helper()
	waitFor(n.c.t, 30*time.Second, fmt.Sprintf("an event %s of %s", reason, name), func() bool {
		events := n.kubectl("get", "events", "--field-selector", "involvedObject.name="+name, "-o", "jsonpath={.items[*].reason}")
		return slices.Contains(strings.Fields(events), reason)
	})
}

// simulator is a running cmd/localytics-sim.
type simulator struct {
	URL string
	cmd *exec.Cmd
}

// startSimulator starts the simulator on a free loopback port with one
// account of every app and org 60, the budgets accountSpec gives its
// LocalyticsAccounts, jobs that end in half a second, then more flags
// (the last of a flag given twice wins).
func startSimulator(t testing.TB, key, secret string, more ...string) *simulator {
	t.Helper()
	args := append([]string{
		"--account", key + ":" + secret + ":org=60,app=*",
		"--profile-uploads", "100", "--profile-upload-window", "1h",
		"--profile-status", "600", "--profile-status-window", "1m",
		"--audience-calls", "600", "--audience-call-window", "1m",
		"--pending", "200ms", "--running", "300ms",
	}, more...)
	logPath := filepath.Join(t.TempDir(), "sim.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t, "localytics-sim"), append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = logFile
	dieWithTest(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			logTail(t, "simulator", logPath, 40)
		}
	})
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("the simulator printed no address (log %s)", logPath)
	}
	url, ok := strings.CutPrefix(lines.Text(), "localytics-sim listening on ")
	if !ok {
		t.Fatalf("the simulator said %q", lines.Text())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return &simulator{URL: url, cmd: cmd}
}

// call sends a request to the simulator's own endpoints (/_sim/...) and
// decodes the JSON answer into v, if given.
func (s *simulator) call(t testing.TB, method, path string, body any, v any) {
	t.Helper()
	var in io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		in = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, in)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s\n%s", method, path, resp.Status, data)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, data)
		}
	}
}

// simGet decodes what the simulator's own endpoint path answers, in the
// simulator's own types (internal/localytics/sim): GET /_sim/uploads,
// /_sim/calls, /_sim/audiences?app_id=, /_sim/profiles?SCOPE.
func simGet[T any](t testing.TB, s *simulator, path string) T {
	t.Helper()
	var out T
	s.call(t, http.MethodGet, path, nil, &out)
	return out
}

func (s *simulator) uploads(t testing.TB) []sim.UploadRecord {
	t.Helper()
	return simGet[[]sim.UploadRecord](t, s, "/_sim/uploads")
}

func (s *simulator) lists(t testing.TB, app string) []sim.AudienceList {
	t.Helper()
	return simGet[[]sim.AudienceList](t, s, "/_sim/audiences?app_id="+app)
}

// profiles are the profiles of one scope, their numbers float64 as JSON
// decodes them.
func (s *simulator) profiles(t testing.TB, scope string) map[string]map[string]any {
	t.Helper()
	return simGet[map[string]map[string]any](t, s, "/_sim/profiles?"+scope)
}

func (s *simulator) calls(t testing.TB) []sim.CallRecord {
	t.Helper()
	return simGet[[]sim.CallRecord](t, s, "/_sim/calls")
}

// throttled counts the 429s the simulator sent.
func (s *simulator) throttled(t testing.TB) int {
	t.Helper()
	var out []json.RawMessage
	s.call(t, http.MethodGet, "/_sim/throttled", nil, &out)
	return len(out)
}

// faults arms the simulator's faults (PUT /_sim/faults), e.g.
// {"drop_after_accept": 1}.
func (s *simulator) faults(t testing.TB, faults map[string]any) {
	t.Helper()
	s.call(t, http.MethodPut, "/_sim/faults", faults, nil)
}

// manager is the operator's binary, run against a cluster as one process at
// a time: started, killed and started again with the same flags.
type manager struct {
	t       testing.TB
	name    string
	args    []string
	logPath string
	log     *os.File
	cmd     *exec.Cmd
	done    chan struct{}
	starts  int
}

// startManager starts the operator with args besides the kubeconfig, the
// disabled metrics and probes ports and JSON logs.
func startManager(t testing.TB, c *cluster, name string, args ...string) *manager {
	t.Helper()
	m := &manager{
		t: t, name: name,
		args: append([]string{
			"--kubeconfig", c.kubeconfig, "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		}, args...),
		logPath: filepath.Join(t.TempDir(), name+".log"),
	}
	var err error
	if m.log, err = os.Create(m.logPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.signal(syscall.SIGKILL)
		_ = m.log.Close()
		if t.Failed() {
			logTail(t, name, m.logPath, 60)
		}
	})
	m.start()
	return m
}

// start starts the process (again).
func (m *manager) start() {
	m.t.Helper()
	m.starts++
	_, _ = fmt.Fprintf(m.log, "=== start %d of %s\n", m.starts, m.name)
	m.cmd = exec.Command(binary(m.t, "manager"), m.args...)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	dieWithTest(m.cmd)
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	done := make(chan struct{})
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(m.cmd)
	m.done = done
}

// logSince is the log of the current process.
func (m *manager) logSince() (string, error) {
	data, err := os.ReadFile(m.logPath)
	_, current, _ := strings.Cut(string(data), fmt.Sprintf("=== start %d of %s\n", m.starts, m.name))
	return current, err
}

// waitLeading waits until the current process holds the lease.
func (m *manager) waitLeading() {
	m.t.Helper()
	m.waitForLog("Successfully acquired lease")
}

// waitForLog waits until the log of the current process holds text.
func (m *manager) waitForLog(text string) {
	timeout := time.Minute
	m.t.Helper()
	waitFor(m.t, timeout, fmt.Sprintf("%q in the log of %s", text, m.name), func() bool {
		current, _ := m.logSince()
		return strings.Contains(current, text)
	})
}

// kill ends the process with SIGKILL, as a node's loss or the OOM killer
// does: nothing of it runs on.
func (m *manager) kill() { m.signal(syscall.SIGKILL) }

func (m *manager) signal(sig syscall.Signal) {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(sig)
	select {
	case <-m.done:
	case <-time.After(time.Minute):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	_, _ = fmt.Fprintf(m.log, "=== %s: %s\n", m.name, sig)
}

// peakRSS is the process's peak resident set size (VmHWM), 0 if unknown.
func (m *manager) peakRSS() int64 {
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// cpuTime is the CPU time the process has used (user and system), 0 if
// unknown.
func (m *manager) cpuTime() time.Duration {
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command's name, which is in parentheses: utime
	// and stime are the 12th and 13th, in clock ticks (100 a second).
	_, rest, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	var user, system int64
	_, _ = fmt.Sscan(f[11], &user)
	_, _ = fmt.Sscan(f[12], &system)
	return time.Duration(user+system) * 10 * time.Millisecond
}

// running reports whether the process has not exited.
func (m *manager) running() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// logTail prints the last lines of a process's log.
func logTail(t testing.TB, name, path string, lines int) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Logf("%s's log: %v", name, err)
		return
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	t.Logf("--- last lines of %s's log (%s) ---\n%s", name, path, strings.Join(all, "\n"))
}

// accountSpec is what the stories vary of a LocalyticsAccount named acme.
type accountSpec struct {
	sim              *simulator
	key, secret      string
	profileUploads   int    // per window; 0 means 100
	uploadWindow     string // 0 means 1h
	listsPerApp      int    // 0 means the default
	secretName       string // 0 means localytics-credentials
	secretDataSecret string // the api-secret the Secret holds; empty means secret
	maxUploadBytes   int64  // 0 means the default
	statusCalls      int    // profile status calls a minute; 0 means 600
	audienceCalls    int    // audience calls a minute; 0 means 600
}

// manifest is the account and its Secret.
func (a accountSpec) manifest() string {
	if a.profileUploads == 0 {
		a.profileUploads = 100
	}
	if a.uploadWindow == "" {
		a.uploadWindow = "1h"
	}
	if a.statusCalls == 0 {
		a.statusCalls = 600
	}
	if a.audienceCalls == 0 {
		a.audienceCalls = 600
	}
	if a.secretName == "" {
		a.secretName = "localytics-credentials"
	}
	if a.secretDataSecret == "" {
		a.secretDataSecret = a.secret
	}
	lists := ""
	if a.listsPerApp > 0 {
		lists = fmt.Sprintf("    audienceListsPerApp: %d\n", a.listsPerApp)
	}
	if a.maxUploadBytes > 0 {
		lists += fmt.Sprintf("    maxUploadBytes: %d\n", a.maxUploadBytes)
	}
	return secretManifest(a.secretName, a.key, a.secretDataSecret) + fmt.Sprintf(`---
apiVersion: imports.localytics.dev/v1alpha1
kind: LocalyticsAccount
metadata:
  name: acme
spec:
  secretRef: {name: %s}
  endpoint: %s
  limits:
    profileUploads: {count: %d, window: %s}
    profileStatus: {count: %d, window: 1m}
    audienceCalls: {count: %d, window: 1m}
%s`, a.secretName, a.sim.URL, a.profileUploads, a.uploadWindow, a.statusCalls, a.audienceCalls, lists)
}

// secretManifest is a Secret of Localytics credentials.
func secretManifest(name, key, secret string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: %s
stringData:
  api-key: %s
  api-secret: %s
`, name, key, secret)
}

// configMap is a ConfigMap holding one file under key.
func configMap(name, key string, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  %s: |\n", name, key)
	for _, l := range lines {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	return b.String()
}

// profileImport is a ProfileImport of app from the ConfigMap cm (key
// profiles.jsonl), with more spec lines in extra.
func profileImport(name, app, cm, extra string) string {
	return fmt.Sprintf(`apiVersion: imports.localytics.dev/v1alpha1
kind: ProfileImport
metadata:
  name: %s
spec:
  accountRef: {name: acme}
  appID: %s
  format: json
  source:
    configMapRef: {name: %s, key: profiles.jsonl}
%s`, name, app, cm, extra)
}

// audienceList is an AudienceList of app from the ConfigMap cm (key
// customers.jsonl), with more spec lines in extra.
func audienceList(name, app, audience, cm, extra string) string {
	return fmt.Sprintf(`apiVersion: imports.localytics.dev/v1alpha1
kind: AudienceList
metadata:
  name: %s
spec:
  accountRef: {name: acme}
  appID: %s
  audienceName: %s
  source:
    configMapRef: {name: %s, key: customers.jsonl}
%s`, name, app, audience, cm, extra)
}

// customers are the JSON lines of an audience list's source.
func customers(ids ...string) []string {
	lines := make([]string, len(ids))
	for i, id := range ids {
		lines[i] = fmt.Sprintf(`{"customer_id":%q}`, id)
	}
	return lines
}

// assign is the JSON line that assigns attr=value to customer.
func assign(customer, attr string, value any) string {
	v, _ := json.Marshal(value)
	return fmt.Sprintf(`{"customer_id":%q,"changes":[{"op":"assign","attr":%q,"value":%s}]}`, customer, attr, v)
}

// increment is the JSON line that adds by to customer's attr.
func increment(customer, attr string, by int) string {
	return fmt.Sprintf(`{"customer_id":%q,"changes":[{"op":"increment","attr":%q,"value":%d}]}`, customer, attr, by)
}

// managerFlags are the flags every e2e manager runs with: the Localytics
// endpoints and the store allowed, short deadlines for small files, a short
// drift interval.
func managerFlags(allowedEndpoints, storeEndpoint string) []string {
	flags := []string{
		"--allowed-endpoints", allowedEndpoints,
		"--drift-interval", "3s",
		"--upload-timeout", "20s",
		"--unknown-create-wait", "15s",
		"--zap-log-level", "info",
	}
	if storeEndpoint != "" {
		flags = append(flags, "--allowed-object-store-endpoints", storeEndpoint)
	}
	return flags
}

// storeSecret is the Secret named store of the object store's credentials.
func storeSecret(store *testenv.ObjectStore) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: store
stringData:
  AWS_ACCESS_KEY_ID: %s
  AWS_SECRET_ACCESS_KEY: %s
`, store.AccessKey, store.SecretKey)
}
