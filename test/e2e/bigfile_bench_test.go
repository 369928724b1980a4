package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// BenchmarkBigFile imports one profile file of BIG_FILE_BYTES (default
// 1 GiB) from versitygw, which goes up in parts of the default upload size
// (100,000,000 bytes), and reports the wall time from apply to Completed,
// the throughput, the parts, and the manager's peak RSS above its idle
// RSS. The target: peak RSS under 64 MiB above idle, whatever the file's
// size. Run by `make bench-bigfile`; figures in docs/benchmarks.md. A
// benchmark, not a test: run once whatever b.N.
func BenchmarkBigFile(b *testing.B) {
	size := envInt("BIG_FILE_BYTES", 1<<30)
	b.StopTimer()
	c := startCluster(b)
	store := startStore(b)
	sim := startSimulator(b, "big-key", "big-secret", "--pending", "100ms", "--running", "100ms")
	m := startManager(b, c, "manager", managerFlags(sim.URL, store.Endpoint)...)

	// About 100-byte lines over 1,000 customers, so that the simulator's
	// profiles stay small whatever the file's size.
	var file bytes.Buffer
	file.Grow(size + 200)
	for i := 0; file.Len() < size; i++ {
		file.WriteString(assign(fmt.Sprintf("c%04d", i%1000), "segment", fmt.Sprintf("segment-%09d-of-the-crm-export", i)) + "\n")
	}
	if err := store.Put(context.Background(), "exports", "big.jsonl", file.Bytes()); err != nil {
		b.Fatal(err)
	}
	bytesPut := file.Len()
	file = bytes.Buffer{}

	ns := c.namespace("big")
	ns.apply(accountSpec{sim: sim, key: "big-key", secret: "big-secret"}.manifest())
	ns.wait("lya/acme", "condition=Ready")
	time.Sleep(2 * time.Second)
	idle := m.peakRSS()

	b.StartTimer()
	start := time.Now()
	ns.apply(storeSecret(store) + fmt.Sprintf(`---
apiVersion: imports.localytics.dev/v1alpha1
kind: ProfileImport
metadata:
  name: big
spec:
  accountRef: {name: acme}
  appID: big-app
  source:
    objectStore: {url: %q, secretRef: {name: store}}
`, store.URL("exports", "big.jsonl")))
	waitFor(b, time.Hour, "pi/big Completed", func() bool { return ns.get("pi/big", "{.status.phase}") == "Completed" })
	took := time.Since(start)
	b.StopTimer()

	peak := m.peakRSS()
	parts, _ := strconv.Atoi(ns.get("pi/big", "{.status.parts.total}"))
	b.ReportMetric(took.Seconds(), "wall-s")
	b.ReportMetric(float64(bytesPut)/1e6/took.Seconds(), "MB/s")
	b.ReportMetric(float64(parts), "parts")
	b.ReportMetric(float64(len(sim.uploads(b))), "uploads")
	b.ReportMetric(float64(idle>>20), "idle-rss-MiB")
	b.ReportMetric(float64(peak>>20), "peak-rss-MiB")
	b.ReportMetric(float64((peak-idle)>>20), "rss-above-idle-MiB")
}
