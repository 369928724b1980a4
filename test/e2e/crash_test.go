package e2e

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
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

// crashLease makes a restarted manager take the lease of the one killed
// within a few seconds (SIGKILL releases nothing).
var crashLease = []string{
	"--leader-elect", "--leader-election-namespace", "default",
	"--leader-election-lease-duration", "4s",
	"--leader-election-renew-deadline", "3s",
	"--leader-election-retry-period", "1s",
}

// TestCrashSafety kills the operator with SIGKILL at random moments, 20
// times, while ProfileImports (half with increment changes) and
// AudienceLists (edited and renamed meanwhile) are in flight, starting it
// again each time. Then nothing may be lost or done twice: every object
// ends Ready, or Stalled only as an increment file whose upload's outcome is
// unknown; no increment file reached Localytics twice; every Ready import was
// uploaded; each AudienceList has exactly one list, with its spec's name and
// ids; deleting them leaves no finalizer and no list.
func TestCrashSafety(t *testing.T) {
	c := startCluster(t)
	// Replies are delayed so that kills land during calls, not only between them.
	sim := startSimulator(t, "--account", crashKey+":"+crashSecret+":org=60,app=*",
		"--pending", "300ms", "--running", "700ms", "--delay", "500ms",
		"--profile-uploads", "100", "--profile-status", "600", "--profile-status-window", "1m",
		"--audience-calls", "600", "--audience-call-window", "1m")
	m := startManager(t, c, "manager", append(managerFlags(sim, ""), crashLease...)...)
	ns := c.namespace("crash")
	ns.apply(accountSpec{sim: sim, key: crashKey, secret: crashSecret}.manifest())

	seed := time.Now().UnixNano()
	t.Logf("kill moments from seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	lists := make([]crashList, crashALs)
	for i := range lists {
		lists[i] = crashList{name: fmt.Sprintf("list-%d", i), audience: fmt.Sprintf("List %d", i),
			members: []string{fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)}}
	}
	applyImports := func(from, to int) {
		for i := from; i < to; i++ {
			name := fmt.Sprintf("import-%d", i)
			ns.apply(configMap(name, "profiles.jsonl", crashImportLines(i)...))
			ns.apply(profileImport(name, name, name, ""))
		}
	}
	applyList := func(l crashList) {
		ns.apply(configMap(l.name, "customers.jsonl", customers(l.members...)...))
		ns.apply(audienceList(l.name, l.name, fmt.Sprintf("%q", l.audience), l.name, ""))
	}

	// Work arrives while the operator is killed and started again: the first
	// half before the first kill, the rest, and the edits, along the way.
	applyImports(0, crashPIs/2)
	for _, l := range lists[:crashALs/2] {
		applyList(l)
	}
	var peakRSS int64
	for kill := 1; kill <= crashKills; kill++ {
		// Killed while it leads, when its reconciles are under way: from
		// just after it took the lease to a few seconds later.
		m.waitForLog("Successfully acquired lease", time.Minute)
		time.Sleep(time.Duration(200+rng.IntN(3000)) * time.Millisecond)
		if !m.running() {
			t.Fatalf("the manager exited before kill %d", kill)
		}
		peakRSS = max(peakRSS, m.peakRSS())
		m.kill()
		switch kill {
		case 3:
			applyImports(crashPIs/2, crashPIs)
			for _, l := range lists[crashALs/2:] {
				applyList(l)
			}
		case 6, 12:
			for i := range lists[:crashALs/2] { // new content
				lists[i].members = append(lists[i].members, fmt.Sprintf("k%d-%d", kill, i))
				applyList(lists[i])
			}
		case 9, 15:
			for i := crashALs / 4; i < 3*crashALs/4; i++ { // a new name
				lists[i].audience = fmt.Sprintf("List %d (renamed at kill %d)", i, kill)
				applyList(lists[i])
			}
		}
		m.start()
	}
	t.Logf("%d kills; the manager's peak RSS over its runs: %d MiB", crashKills, peakRSS>>20)

	By(t, "the last manager finishes the work")
	waitFor(t, 4*time.Minute, "every import and list to settle", func() bool {
		return crashSettled(t, ns, lists)
	})

	crashCheckImports(t, ns, sim)
	for _, l := range lists {
		id := expectList(t, sim, l.name, l.audience, slices.Sorted(slices.Values(l.members))...)
		if got := ns.get("al/"+l.name, "{.status.audienceListID}"); got != fmt.Sprint(id) {
			t.Errorf("%s shows list %q, the simulator holds %d", l.name, got, id)
		}
	}
	if n := sim.throttled(t); n != 0 {
		t.Errorf("the simulator sent %d 429s: a restart forgot the budget", n)
	}

	By(t, "deleting every AudienceList")
	ns.kubectl("delete", "al", "--all", "--wait", "--timeout=2m")
	if left := ns.kubectl("get", "al", "-o", "name"); strings.TrimSpace(left) != "" {
		t.Errorf("AudienceLists left after the delete: %s", left)
	}
	for _, l := range lists {
		if remote := sim.lists(t, l.name); len(remote) != 0 {
			t.Errorf("app %s still holds %+v", l.name, remote)
		}
	}
}

