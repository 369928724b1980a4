// Package e2e runs the operator as people run it: real binaries on loopback,
// driven by the repository's own scripts.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// TestDemo runs hack/demo.sh (what `make demo` runs) and fails if the demo
// breaks: the three sample ProfileImports (two from ConfigMaps, one from the
// object store the demo starts) must end Completed, the two sample
// AudienceLists (jsonl from a ConfigMap, lines from the object store) Ready,
// and the simulator must hold exactly the sample files' changes and one list
// per AudienceList, whose members are the source's distinct customer ids. The
// script builds the binaries into a temporary directory and keeps its logs in
// another, so the test leaves bin/ alone.
func TestDemo(t *testing.T) {
	assets := needsControlPlane(t, true)
	store, err := testenv.VersityGW()
	if err != nil {
		t.Fatal(err) // needsControlPlane found it
	}

	root := testenv.RepoRoot()
	demoDir, binDir := t.TempDir(), t.TempDir()
	// Registered after t.TempDir, so it runs before the directories are removed:
	// whatever happened to the script, nothing it started outlives the test.
	t.Cleanup(func() { killLeftovers(t, filepath.Join(demoDir, "pids")) })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "demo.sh"))
	cmd.Dir = root
	cmd.Env = append(withoutEnv(os.Environ(), "DEMO_KEEP"),
		"KUBEBUILDER_ASSETS="+assets,
		"VERSITYGW="+store,
		"DEMO_DIR="+demoDir,
		"DEMO_BIN="+binDir,
		"DEMO_TIMEOUT=120s", // for the ProfileImports, then for the AudienceLists
	)
	// On timeout, SIGTERM lets the script's trap stop what it started.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("hack/demo.sh took %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("hack/demo.sh: %v\n%s", err, out.String())
	}
	output := out.String()

	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^home-stores-2026-11\s+Completed\s+\S+\s+3\s+0\s`),
		regexp.MustCompile(`(?m)^loyalty-tiers-2026-11\s+Completed\s+\S+\s+4\s+0\s`),
		regexp.MustCompile(`(?m)^crm-export-2026-11\s+Completed\s+\S+\s+3\s+0\s`),
		regexp.MustCompile(`(?m)^localyticsaccount\.imports\.localytics\.dev/acme\s+True\s`),
		regexp.MustCompile(`(?s)OK: the simulator holds exactly the sample file's changes.*` +
			`OK: the simulator holds exactly the sample file's changes.*` +
			`OK: the simulator holds exactly the sample file's changes`),
		regexp.MustCompile(`(?m)^audiencelist\.imports\.localytics\.dev/vip-customers condition met$`),
		regexp.MustCompile(`(?m)^audiencelist\.imports\.localytics\.dev/churn-risk-2026-11 condition met$`),
		regexp.MustCompile(`(?s)OK: the simulator's list holds exactly the source's distinct customer ids.*` +
			`OK: the simulator's list holds exactly the source's distinct customer ids`),
		regexp.MustCompile(`(?m)^stopped; logs are in `),
	} {
		if !want.MatchString(output) {
			t.Errorf("the demo's output does not match %s", want)
		}
	}

	// The script compares the simulator with config/demo/expected/; check the
	// state it saved once more here, spelled out, so that a wrong expected file
	// cannot hide a wrong result.
	wantState := map[string]map[string]map[string]any{
		"sim-org-60.json": {
			"abc": {"loyalty_tier": "gold", "member_since": "2024-03-01", "lifetime_orders": 1.0},
			"123": {"interests": []any{"cycling", "running"}},
			"zxc": {},
		},
		"sim-app.json": {
			"abc": {"home_store": "Boston", "newsletter": "yes"},
			"123": {"home_store": "Chicago"}, // the empty newsletter cell cleared it
			"zxc": {"home_store": "Denver", "newsletter": "no"},
		},
		"sim-app-crm.json": { // from the object store
			"abc": {"crm_segment": "enterprise", "account_manager": "Dana"},
			"123": {"crm_segment": "smb", "products": []any{"analytics", "push"}},
			"zxc": {"crm_segment": "smb", "open_tickets": 2.0},
		},
	}
	for file, want := range wantState {
		data, err := os.ReadFile(filepath.Join(demoDir, file))
		if err != nil {
			t.Errorf("the simulator's state: %v", err)
			continue
		}
		var got map[string]map[string]any
		if err := json.Unmarshal(data, &got); err != nil {
			t.Errorf("%s: %v\n%s", file, err, data)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the simulator holds\n%s\nwant %v", file, data, want)
		}
	}

	// kubectl get al -o wide: NAME, AUDIENCE, APP, LIST ID, RECORDS, READY,
	// AGE, VERSION. The list id must be the one the simulator holds.
	wantLists := map[string]struct {
		file, name, app string
		members         []string
	}{
		"vip-customers": {
			file: "sim-audiences-app.json", name: "VIP customers", app: appID,
			members: []string{"123", "abc", "zxc"},
		},
		"churn-risk-2026-11": { // lines: abc twice, blanks around 123 and zxc
			file: "sim-audiences-app-crm.json", name: "Churn risk (November 2026)", app: crmAppID,
			members: []string{"123", "abc", "q42", "zxc"},
		},
	}
	for object, want := range wantLists {
		row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(object) + `\s+` + regexp.QuoteMeta(want.name) + `\s+` +
			regexp.QuoteMeta(want.app) + `\s+(\d+)\s+` + strconv.Itoa(len(want.members)) + `\s+True\s+\S+\s+1\s`)
		m := row.FindStringSubmatch(output)
		if m == nil {
			t.Errorf("kubectl get al -o wide shows no row matching %s", row)
			continue
		}
		data, err := os.ReadFile(filepath.Join(demoDir, want.file))
		if err != nil {
			t.Errorf("the simulator's lists: %v", err)
			continue
		}
		var lists []struct {
			ID          int64    `json:"id"`
			Name        string   `json:"name"`
			AppID       string   `json:"app_id"`
			Version     int      `json:"version"`
			RecordCount int      `json:"record_count"`
			Members     []string `json:"members"`
		}
		if err := json.Unmarshal(data, &lists); err != nil {
			t.Errorf("%s: %v\n%s", want.file, err, data)
			continue
		}
		if len(lists) != 1 {
			t.Errorf("%s: the simulator holds %d lists for app %s, want 1 (%s)\n%s", want.file, len(lists), want.app, object, data)
			continue
		}
		l := lists[0]
		if strconv.FormatInt(l.ID, 10) != m[1] || l.Name != want.name || l.AppID != want.app || l.Version != 1 ||
			l.RecordCount != len(want.members) || !reflect.DeepEqual(l.Members, want.members) {
			t.Errorf("%s: the simulator holds\n%s\nwant list %s %q of app %s, version 1, members %v",
				want.file, data, m[1], want.name, want.app, want.members)
		}
	}

	// Stopped cleanly: the script waited for every process it started.
	for _, sid := range readPIDs(t, filepath.Join(demoDir, "pids")) {
		if left := sessionMembers(sid); len(left) > 0 {
			t.Errorf("processes %v started by the demo (session %d) are still running", left, sid)
		}
	}
	if t.Failed() {
		t.Logf("the demo's output:\n%s", output)
	}
}

