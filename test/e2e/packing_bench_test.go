package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkPacking queues PACK_IMPORTS (default 1000) small ProfileImports
// (about 2 KB each) of one account and app at once, on a budget of 10
// uploads per 60s, and reports the time until all are Completed and the
// uploads they took; then the same with spec.packing Never for
// PACK_ALONE_IMPORTS (default 30: alone, a thousand would take a hundred
// minutes), reported as the time a thousand would take at its measured
// rate. The target: all of them inside the first window's uploads, at least
// 50 times faster than alone. Run by `make bench-packing`; figures in
// docs/benchmarks.md. A benchmark, not a test: run once whatever b.N.
func BenchmarkPacking(b *testing.B) {
	imports, alone := envInt("PACK_IMPORTS", 1000), envInt("PACK_ALONE_IMPORTS", 30)
	b.StopTimer()
	c := startCluster(b)
	sim := startSimulator(b, "pack-key", "pack-secret", "--profile-uploads", "10", "--profile-upload-window", "60s",
		"--profile-status", "6000")
	startManager(b, c, "manager", managerFlags(sim.URL, "")...)

	// phases of the packed run: the apply, the first and the last upload.
	var applied, firstUpload, lastUpload time.Duration
	run := func(ns string, n int, extra string) (time.Duration, int) {
		c.kubectl("create", "namespace", ns)
		var manifest strings.Builder
		manifest.WriteString(inNamespace(accountSpec{sim: sim, key: "pack-key", secret: "pack-secret",
			profileUploads: 10, uploadWindow: "60s"}.manifest(), ns) + "---\n")
		for i := range n {
			name := fmt.Sprintf("%s-%04d", ns, i)
			var lines []string
			for j := range 20 {
				lines = append(lines, assign(fmt.Sprintf("c%d-%d", i, j), "segment", fmt.Sprintf("segment-%d-of-the-daily-export", i)))
			}
			manifest.WriteString(inNamespace(configMap(name, "profiles.jsonl", lines...), ns) + "---\n")
			manifest.WriteString(inNamespace(profileImport(name, "app-"+ns, name, extra), ns) + "---\n")
		}
		file := filepath.Join(b.TempDir(), ns+".yaml")
		if err := os.WriteFile(file, []byte(manifest.String()), 0o600); err != nil {
			b.Fatal(err)
		}
		before := len(sim.uploads(b))
		start := time.Now()
		c.kubectl("apply", "--server-side", "-f", file)
		if ns == "packed" {
			applied = time.Since(start)
		}
		waitFor(b, 3*time.Hour, "every import of "+ns+" Completed", func() bool {
			return strings.Count(c.kubectl("-n", ns, "get", "pi", "-o", "jsonpath={.items[*].status.phase}"), "Completed") == n
		})
		took := time.Since(start)
		uploads := sim.uploads(b)[before:]
		if ns == "packed" && len(uploads) > 0 {
			firstUpload, lastUpload = uploads[0].Time.Sub(start), uploads[len(uploads)-1].Time.Sub(start)
		}
		return took, len(uploads)
	}

	b.StartTimer()
	packed, packedUploads := run("packed", imports, "")
	lone, loneUploads := run("alone", alone, "  packing: Never\n")
	b.StopTimer()
	loneFor := time.Duration(float64(lone) * float64(imports) / float64(alone))
	b.ReportMetric(packed.Seconds(), "packed-s")
	b.ReportMetric(applied.Seconds(), "packed-apply-s")
	b.ReportMetric(firstUpload.Seconds(), "packed-first-upload-s")
	b.ReportMetric(lastUpload.Seconds(), "packed-last-upload-s")
	b.ReportMetric(float64(packedUploads), "packed-uploads")
	b.ReportMetric(float64(imports)/packed.Minutes(), "packed-imports/min")
	b.ReportMetric(float64(alone)/lone.Minutes(), "alone-imports/min")
	b.ReportMetric(float64(loneUploads), "alone-uploads")
	b.ReportMetric(loneFor.Seconds(), "alone-s-for-all")
	b.ReportMetric(loneFor.Seconds()/packed.Seconds(), "speedup")
	b.ReportMetric(float64(sim.throttled(b)), "429s")
}

// BenchmarkBudgetUse queues BUDGET_IMPORTS (default 100) imports that each
// travel alone (spec.packing Never) on a budget of 10 uploads per 10s, and
// reports from the simulator's record how the budget was spent while work
// was queued: the share of the slots used between the first upload and the
// last, the most uploads of any window (never over the limit), and the
// 429s. The target: at least 95% of the slots used, never over, no 429.
// Run by `make bench-budget`; figures in docs/benchmarks.md.
func BenchmarkBudgetUse(b *testing.B) {
	imports := envInt("BUDGET_IMPORTS", 100)
	const limit, window = 10, 10 * time.Second
	b.StopTimer()
	c := startCluster(b)
	sim := startSimulator(b, "budget-key", "budget-secret", "--profile-uploads", fmt.Sprint(limit), "--profile-upload-window", window.String(),
		"--profile-status", "6000")
	startManager(b, c, "manager", managerFlags(sim.URL, "")...)
	ns := "budget"
	c.kubectl("create", "namespace", ns)
	var manifest strings.Builder
	manifest.WriteString(inNamespace(accountSpec{sim: sim, key: "budget-key", secret: "budget-secret",
		profileUploads: limit, uploadWindow: window.String()}.manifest(), ns) + "---\n")
	for i := range imports {
		name := fmt.Sprintf("import-%04d", i)
		manifest.WriteString(inNamespace(configMap(name, "profiles.jsonl", assign(fmt.Sprintf("c%d", i), "n", i)), ns) + "---\n")
		manifest.WriteString(inNamespace(profileImport(name, "budget-app", name, "  packing: Never\n"), ns) + "---\n")
	}
	file := filepath.Join(b.TempDir(), "budget.yaml")
	if err := os.WriteFile(file, []byte(manifest.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	c.kubectl("apply", "--server-side", "-f", file)
	waitFor(b, time.Hour, "every import Completed", func() bool {
		return strings.Count(c.kubectl("-n", ns, "get", "pi", "-o", "jsonpath={.items[*].status.phase}"), "Completed") == imports
	})
	b.StopTimer()

	var times []time.Time
	for _, u := range sim.uploads(b) {
		if u.Endpoint == "P1" {
			times = append(times, u.Time)
		}
	}
	most := mostInWindow(times, window)
	// The windows the run spanned, the last one counted whole.
	spanned := int((times[len(times)-1].Sub(times[0])) / window)
	b.ReportMetric(100*float64(len(times))/float64(limit*(spanned+1)), "slot-use-%")
	b.ReportMetric(float64(most), "most-in-a-window")
	b.ReportMetric(float64(len(times)), "uploads")
	b.ReportMetric(float64(sim.throttled(b)), "429s")
}
