package e2e

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

const (
	crashKey    = "crash-key"
	crashSecret = "crash-secret"
	crashKills  = 20
	crashPIs    = 16 // half of them with increment changes
	crashALs    = 8
)

// leaseFlags make a replica take the lease of one killed within a few
// seconds (SIGKILL releases nothing), in the namespace default (a manager
// outside a cluster has no namespace of its own).
var leaseFlags = []string{
	"--leader-elect", "--leader-election-namespace", "default",
	"--leader-election-lease-duration", "4s",
	"--leader-election-renew-deadline", "3s",
	"--leader-election-retry-period", "1s",
}

// leaseDuration is leaseFlags' lease duration.
const leaseDuration = 4 * time.Second

// slowSimulator is a simulator whose replies are delayed, so that kills land
// during calls, not only between them, with budgets that the tests' work fits.
func slowSimulator(t *testing.T, key, secret string) *simulator {
	return startSimulator(t, key, secret, "--pending", "300ms", "--running", "700ms", "--delay", "500ms")
}

// TestCrashSafety kills the operator with SIGKILL at random moments, 20
// times, while ProfileImports (half with increment changes, half of them
// sharing uploads) and
// AudienceLists (edited and renamed meanwhile) are in flight, starting it
// again each time. Then nothing may be lost or done twice (workload.check),
// and deleting the AudienceLists leaves no finalizer and no list.
func TestCrashSafety(t *testing.T) {
	c := startCluster(t)
	sim := slowSimulator(t, crashKey, crashSecret)
	m := startManager(t, c, "manager", append(managerFlags(sim.URL, ""), leaseFlags...)...)
	ns := c.namespace("crash")
	ns.apply(accountSpec{sim: sim, key: crashKey, secret: crashSecret}.manifest())
	w := newWorkload(ns, sim, crashPIs, crashALs, func(i int) bool { return i%2 == 1 })
	// As many again share one app, and so travel in shared uploads.
	w.packed = crashPIs

	seed := time.Now().UnixNano()
	t.Logf("kill moments from seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	// Work arrives while the operator is killed and started again: the first
	// half before the first kill, the rest, and the edits, along the way.
	w.applyImports(0, crashPIs/2)
	for i := range crashALs / 2 {
		w.applyList(i)
	}
	var (
		peakRSS int64
		cpu     time.Duration
		start   = time.Now()
	)
	for kill := 1; kill <= crashKills; kill++ {
		// Killed while it leads, when its reconciles are under way: from
		// just after it took the lease to a few seconds later.
		m.waitLeading()
		time.Sleep(time.Duration(200+rng.IntN(3000)) * time.Millisecond)
		if !m.running() {
			t.Fatalf("the manager exited before kill %d", kill)
		}
		peakRSS, cpu = max(peakRSS, m.peakRSS()), cpu+m.cpuTime()
		m.kill()
		crashEdits(w, kill)
		m.start()
	}
	// Measured for the Deployment's requests (docs/benchmarks.md).
	t.Logf("%d kills; the manager's peak RSS over its runs: %d MiB, CPU %s in %s", crashKills, peakRSS>>20,
		cpu.Round(10*time.Millisecond), time.Since(start).Round(time.Second))

	By(t, "the last manager finishes the work")
	w.waitSettled(t, 4*time.Minute)
	// With every reply delayed by half a second, kills land during calls;
	// were none cut, the test would have tested restarts between calls only.
	if cut := w.check(t); cut == 0 {
		t.Errorf("none of the %d kills cut a call: the kill moments missed the calls", crashKills)
	}
	By(t, "deleting every AudienceList")
	w.deleteLists(t)
}

// crashEdits is what the user does while the operator is down after a kill:
// more work at the third, new content at the sixth and twelfth, new names
// at the ninth and fifteenth.
func crashEdits(w *workload, kill int) {
	n := len(w.lists)
	switch kill {
	case 3:
		w.applyImports(w.imports/2, w.imports)
		for i := n / 2; i < n; i++ {
			w.applyList(i)
		}
	case 6, 12:
		for i := range n / 2 {
			w.lists[i].members = append(w.lists[i].members, fmt.Sprintf("k%d-%d", kill, i))
			w.applyList(i)
		}
	case 9, 15:
		for i := n / 4; i < 3*n/4; i++ {
			w.lists[i].audience = fmt.Sprintf("List %d (renamed at kill %d)", i, kill)
			w.applyList(i)
		}
	}
}
