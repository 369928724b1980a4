package e2e

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// workload is a set of ProfileImports and AudienceLists in one namespace, as
// the crash and failover tests apply them, and what must hold once the
// operator settled them: nothing lost, nothing done twice.
type workload struct {
	ns  *namespace
	sim *simulator
	// imports is how many ProfileImports, import-0 ... import-N, each of
	// an app of its own (so that the simulator's record tells its uploads).
	imports int
	// increments tells the imports whose file has increment changes.
	increments func(i int) bool
	// packed is how many more ProfileImports, packed-0 ... packed-N, share
	// one app (packedApp), and so travel in shared uploads; the same
	// increments say which have increment changes.
	packed int
	lists  []workloadList
}

// packedApp is the app of the packed imports.
const packedApp = "packed"

// workloadList is an AudienceList as last applied.
type workloadList struct {
	name, audience string
	members        []string
}

func newWorkload(ns *namespace, simulator *simulator, imports, lists int, increments func(int) bool) *workload {
	w := &workload{ns: ns, sim: simulator, imports: imports, increments: increments}
	for i := range lists {
		w.lists = append(w.lists, workloadList{name: fmt.Sprintf("list-%d", i), audience: fmt.Sprintf("List %d", i),
			members: []string{fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)}})
	}
	return w
}

func importName(i int) string { return fmt.Sprintf("import-%d", i) }

func packedName(i int) string { return fmt.Sprintf("packed-%d", i) }

// applyImports applies the imports from..to-1 and their ConfigMaps, and
// the packed imports of the same numbers.
func (w *workload) applyImports(from, to int) {
	for i := from; i < to; i++ {
		ns := w.ns
		ns.apply(configMap(importName(i), "profiles.jsonl", w.lines(i)...))
		ns.apply(profileImport(importName(i), importName(i), importName(i), ""))
		if i < w.packed {
			ns.apply(configMap(packedName(i), "profiles.jsonl", w.packedLines(i)...))
			ns.apply(profileImport(packedName(i), packedApp, packedName(i), ""))
		}
	}
}

// packedLines is the file of packed import i: a customer of its own, so
// that what it left in the shared app is told apart.
func (w *workload) packedLines(i int) []string {
	if w.increments(i) {
		return []string{increment(fmt.Sprintf("p%d", i), "visits", i+1)}
	}
	return []string{assign(fmt.Sprintf("p%d", i), "tier", fmt.Sprintf("tier-%d", i))}
}

// applyList applies list i as it now is.
func (w *workload) applyList(i int) {
	l := w.lists[i]
	w.ns.apply(configMap(l.name, "customers.jsonl", customers(l.members...)...))
	w.ns.apply(audienceList(l.name, l.name, fmt.Sprintf("%q", l.audience), l.name, ""))
}

func (w *workload) lines(i int) []string {
	if w.increments(i) {
		return []string{increment("c1", "orders", i+1), increment("c2", "orders", 1)}
	}
	return []string{assign("c1", "tier", fmt.Sprintf("tier-%d", i)), assign("c2", "tier", "silver")}
}

// profiles is what import i leaves in its app when uploaded once.
func (w *workload) profiles(i int) map[string]map[string]any {
	if w.increments(i) {
		return map[string]map[string]any{"c1": {"orders": float64(i + 1)}, "c2": {"orders": 1.0}}
	}
	return map[string]map[string]any{"c1": {"tier": fmt.Sprintf("tier-%d", i)}, "c2": {"tier": "silver"}}
}

// waitSettled waits until every import is Completed or stalled, and every
// list Ready with its spec's last name and content.
func (w *workload) waitSettled(t *testing.T, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "every import and list to settle", func() bool {
		out := w.ns.kubectl("get", "pi", "-o", `jsonpath={range .items[*]}{.status.phase} {.status.conditions[?(@.type=="Stalled")].status}{"\n"}{end}`)
		settled := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && (f[0] == "Completed" || f[len(f)-1] == "True") {
				settled++
			}
		}
		if settled != w.imports+w.packed {
			return false
		}
		for _, l := range w.lists {
			got := w.ns.get("al/"+l.name, `{.status.conditions[?(@.type=="Ready")].status}|{.status.remoteName}|{.status.recordCount}|{.status.sourceDigest}|{.status.contentDigest}`)
			f := strings.Split(got, "|")
			if len(f) != 5 || f[0] != "True" || f[1] != l.audience || f[2] != fmt.Sprint(len(l.members)) || f[3] != f[4] {
				return false
			}
		}
		return true
	})
}