// The apps of the sample AudienceLists (config/samples/imports_v1alpha1_audiencelist*.yaml).
const (
	appID    = "329713ff0a13384015c3158-62b52efa-3912-11e8-7723-007c928ca240"
	crmAppID = "5f3c2b1a09e8d7c6b5a4938-0a1b2c3d-4e5f-11e8-a6b7-00c8d9e0f1a2"
)

// killLeftovers kills what is left of the processes the demo started, in case
// the script itself was killed: each runs in a session of its own, which also
// holds its children (etcd and kube-apiserver under bin/cluster).
func killLeftovers(t *testing.T, pidFile string) {
	for _, sid := range readPIDs(t, pidFile) {
		for _, pid := range sessionMembers(sid) {
			t.Logf("killing process %d left by the demo (session %d)", pid, sid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// sessionMembers lists the processes of session sid, from /proc (Linux); on
// other systems it finds only the session leader.
func sessionMembers(sid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		if syscall.Kill(sid, 0) == nil {
			return []int{sid}
		}
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses.
		rest := string(stat)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		if f := strings.Fields(rest); len(f) > 3 && f[3] == strconv.Itoa(sid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func readPIDs(t *testing.T, file string) []int {
	data, err := os.ReadFile(file)
	if err != nil {
		if !os.IsNotExist(err) {
			t.Logf("reading %s: %v", file, err)
		}
		return nil
	}
	var pids []int
	for _, field := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(field); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
