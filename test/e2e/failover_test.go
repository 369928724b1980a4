package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// shardLabel is the label by which platform teams split objects between
// shards (docs: "Running shards").
const shardLabel = "sharding.imports.localytics.dev/key"

// byProcess is the User-Agent mark of one manager process's calls.
func byProcess(m *manager) string { return fmt.Sprintf("; pid %d)", m.cmd.Process.Pid) }

// TestFailover runs two replicas with leader election: only the leader
// calls Localytics; when it is killed mid-work, the other takes the lease
// within the lease duration and finishes the work, nothing uploaded twice.
func TestFailover(t *testing.T) {
	c := startCluster(t)
	sim := slowSimulator(t, crashKey, crashSecret)
	flags := slices.Concat(managerFlags(sim.URL, ""), leaseFlags)
	a := startManager(t, c, "replica-a", flags...)
	a.waitLeading()
	b := startManager(t, c, "replica-b", flags...)
	b.waitForLog("Attempting to acquire leader lease")

	ns := c.namespace("failover")
	ns.apply(accountSpec{sim: sim, key: crashKey, secret: crashSecret}.manifest())
	// Every file has increment changes: none may reach Localytics twice.
	w := newWorkload(ns, sim, 10, 4, func(int) bool { return true })
	w.applyImports(0, w.imports)
	for i := range w.lists {
		w.applyList(i)
	}

	By(t, "the leader works; the other replica only waits")
	waitFor(t, time.Minute, "the leader's first uploads", func() bool { return len(sim.uploads(t)) >= 3 })
	for _, call := range sim.calls(t) {
		if !strings.Contains(call.UserAgent, byProcess(a)) {
			t.Fatalf("a call (%s %s) from %q, not the leader: %s", call.Endpoint, call.AppID, call.UserAgent, byProcess(a))
		}
	}
	if out, _ := b.logSince(); strings.Contains(out, "Starting workers") {
		t.Fatalf("the replica that does not lead started its workers:\n%s", out)
	}

	By(t, "killing the leader")
	killed := time.Now()
	a.kill()
	// Jobs are polled 5s after their upload at the soonest: the work is in
	// flight, not done.
	if done := w.completed(); done == w.imports {
		t.Fatalf("all %d imports were Completed before the leader was killed: nothing left to take over", done)
	}
	b.waitLeading()
	// Bounded by the protocol, not by speed: the lease runs out leaseDuration
	// after the last renewal, and the replica tries every retry period.
	if took := time.Since(killed); took > leaseDuration+10*time.Second {
		t.Errorf("the other replica took over after %s, the lease lasts %s", took, leaseDuration)
	}
	w.waitSettled(t, 3*time.Minute)
	w.check(t)
	for _, call := range sim.calls(t) {
		fromA, fromB := strings.Contains(call.UserAgent, byProcess(a)), strings.Contains(call.UserAgent, byProcess(b))
		switch {
		case fromB && call.Time.Before(killed):
			t.Errorf("the replica that did not lead called %s at %s, before the leader was killed", call.Endpoint, call.Time)
		case !fromA && !fromB:
			t.Errorf("a call from %q, neither replica", call.UserAgent)
		}
	}
}

// TestShards runs two managers as shards of one account, each with its
// label selector and its own lease: each reconciles its own imports only,
// and between them they never exceed the account's upload budget.
func TestShards(t *testing.T) {
	const (
		budget  = 4
		window  = 20 * time.Second
		imports = 10
	)
	c := startCluster(t)
	sim := startSimulator(t, crashKey, crashSecret, "--profile-uploads", fmt.Sprint(budget), "--profile-upload-window", window.String())
	flags := slices.Concat(managerFlags(sim.URL, ""), leaseFlags)
	shard1 := startManager(t, c, "shard1", slices.Concat(flags, []string{"--watch-label-selector", shardLabel + "=shard1"})...)
	byDefault := startManager(t, c, "default-shard", slices.Concat(flags, []string{"--watch-label-selector", "!" + shardLabel})...)
	shard1.waitLeading()
	byDefault.waitLeading()
	if leases := strings.Fields(c.kubectl("get", "lease", "-n", "default", "-o", "jsonpath={.items[*].metadata.name}")); len(leases) != 2 {
		t.Fatalf("the shards hold leases %v, want one each", leases)
	}

	ns := c.namespace("shards")
	quota := accountSpec{sim: sim, key: crashKey, secret: crashSecret, profileUploads: budget, uploadWindow: window.String()}
	ns.apply(quota.manifest())
	shardOf := map[string]*manager{}
	for i := range imports {
		name := importName(i)
		pi := profileImport(name, name, name, "")
		shardOf[name] = byDefault
		if i%2 == 0 {
			pi = strings.Replace(pi, "  name: "+name+"\n", "  name: "+name+"\n  labels:\n    "+shardLabel+": shard1\n", 1)
			shardOf[name] = shard1
		}
		ns.apply(configMap(name, "profiles.jsonl", assign("c1", "tier", name)))
		ns.apply(pi)
	}
	for i := range imports {
		ns.wait("pi/"+importName(i), "condition=Ready")
	}

	var times []time.Time
	for _, u := range sim.uploads(t) {
		times = append(times, u.Time)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	if len(times) != imports {
		t.Errorf("%d uploads for %d imports", len(times), imports)
	}
	for i := range times {
		in := 0
		for _, u := range times[i:] {
			if u.Sub(times[i]) < window {
				in++
			}
		}
		if in > budget {
			t.Errorf("%d uploads in the %s from %s: the budget is %d", in, window, times[i], budget)
		}
	}
	if n := sim.throttled(t); n != 0 {
		t.Errorf("the simulator sent %d 429s", n)
	}
	for _, call := range sim.calls(t) {
		if m, ok := shardOf[call.AppID]; ok && call.Endpoint == "P1" && !strings.Contains(call.UserAgent, byProcess(m)) {
			t.Errorf("the upload of %s came from %q, not its shard %s", call.AppID, call.UserAgent, m.name)
		}
	}
}