// crashCheckImports checks every ProfileImport against the uploads the
// simulator accepted.
func crashCheckImports(t *testing.T, ns *namespace, sim *simulator) {
	t.Helper()
	// What the kills cut: calls the simulator received and never answered.
	cut := map[string]int{}
	for _, call := range sim.calls(t) {
		if call.Status == 0 {
			cut[call.Endpoint]++
		}
	}
	uploads := sim.uploads(t)
	t.Logf("calls cut by the kills, by endpoint: %v; uploads accepted: %d for %d imports and %d lists", cut, len(uploads), crashPIs, crashALs)
	for i := range crashPIs {
		name := fmt.Sprintf("import-%d", i)
		var sent []string
		for _, u := range uploads {
			if u.Endpoint == "P1" && u.Scope.AppID == name {
				sent = append(sent, u.ActivityID)
			}
		}
		phase, reason := ns.get("pi/"+name, "{.status.phase}"), ns.get("pi/"+name, `{.status.conditions[?(@.type=="Ready")].reason}`)
		if crashIncrements(i) && len(sent) > 1 {
			t.Errorf("%s has increment changes and reached Localytics %d times: %v", name, len(sent), sent)
		}
		switch {
		case phase == "Completed":
			activity := ns.get("pi/"+name, "{.status.activityID}")
			if !slices.Contains(sent, activity) {
				t.Errorf("%s is Completed with activity %q, not an upload the simulator accepted for it (%v)", name, activity, sent)
			}
			if crashIncrements(i) || len(sent) == 1 {
				expectProfiles(t, sim, "app_id="+name, crashImportProfiles(i))
			}
		case crashIncrements(i) && reason == "UploadOutcomeUnknown":
			t.Logf("%s: Stalled, the outcome of its upload unknown (%d uploads reached Localytics)", name, len(sent))
		default:
			t.Errorf("%s ended %s (%s): %s", name, phase, reason, ns.get("pi/"+name, `{.status.conditions[?(@.type=="Ready")].message}`))
		}
	}
}

// crashList is an AudienceList as the crash test last applied it.
type crashList struct {
	name, audience string
	members        []string
}

// crashIncrements tells the imports with increment changes: the odd ones.
func crashIncrements(i int) bool { return i%2 == 1 }

func crashImportLines(i int) []string {
	if crashIncrements(i) {
		return []string{increment("c1", "orders", i), increment("c2", "orders", 1)}
	}
	return []string{assign("c1", "tier", fmt.Sprintf("tier-%d", i)), assign("c2", "tier", "silver")}
}

func crashImportProfiles(i int) map[string]map[string]any {
	if crashIncrements(i) {
		return map[string]map[string]any{"c1": {"orders": float64(i)}, "c2": {"orders": 1.0}}
	}
	return map[string]map[string]any{"c1": {"tier": fmt.Sprintf("tier-%d", i)}, "c2": {"tier": "silver"}}
}

// crashSettled reports whether every import is Completed or stalled, and
// every list Ready with its spec's last name and content.
func crashSettled(t *testing.T, ns *namespace, lists []crashList) bool {
	t.Helper()
	out := ns.kubectl("get", "pi", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.conditions[?(@.type=="Stalled")].status}{"\n"}{end}`)
	settled := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[1] == "Completed" || f[len(f)-1] == "True") {
			settled++
		}
	}
	if settled != crashPIs {
		return false
	}
	for _, l := range lists {
		got := ns.get("al/"+l.name, `{.status.conditions[?(@.type=="Ready")].status}|{.status.remoteName}|{.status.recordCount}|{.status.sourceDigest}|{.status.contentDigest}`)
		f := strings.Split(got, "|")
		if len(f) != 5 || f[0] != "True" || f[1] != l.audience || f[2] != fmt.Sprint(len(l.members)) || f[3] != f[4] {
			return false
		}
	}
	return true
}