// check checks the settled workload against the simulator's record: every
// import Completed with an upload the simulator accepted for it, or Stalled
// only as an increment file whose upload's outcome is unknown; no increment
// file uploaded twice; one list per AudienceList with its spec's name and
// ids; no 429. It returns how many calls the simulator received and never
// answered: calls cut by a kill.
func (w *workload) check(t *testing.T) (cutCalls int) {
	t.Helper()
	ns, simulator := w.ns, w.sim
	// What the kills cut: calls the simulator received and never answered.
	cut := map[string]int{}
	for _, call := range simulator.calls(t) {
		if call.Status == 0 {
			cut[string(call.Endpoint)]++
			cutCalls++
		}
	}
	uploads := simulator.uploads(t)
	t.Logf("calls cut, by endpoint: %v; uploads accepted: %d for %d imports and %d lists", cut, len(uploads), w.imports, len(w.lists))
	for i := range w.imports {
		name := importName(i)
		var sent []string
		for _, u := range uploads {
			if u.Endpoint == "P1" && u.Scope.AppID == name {
				sent = append(sent, u.ActivityID)
			}
		}
		phase := ns.get("pi/"+name, "{.status.phase}")
		reason := ns.get("pi/"+name, `{.status.conditions[?(@.type=="Ready")].reason}`)
		if w.increments(i) && len(sent) > 1 {
			t.Errorf("%s has increment changes and reached Localytics %d times: %v", name, len(sent), sent)
		}
		switch {
		case phase == "Completed":
			if activity := ns.get("pi/"+name, "{.status.activityID}"); !slices.Contains(sent, activity) {
				t.Errorf("%s is Completed with activity %q, not an upload the simulator accepted for it (%v)", name, activity, sent)
			}
			if w.increments(i) || len(sent) == 1 {
				expectProfiles(t, simulator, "app_id="+name, w.profiles(i))
			}
		case reason == "UploadOutcomeUnknown" && (w.increments(i) || stalledAfterLosses(ns, name)):
			t.Logf("%s: Stalled, the outcome of its upload unknown (%d uploads reached Localytics)", name, len(sent))
		default:
			t.Errorf("%s ended %s (%s): %s", name, phase, reason, ns.get("pi/"+name, `{.status.conditions[?(@.type=="Ready")].message}`))
		}
	}
	w.checkPacked(t, uploads)
	for _, l := range w.lists {
		id := expectList(t, simulator, l.name, l.audience, slices.Sorted(slices.Values(l.members))...)
		if got := ns.get("al/"+l.name, "{.status.audienceListID}"); got != fmt.Sprint(id) {
			t.Errorf("%s shows list %q, the simulator holds %d", l.name, got, id)
		}
	}
	if n := simulator.throttled(t); n != 0 {
		t.Errorf("the simulator sent %d 429s: the budget was not kept", n)
	}
	return cutCalls
}

// checkPacked checks the packed imports: each Completed with an upload
// the simulator accepted for their app, or Stalled only as an increment
// file whose upload's outcome is unknown; what each left in the app applied
// once (an increment twice would show its value doubled), or, for a stalled
// one, at most once.
func (w *workload) checkPacked(t *testing.T, uploads []sim.UploadRecord) {
	t.Helper()
	var sent []string
	for _, u := range uploads {
		if u.Endpoint == "P1" && u.Scope.AppID == packedApp {
			sent = append(sent, u.ActivityID)
		}
	}
	profiles := w.sim.profiles(t, "app_id="+packedApp)
	shared := 0
	for i := range w.packed {
		name, customer := packedName(i), fmt.Sprintf("p%d", i)
		phase := w.ns.get("pi/"+name, "{.status.phase}")
		reason := w.ns.get("pi/"+name, `{.status.conditions[?(@.type=="Ready")].reason}`)
		if n, _ := strconv.Atoi(w.ns.get("pi/"+name, "{.status.sharedUpload.imports}")); n > 1 {
			shared++
		}
		got, once := profiles[customer], map[string]any{"tier": fmt.Sprintf("tier-%d", i)}
		if w.increments(i) {
			once = map[string]any{"visits": float64(i + 1)}
		}
		switch {
		case phase == "Completed":
			if activity := w.ns.get("pi/"+name, "{.status.activityID}"); !slices.Contains(sent, activity) {
				t.Errorf("%s is Completed with activity %q, not an upload the simulator accepted for its app (%v)", name, activity, sent)
			}
			if !reflect.DeepEqual(got, once) {
				t.Errorf("%s is Completed and left %v for %s, want %v: applied once", name, got, customer, once)
			}
		case reason == "UploadOutcomeUnknown" && (w.increments(i) || stalledAfterLosses(w.ns, name)):
			if got != nil && !reflect.DeepEqual(got, once) {
				t.Errorf("%s is Stalled and left %v for %s, want nothing or %v: applied at most once", name, got, customer, once)
			}
		default:
			t.Errorf("%s ended %s (%s): %s", name, phase, reason, w.ns.get("pi/"+name, `{.status.conditions[?(@.type=="Ready")].message}`))
		}
	}
	t.Logf("packed imports: %d of %d travelled in a shared upload; %d uploads reached Localytics for them", shared, w.packed, len(sent))
}

// stalledAfterLosses tells an import without increment changes that
// stalled because the answers of several of its uploads were lost in a
// row: the kills can cut that many, and the operator then waits for a
// person rather than spend the budget on uploads that may all have applied.
func stalledAfterLosses(ns *namespace, name string) bool {
	return ns.get("pi/"+name, `{.status.conditions[?(@.type=="Stalled")].status}`) == "True" &&
		strings.Contains(ns.get("pi/"+name, `{.status.conditions[?(@.type=="Stalled")].message}`), "uploads of this file had an unknown outcome")
}

// completed counts the imports Completed.
func (w *workload) completed() int {
	return strings.Count(w.ns.kubectl("get", "pi", "-o", "jsonpath={.items[*].status.phase}"), "Completed")
}

// deleteLists deletes every AudienceList and checks that none is left, held
// by its finalizer, and no list in Localytics.
func (w *workload) deleteLists(t *testing.T) {
	t.Helper()
	w.ns.kubectl("delete", "al", "--all", "--wait", "--timeout=2m")
	if left := w.ns.kubectl("get", "al", "-o", "name"); strings.TrimSpace(left) != "" {
		t.Errorf("AudienceLists left after the delete: %s", left)
	}
	for _, l := range w.lists {
		if remote := w.sim.lists(t, l.name); len(remote) != 0 {
			t.Errorf("app %s still holds %+v", l.name, remote)
		}
	}
}
