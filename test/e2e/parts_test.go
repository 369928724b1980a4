package e2e

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// TestPartsSurviveACrash imports a file with increment changes in three
// parts, one upload slot a window, and kills the operator with SIGKILL
// while each of the later parts waits for its slot. The manager started
// again must resume at the next part: three uploads in all, every
// customer's increment applied exactly once, and the parts in order.
func TestPartsSurviveACrash(t *testing.T) {
	const (
		key, secret = "parts-key", "parts-secret"
		uploadBytes = 2048
		customers   = 60
	)
	c := startCluster(t)
	sim := startSimulator(t, key, secret, "--max-upload-bytes", strconv.Itoa(uploadBytes))
	m := startManager(t, c, "manager", append(managerFlags(sim.URL, ""), leaseFlags...)...)
	ns := c.namespace("parts")
	ns.apply(accountSpec{sim: sim, key: key, secret: secret, profileUploads: 1, uploadWindow: "15s", maxUploadBytes: uploadBytes}.manifest())
	var lines []string
	for i := 1; i <= customers; i++ {
		lines = append(lines, increment(fmt.Sprintf("c%03d", i), "visits", i))
	}
	lines = append(lines, assign("c001", "color", "last")) // the last part's, applied last
	ns.apply(configMap("big", "profiles.jsonl", lines...) + "---\n" + profileImport("big", "parts-app", "big", ""))

	for done := 1; done <= 2; done++ {
		By(t, fmt.Sprintf("killing the operator while part %d waits for its slot", done+1))
		waitFor(t, 2*time.Minute, fmt.Sprintf("part %d done and the next queued", done), func() bool {
			return ns.get("pi/big", "{.status.parts.done}") == strconv.Itoa(done) && ns.get("pi/big", "{.status.phase}") == "Queued"
		})
		m.kill()
		m.start()
	}
	ns.wait("pi/big", "condition=Ready")

	if got := ns.get("pi/big", "{.status.parts.progress}"); got != "3/3" {
		t.Errorf("parts progress %q, want 3/3", got)
	}
	uploads := sim.uploads(t)
	if len(uploads) != 3 {
		t.Fatalf("%d uploads, want 3, one per part: %+v", len(uploads), uploads)
	}
	for i, u := range uploads {
		if u.Bytes > uploadBytes {
			t.Errorf("part %d has %d bytes, over the account's %d", i+1, u.Bytes, uploadBytes)
		}
		if job := ns.get("pi/big", fmt.Sprintf("{.status.parts.jobs[%d].activityID}", i)); job != u.ActivityID {
			t.Errorf("part %d's job is %q, its upload's activity %q", i+1, job, u.ActivityID)
		}
	}
	profiles := sim.profiles(t, "app_id=parts-app")
	if len(profiles) != customers {
		t.Errorf("%d profiles, want %d", len(profiles), customers)
	}
	for i := 1; i <= customers; i++ {
		id := fmt.Sprintf("c%03d", i)
		if got := profiles[id]["visits"]; fmt.Sprint(got) != strconv.Itoa(i) {
			t.Errorf("%s has visits %v, want %d: an increment applied other than once", id, got, i)
		}
	}
	if got := profiles["c001"]["color"]; got != "last" {
		t.Errorf("c001 has color %v, want last: the parts were not applied in order", got)
	}
	if n := ns.get("pi/big", "{.status.statistics.successful}"); n != strconv.Itoa(customers+1) {
		t.Errorf("statistics.successful %s, want %d, the parts' sum", n, customers+1)
	}
}
