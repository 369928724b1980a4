package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkScale loads one operator with what DESIGN's scale target names,
// scaled by SCALE_IMPORTS (default 2000 ProfileImports) and SCALE_LISTS (500
// AudienceLists), across 10 accounts and 20 apps, then queues SCALE_QUEUED
// (300) more imports on one account with a budget of 10 per 20s. It reports
// the manager's peak RSS, its reconciles of ProfileImports per upload while
// the line drains (a slot that opens should wake about one import, not the
// whole line), and the 429s the simulator sent. Run by `make bench-scale`;
// figures in docs/benchmarks.md. A benchmark, not a test: run once whatever
// b.N.
func BenchmarkScale(b *testing.B) {
	imports, lists, queued := envInt("SCALE_IMPORTS", 2000), envInt("SCALE_LISTS", 500), envInt("SCALE_QUEUED", 300)
	const accounts, appsPerAccount = 10, 2
	b.StopTimer()
	c := startCluster(b)
	var simArgs []string
	for a := range accounts {
		simArgs = append(simArgs, "--account", fmt.Sprintf("scale-key-%d:scale-secret-%d:org=60,app=*", a, a))
	}
	sim := startSimulator(b, "scale-key-x", "scale-secret-x", append(simArgs,
		"--profile-uploads", "100", "--profile-upload-window", "10s",
		"--profile-status", "6000", "--audience-calls", "6000")...)
	metricsAddr := freeAddr(b)
	m := startManager(b, c, "manager", append(managerFlags(sim.URL, ""),
		"--metrics-bind-address", metricsAddr, "--metrics-secure=false", "--drift-interval", "10m")...)

	// One manifest of every object, applied at once, as a GitOps sync does.
	var manifest strings.Builder
	for a := range accounts {
		ns := fmt.Sprintf("scale-%d", a)
		c.kubectl("create", "namespace", ns)
		spec := accountSpec{sim: sim, key: fmt.Sprintf("scale-key-%d", a), secret: fmt.Sprintf("scale-secret-%d", a),
			profileUploads: 100, uploadWindow: "10s"}
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
	waitFor(b, 30*time.Minute, "every import Completed and every list Ready", func() bool {
		done := strings.Count(c.kubectl("get", "pi", "-A", "-o", "jsonpath={.items[*].status.phase}"), "Completed")
		ready := strings.Count(c.kubectl("get", "al", "-A", "-o", `jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}`), "True")
		return done == imports && ready == lists
	})
	settled := time.Since(start)

	// A line: the first account's budget lowered to 10 per 20s, then
	// SCALE_QUEUED more imports at once.
	ns := "scale-0"
	c.kubectl("-n", ns, "patch", "lya/acme", "--type=merge", "-p", `{"spec":{"limits":{"profileUploads":{"count":10,"window":"20s"}}}}`)
	var line strings.Builder
	for i := range queued {
		name := fmt.Sprintf("queued-%04d", i)
		line.WriteString(configMap(name, "profiles.jsonl", assign(fmt.Sprintf("q%d", i), "n", i)) + "---\n")
		line.WriteString(profileImport(name, "app-0-0", name, "") + "---\n")
	}
	before := reconciles(b, metricsAddr)
	if out, err := c.run(line.String(), "-n", ns, "apply", "--server-side", "-f", "-"); err != nil {
		b.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	lineStart := time.Now()
	waitFor(b, 2*time.Hour, "the line to drain", func() bool {
		return strings.Count(c.kubectl("-n", ns, "get", "pi", "-o", "jsonpath={.items[*].status.phase}"), "Completed") == imports/accounts+queued
	})
	b.StopTimer()
	perUpload := float64(reconciles(b, metricsAddr)-before) / float64(queued)

	b.ReportMetric(float64(m.peakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(settled.Seconds(), "settle-s")
	b.ReportMetric(time.Since(lineStart).Seconds(), "line-s")
	b.ReportMetric(perUpload, "reconciles/queued-import")
	b.ReportMetric(float64(sim.throttled(b)), "429s")
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

// reconciles is the manager's count of ProfileImport reconciles
// (controller_runtime_reconcile_total).
func reconciles(b *testing.B, addr string) int {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatalf("metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	total := 0
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		l := lines.Text()
		if strings.HasPrefix(l, "controller_runtime_reconcile_total{") && strings.Contains(l, `controller="profileimport"`) {
			f := strings.Fields(l)
			n, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += int(n)
		}
	}
	return total
}
