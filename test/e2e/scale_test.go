package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// BenchmarkScale loads one operator with what DESIGN's scale target names,
// scaled by SCALE_IMPORTS (default 2000 ProfileImports) and SCALE_LISTS (500
// AudienceLists), across 10 accounts (a key each) and 20 apps, on the
// vendor's budgets of 60 status and 60 audience calls a minute per key (the
// uploads' compressed to 100 per 10s), then lowers one account's upload
// budget to 10 per 20s and queues SCALE_QUEUED (100) more imports on it, each
// travelling alone, so that they drain one slot opening at a time. It
// reports the manager's peak RSS, its ProfileImport reconciles per upload
// while the line drains (a slot that opens should wake about the import it
// carries, not the whole line), the manager's writes to the API server per
// finished object, the most calls any key made in a minute against each
// budget, and the 429s. Run by `make bench-scale`; figures in
// docs/benchmarks.md. A benchmark, not a test: run once whatever b.N.
func BenchmarkScale(b *testing.B) {
	imports, lists, queued := envInt("SCALE_IMPORTS", 2000), envInt("SCALE_LISTS", 500), envInt("SCALE_QUEUED", 100)
	const accounts, appsPerAccount = 10, 2
	const vendorCalls = 60 // status and audience calls a minute per key, the vendor's budgets and the simulator's defaults
	b.StopTimer()
	c := startCluster(b)
	var simArgs []string
	for a := range accounts {
		simArgs = append(simArgs, "--account", fmt.Sprintf("scale-key-%d:scale-secret-%d:org=60,app=*", a, a))
	}
	vendor := startSimulator(b, "scale-key-x", "scale-secret-x", append(simArgs,
		"--profile-uploads", "100", "--profile-upload-window", "10s")...)
	metricsAddr := freeAddr(b)
	m := startManager(b, c, "manager", append(managerFlags(vendor.URL, ""),
		"--metrics-bind-address", metricsAddr, "--metrics-secure=false", "--drift-interval", "10m")...)

	// One manifest of every object, applied at once, as a GitOps sync does.
	var manifest strings.Builder
	for a := range accounts {
		ns := fmt.Sprintf("scale-%d", a)
		c.kubectl("create", "namespace", ns)
		spec := accountSpec{sim: vendor, key: fmt.Sprintf("scale-key-%d", a), secret: fmt.Sprintf("scale-secret-%d", a),
			profileUploads: 100, uploadWindow: "10s", statusCalls: vendorCalls, audienceCalls: vendorCalls}
		manifest.WriteString(inNamespace(spec.manifest(), ns))
		for i := a; i < imports; i += accounts {
			name := fmt.Sprintf("import-%04d", i)
			manifest.WriteString("---\n" + inNamespace(configMap(name, "profiles.jsonl", assign(fmt.Sprintf("c%d", i), "n", i)), ns))
			manifest.WriteString("---\n" + inNamespace(profileImport(name, fmt.Sprintf("app-%d-%d", a, i%appsPerAccount), name, ""), ns))
		}
		for i := a; i < lists; i += accounts {
			name := fmt.Sprintf("list-%04d", i)
			manifest.WriteString("---\n" + inNamespace(configMap(name, "customers.jsonl", customers(fmt.Sprintf("c%d", i))...), ns))
			manifest.WriteString("---\n" + inNamespace(audienceList(name, fmt.Sprintf("app-%d-%d", a, i%appsPerAccount), name, name, ""), ns))
		}
		manifest.WriteString("---\n")
	}
	file := filepath.Join(b.TempDir(), "scale.yaml")
	if err := os.WriteFile(file, []byte(manifest.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	b.StartTimer()
	c.kubectl("apply", "--server-side", "-f", file)
	waitFor(b, time.Hour, "every import Completed and every list Ready", func() bool {
		done := strings.Count(c.kubectl("get", "pi", "-A", "-o", "jsonpath={.items[*].status.phase}"), "Completed")
		ready := strings.Count(c.kubectl("get", "al", "-A", "-o", `jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}`), "True")
		return done == imports && ready == lists
	})
	settled := time.Since(start)
	settleWrites := managerMetric(b, metricsAddr, "rest_client_requests_total", isWrite)

	// A line: the first account's budget lowered to 10 per 20s, then
	// SCALE_QUEUED more imports at once, each travelling alone.
	ns := "scale-0"
	c.kubectl("-n", ns, "patch", "lya/acme", "--type=merge", "-p", `{"spec":{"limits":{"profileUploads":{"count":10,"window":"20s"}}}}`)
	var line strings.Builder
	for i := range queued {
		name := fmt.Sprintf("queued-%04d", i)
		line.WriteString(configMap(name, "profiles.jsonl", assign(fmt.Sprintf("q%d", i), "n", i)) + "---\n")
		line.WriteString(profileImport(name, "app-0-0", name, "  packing: Never\n") + "---\n")
	}
	reconcilesBefore := managerMetric(b, metricsAddr, "controller_runtime_reconcile_total", ofController("profileimport"))
	writesBefore := managerMetric(b, metricsAddr, "rest_client_requests_total", isWrite)
	writesByResourceBefore := apiServerWrites(c)
	uploadsBefore := len(vendor.uploads(b))
	if out, err := c.run(line.String(), "-n", ns, "apply", "--server-side", "-f", "-"); err != nil {
		b.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	lineStart := time.Now()
	waitFor(b, 2*time.Hour, "the line to drain", func() bool {
		return strings.Count(c.kubectl("-n", ns, "get", "pi", "-o", "jsonpath={.items[*].status.phase}"), "Completed") == imports/accounts+queued
	})
	b.StopTimer()
	lineUploads := len(vendor.uploads(b)) - uploadsBefore
	lineReconciles := managerMetric(b, metricsAddr, "controller_runtime_reconcile_total", ofController("profileimport")) - reconcilesBefore
	lineWrites := managerMetric(b, metricsAddr, "rest_client_requests_total", isWrite) - writesBefore
	for resource, n := range apiServerWrites(c) {
		if d := n - writesByResourceBefore[resource]; d > 0 {
			b.Logf("line: %.1f writes per import to %s", d/float64(queued), resource)
		}
	}

	calls := vendor.calls(b)
	b.ReportMetric(float64(m.peakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(settled.Seconds(), "settle-s")
	b.ReportMetric(settleWrites/float64(imports+lists), "writes/settled-object")
	b.ReportMetric(time.Since(lineStart).Seconds(), "line-s")
	b.ReportMetric(lineReconciles/float64(max(lineUploads, 1)), "reconciles/slot-opening")
	b.ReportMetric(lineWrites/float64(queued), "writes/queued-import")
	b.ReportMetric(float64(mostPerKey(calls, time.Minute, sim.EndpointProfileStatus)), "status-calls/min-max")
	b.ReportMetric(float64(mostPerKey(calls, time.Minute, audienceEndpoints...)), "audience-calls/min-max")
	b.ReportMetric(float64(vendor.throttled(b)), "429s")
}

// audienceEndpoints are the endpoints of the audience budget.
var audienceEndpoints = []sim.Endpoint{sim.EndpointAudienceCreate, sim.EndpointAudienceStatus, sim.EndpointAudienceUpdate,
	sim.EndpointAudienceRename, sim.EndpointAudienceDelete, sim.EndpointAudienceByApp}

// mostPerKey is the most calls to the endpoints any key made within window.
func mostPerKey(calls []sim.CallRecord, window time.Duration, endpoints ...sim.Endpoint) int {
	byKey := map[string][]time.Time{}
	for _, c := range calls {
		if slices.Contains(endpoints, c.Endpoint) {
			byKey[c.Key] = append(byKey[c.Key], c.Time)
		}
	}
	most := 0
	for _, times := range byKey {
		most = max(most, mostInWindow(times, window))
	}
	return most
}

// mostInWindow is the most of times (in order) within any window.
func mostInWindow(times []time.Time, window time.Duration) int {
	most := 0
	for i, t := range times {
		n, _ := slices.BinarySearchFunc(times[i:], t.Add(window), func(u, end time.Time) int { return u.Compare(end) })
		most = max(most, n)
	}
	return most
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// inNamespace sets the namespace of every object of a manifest.
func inNamespace(manifest, ns string) string {
	return strings.ReplaceAll(manifest, "metadata:\n", "metadata:\n  namespace: "+ns+"\n")
}

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

// managerMetric sums the samples of a counter of the manager's metrics
// endpoint whose labels match.
func managerMetric(b *testing.B, addr, name string, match func(labels string) bool) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatalf("metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	total := 0.0
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		labels, ok := strings.CutPrefix(lines.Text(), name+"{")
		if !ok || !match(labels) {
			continue
		}
		f := strings.Fields(labels)
		n, _ := strconv.ParseFloat(f[len(f)-1], 64)
		total += n
	}
	return total
}

// isWrite matches client-go's requests that write.
func isWrite(labels string) bool {
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		if strings.Contains(labels, `method="`+m+`"`) {
			return true
		}
	}
	return false
}

func ofController(name string) func(string) bool {
	return func(labels string) bool { return strings.Contains(labels, `controller="`+name+`"`) }
}

// apiServerWrites counts the writes the API server served, by resource (and
// subresource), from its apiserver_request_total, leaving out server-side
// applies (kubectl's): what the manager wrote, and what it wrote it to.
func apiServerWrites(c *cluster) map[string]float64 {
	out := map[string]float64{}
	for _, l := range strings.Split(c.kubectl("get", "--raw", "/metrics"), "\n") {
		labels, ok := strings.CutPrefix(l, "apiserver_request_total{")
		if !ok || !isWrite(strings.ReplaceAll(labels, `verb="`, `method="`)) {
			continue
		}
		resource := labelValue(labels, "resource")
		if sub := labelValue(labels, "subresource"); sub != "" {
			resource += "/" + sub
		}
		f := strings.Fields(labels)
		n, _ := strconv.ParseFloat(f[len(f)-1], 64)
		out[resource] += n
	}
	return out
}

// labelValue is the value of a label in a Prometheus sample's labels.
func labelValue(labels, name string) string {
	m := regexp.MustCompile(`(?:^|,)` + name + `="([^"]*)"`).FindStringSubmatch(labels)
	if m == nil {
		return ""
	}
	return m[1]
}
