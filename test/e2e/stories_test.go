package e2e

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/localytics-operator/localytics-operator/internal/source"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

const (
	storyKey    = "story-key"
	storySecret = "story-secret"
	// ready is how long a story waits for an object to settle: jobs of the
	// simulator end in under a second, the operator polls them after 5s.
	ready = 90 * time.Second
)

// TestUserStories drives every user story of the two kinds as a user would,
// with kubectl only, against one operator process. The stories run in
// parallel, each in a namespace of its own; those that arm faults of the
// simulator have a simulator of their own.
func TestUserStories(t *testing.T) {
	c := startCluster(t)
	store, gcs, azurite := startStore(t), startGCS(t), startAzurite(t)
	sim := startSimulator(t, storyKey, storySecret)
	// The manager reads gs:// objects from the emulator, as an operator
	// whose environment names it does.
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	// Every simulator of the stories listens on 127.0.0.1: an entry without
	// a port allows them all.
	startManager(t, c, "manager", managerFlags("http://127.0.0.1", store.Endpoint+",http://"+azurite.Domain)...)

	e := &storyEnv{c: c, sim: sim, store: store, gcs: gcs, azurite: azurite}
	t.Run("stories", func(t *testing.T) {
		for _, story := range []struct {
			name string
			run  func(*testing.T, *storyEnv)
		}{
			{"ProfileImport created, edited after it completed, deleted", storyProfileImportLifecycle},
			{"ProfileImport of a bad file stalls with the line, and uploads once the file is fixed", storyProfileImportBadFile},
			{"bad credentials stall the account and wait both kinds; rotating the Secret fixes all", storyBadCredentials},
			{"ProfileImport waits for a slot, Queued with the next slot, then uploads", storyProfileImportQuota},
			{"ProfileImports applied together gather and share one upload, which kubectl get pi shows", storyProfileImportPacking},
			{"ProfileImport of unknown outcome: retried when it cannot count twice, else stalled until the retry annotation", storyProfileImportUnknownOutcome},
			{"AudienceList created, its source edited, renamed, deleted", storyAudienceListLifecycle},
			{"AudienceList orphaned, then its list adopted by another", storyAudienceListOrphanAdopt},
			{"AudienceList of a bad file stalls and creates nothing until fixed", storyAudienceListBadFile},
			{"AudienceList waits for room under the per-app cap, then is created", storyAudienceListCap},
			{"AudienceList whose create's answer was lost finds its list instead of making a second", storyAudienceListLostCreate},
			{"both kinds from an S3-compatible store; a replaced object replaces the list", s3Store.story},
			{"both kinds from Google Cloud Storage; a replaced object replaces the list", gcsStore.story},
			{"both kinds from Azure Blob Storage; a replaced object replaces the list", azureStore.story},
		} {
			t.Run(story.name, func(t *testing.T) {
				t.Parallel()
				story.run(t, e)
			})
		}
	})
	// The shared simulator's budgets are the accounts': the operator kept
	// them, and never learnt them from a 429.
	if n := sim.throttled(t); n != 0 {
		t.Errorf("the simulator sent %d 429s", n)
	}
}

// storyEnv is what the stories share: the cluster, the operator's
// simulator and the object store.
type storyEnv struct {
	c       *cluster
	sim     *simulator
	store   *testenv.ObjectStore
	gcs     *testenv.GCSEmulator
	azurite *testenv.Azurite
}

// newSim starts a simulator of the story's own, for faults.
func (e *storyEnv) newSim(t *testing.T) *simulator {
	return startSimulator(t, storyKey, storySecret)
}

// account is the story account on sim.
func (e *storyEnv) account(sim *simulator) accountSpec {
	return accountSpec{sim: sim, key: storyKey, secret: storySecret}
}

// storyProfileImportLifecycle: ProfileImport created, edited after it completed, deleted.
func storyProfileImportLifecycle(t *testing.T, e *storyEnv) {
	ns := e.c.namespace("pi-create")
	ns.apply(e.account(e.sim).manifest())
	ns.apply(configMap("tiers", "profiles.jsonl", assign("c1", "tier", "gold"), assign("c2", "tier", "silver")))
	ns.apply(profileImport("tiers", "pi-create", "tiers", ""))
	ns.wait("pi/tiers", "condition=Ready")
	expectProfiles(t, e.sim, "app_id=pi-create", map[string]map[string]any{"c1": {"tier": "gold"}, "c2": {"tier": "silver"}})
	if got := ns.get("pi/tiers", "{.status.phase} {.status.statistics.successful}"); got != "Completed 2" {
		t.Errorf("kubectl get pi tiers: phase and rows %q, want Completed 2", got)
	}

	By(t, "a ProfileImport is a one-off, like a Job: a changed ConfigMap is not uploaded again")
	ns.apply(configMap("tiers", "profiles.jsonl", assign("c1", "tier", "bronze")))
	time.Sleep(5 * time.Second)
	if n := uploadsOf(t, e.sim, "pi-create"); n != 1 {
		t.Errorf("%d uploads after the ConfigMap changed, want 1", n)
	}

	ns.kubectl("delete", "pi/tiers", "--wait", "--timeout=30s")
	if out, err := ns.run("", "get", "pi/tiers"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("the ProfileImport is still there: %s", out)
	}
	expectProfiles(t, e.sim, "app_id=pi-create", map[string]map[string]any{"c1": {"tier": "gold"}, "c2": {"tier": "silver"}})
}

// storyProfileImportBadFile: ProfileImport of a bad file stalls with the line, and uploads once the file is fixed.
func storyProfileImportBadFile(t *testing.T, e *storyEnv) {
	ns := e.c.namespace("pi-bad-file")
	ns.apply(e.account(e.sim).manifest())
	ns.apply(configMap("tiers", "profiles.jsonl", assign("c1", "tier", "gold"), `{"customer_id":"c2","changes":[{"op":"assign"}]}`))
	ns.apply(profileImport("tiers", "pi-bad-file", "tiers", "  validation: Strict\n"))
	ns.waitReason("pi/tiers", "ValidationFailed")
	if got := ns.get("pi/tiers", `{.status.conditions[?(@.type=="Stalled")].status}`); got != "True" {
		t.Errorf("Stalled is %q, want True", got)
	}
	if msg := ns.get("pi/tiers", `{.status.conditions[?(@.type=="Ready")].message}`); !strings.Contains(msg, "line 2") {
		t.Errorf("the message does not name line 2: %q", msg)
	}
	if n := uploadsOf(t, e.sim, "pi-bad-file"); n != 0 {
		t.Errorf("%d uploads of a file that failed validation", n)
	}

	By(t, "fixing the ConfigMap")
	ns.apply(configMap("tiers", "profiles.jsonl", assign("c1", "tier", "gold"), assign("c2", "tier", "silver")))
	ns.wait("pi/tiers", "condition=Ready")
	expectProfiles(t, e.sim, "app_id=pi-bad-file", map[string]map[string]any{"c1": {"tier": "gold"}, "c2": {"tier": "silver"}})
}

// storyBadCredentials: bad credentials stall the account and wait both kinds; rotating the Secret fixes all.
func storyBadCredentials(t *testing.T, e *storyEnv) {
	ns := e.c.namespace("bad-credentials")
	bad := e.account(e.sim)
	bad.secretDataSecret = "not-the-secret"
	ns.apply(bad.manifest())
	ns.apply(configMap("tiers", "profiles.jsonl", assign("c1", "tier", "gold")))
	ns.apply(profileImport("tiers", "bad-credentials", "tiers", ""))
	ns.apply(configMap("vip", "customers.jsonl", customers("c1", "c2")...))
	ns.apply(audienceList("vip", "bad-credentials", "VIP", "vip", ""))
	ns.waitReason("lya/acme", "CredentialsRefused")
	ns.waitReason("pi/tiers", "AccountNotReady")
	ns.waitReason("al/vip", "AccountNotReady")
	if msg := ns.get("lya/acme", `{.status.conditions[?(@.type=="Ready")].message}`); strings.Contains(msg, "not-the-secret") {
		t.Errorf("the condition echoes the secret: %q", msg)
	}

	By(t, "rotating the Secret")
	ns.apply(secretManifest("localytics-credentials", storyKey, storySecret))
	ns.wait("lya/acme", "condition=Ready")
	ns.wait("pi/tiers", "condition=Ready")
	ns.wait("al/vip", "condition=Ready")
	expectList(t, e.sim, "bad-credentials", "VIP", "c1", "c2")
}

// storyProfileImportQuota: ProfileImport waits for a slot, Queued with the next slot, then uploads.
func storyProfileImportQuota(t *testing.T, e *storyEnv) {
	// A key of its own: the operator keeps one budget per API key, and this
	// account's is small.
	own := startSimulator(t, "quota-key", "quota-secret")
	ns := e.c.namespace("pi-quota")
	quota := accountSpec{sim: own, key: "quota-key", secret: "quota-secret", profileUploads: 1, uploadWindow: "20s"}
	ns.apply(quota.manifest())
	ns.apply(configMap("first", "profiles.jsonl", assign("c1", "tier", "gold")))
	ns.apply(profileImport("first", "pi-quota", "first", ""))
	ns.wait("pi/first", "condition=Ready")
	ns.apply(configMap("second", "profiles.jsonl", assign("c2", "tier", "silver")))
	ns.apply(profileImport("second", "pi-quota", "second", ""))
	ns.wait("pi/second", "jsonpath={.status.phase}=Queued")
	slot, err := time.Parse(time.RFC3339, ns.get("pi/second", "{.status.nextUploadSlot}"))
	if err != nil {
		t.Fatalf("a queued import shows the next slot: %v", err)
	}
	if out := ns.kubectl("get", "pi/second"); !strings.Contains(out, slot.UTC().Format(time.RFC3339)) {
		t.Errorf("kubectl get pi does not show the next slot %s:\n%s", slot.UTC().Format(time.RFC3339), out)
	}
	if reason := ns.get("pi/second", `{.status.conditions[?(@.type=="Ready")].reason}`); reason != "QuotaExhausted" {
		t.Errorf("the queued import's reason is %q, want QuotaExhausted", reason)
	}
	ns.wait("pi/second", "condition=Ready")
	expectProfiles(t, own, "app_id=pi-quota", map[string]map[string]any{"c1": {"tier": "gold"}, "c2": {"tier": "silver"}})
	var times []time.Time
	for _, u := range own.uploads(t) {
		if u.Scope.AppID == "pi-quota" {
			times = append(times, u.Time)
		}
	}
	if len(times) != 2 {
		t.Fatalf("uploads at %v: want two", times)
	}
	if times[1].Sub(times[0]) < 20*time.Second {
		t.Errorf("uploads at %v: want them a window (20s) apart", times)
	}
	if times[len(times)-1].Before(slot.Add(-time.Second)) {
		t.Errorf("the second upload (%v) was sent before the slot its status showed (%v)", times[len(times)-1], slot)
	}
}

// storyProfileImportPacking: ProfileImports applied together gather and share one upload, which kubectl get pi shows.
func storyProfileImportPacking(t *testing.T, e *storyEnv) {
	ns := e.c.namespace("pi-pack")
	ns.apply(e.account(e.sim).manifest())
	var manifest strings.Builder
	want := map[string]map[string]any{}
	for i := range 3 {
		name := fmt.Sprintf("segment-%d", i)
		customer := fmt.Sprintf("c%d", i)
		want[customer] = map[string]any{"segment": name}
		manifest.WriteString(configMap(name, "profiles.jsonl", assign(customer, "segment", name)) + "---\n")
		manifest.WriteString(profileImport(name, "pi-pack", name, "") + "---\n")
	}
	ns.apply(manifest.String())
	// The account's quiet period is the default, 10s.
	ns.wait("pi/segment-0", "jsonpath={.status.phase}=Gathering")
	for i := range 3 {
		ns.wait(fmt.Sprintf("pi/segment-%d", i), "condition=Ready")
	}
	if n := uploadsOf(t, e.sim, "pi-pack"); n != 1 {
		t.Errorf("%d uploads for three imports applied together, want 1", n)
	}
	activity := ns.get("pi/segment-0", "{.status.activityID}")
	out := ns.kubectl("get", "pi")
	if !strings.Contains(out, "UPLOAD") {
		t.Errorf("kubectl get pi has no UPLOAD column:\n%s", out)
	}
	for i := range 3 {
		row := ""
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, fmt.Sprintf("segment-%d ", i)) {
				row = line
			}
		}
		if !strings.Contains(row, activity) || strings.Count(row, "segment-0") != 1+btoi(i == 0) {
			t.Errorf("kubectl get pi: segment-%d does not show the shared activity %s and its carrier segment-0:\n%s", i, activity, out)
		}
	}
	expectProfiles(t, e.sim, "app_id=pi-pack", want)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// storyProfileImportUnknownOutcome: ProfileImport of unknown outcome: retried when it cannot count twice, else stalled until the retry annotation.
func storyProfileImportUnknownOutcome(t *testing.T, e *storyEnv) {
	own := e.newSim(t)
	ns := e.c.namespace("pi-unknown")
	ns.apply(e.account(own).manifest())

	By(t, "a file of assignments: uploaded again without asking")
	own.faults(t, map[string]any{"drop_after_accept": 1})
	ns.apply(configMap("tiers", "profiles.jsonl", assign("c1", "tier", "gold")))
	ns.apply(profileImport("tiers", "pi-unknown-assign", "tiers", ""))
	ns.wait("pi/tiers", "condition=Ready")
	if n := uploadsOf(t, own, "pi-unknown-assign"); n != 2 {
		t.Errorf("%d uploads of the dropped file, want 2 (the dropped one and its retry)", n)
	}

	By(t, "a file with increments: stalled until a person allows one more upload")
	own.faults(t, map[string]any{"drop_after_accept": 1})
	ns.apply(configMap("orders", "profiles.jsonl", increment("c1", "orders", 1)))
	ns.apply(profileImport("orders", "pi-unknown-increment", "orders", ""))
	ns.waitReason("pi/orders", "UploadOutcomeUnknown")
	ns.wait("pi/orders", `jsonpath={.status.conditions[?(@.type=="Stalled")].status}=True`)
	time.Sleep(3 * time.Second)
	if n := uploadsOf(t, own, "pi-unknown-increment"); n != 1 {
		t.Fatalf("%d uploads of an increment file whose outcome is unknown, want 1", n)
	}
	ns.kubectl("annotate", "pi/orders", "imports.localytics.dev/retry-unknown-upload=true")
	ns.wait("pi/orders", "condition=Ready")
	if n := uploadsOf(t, own, "pi-unknown-increment"); n != 2 {
		t.Errorf("%d uploads after the retry annotation, want 2", n)
	}
	// The dropped upload was applied too: the person chose to count twice.
	expectProfiles(t, own, "app_id=pi-unknown-increment", map[string]map[string]any{"c1": {"orders": 2.0}})
}

// storyAudienceListLifecycle: AudienceList created, its source edited, renamed, deleted.
func storyAudienceListLifecycle(t *testing.T, e *storyEnv) {
	ns := e.c.namespace("al-lifecycle")
	ns.apply(e.account(e.sim).manifest())
	ns.apply(configMap("vip", "customers.jsonl", customers("c1", "c2", "c3")...))
	ns.apply(audienceList("vip", "al-lifecycle", "VIP", "vip", ""))
	ns.wait("al/vip", "condition=Ready")
	id := expectList(t, e.sim, "al-lifecycle", "VIP", "c1", "c2", "c3")
	if got := ns.get("al/vip", "{.status.audienceListID} {.status.recordCount}"); got != fmt.Sprintf("%d 3", id) {
		t.Errorf("kubectl get al vip: list id and records %q, want %d 3", got, id)
	}

	By(t, "editing the ConfigMap replaces the list: the same id, the next version")
	ns.apply(configMap("vip", "customers.jsonl", customers("c2", "c4")...))
	ns.wait("al/vip", "jsonpath={.status.remoteVersion}=2")
	if again := expectList(t, e.sim, "al-lifecycle", "VIP", "c2", "c4"); again != id {
		t.Errorf("the replaced list has id %d, want %d", again, id)
	}

	By(t, "changing audienceName renames it")
	ns.kubectl("patch", "al/vip", "--type=merge", "-p", `{"spec":{"audienceName":"VIP (gold)"}}`)
	ns.wait("al/vip", "jsonpath={.status.remoteName}=VIP (gold)")
	if again := expectList(t, e.sim, "al-lifecycle", "VIP (gold)", "c2", "c4"); again != id {
		t.Errorf("the renamed list has id %d, want %d", again, id)
	}

	By(t, "a list deleted in the dashboard is made again at the next drift check")
	e.sim.call(t, http.MethodDelete, fmt.Sprintf("/_sim/audiences/%d", id), nil, nil)
	var again int64
	waitFor(t, ready, "the list made again", func() bool {
		lists := e.sim.lists(t, "al-lifecycle")
		if len(lists) == 1 && lists[0].ID != id {
			again = lists[0].ID
		}
		return again != 0
	})
	ns.wait("al/vip", fmt.Sprintf("jsonpath={.status.audienceListID}=%d", again))
	ns.wait("al/vip", "condition=Ready")
	expectList(t, e.sim, "al-lifecycle", "VIP (gold)", "c2", "c4")

	By(t, "deleting the AudienceList deletes the list")
	ns.kubectl("delete", "al/vip", "--wait", "--timeout=60s")
	if lists := e.sim.lists(t, "al-lifecycle"); len(lists) != 0 {
		t.Errorf("lists left in the app after the delete: %+v", lists)
	}
}

// storyAudienceListOrphanAdopt: AudienceList orphaned, then its list adopted by another.
func storyAudienceListOrphanAdopt(t *testing.T, e *storyEnv) {
	ns := e.c.namespace("al-orphan-adopt")
	ns.apply(e.account(e.sim).manifest())
	ns.apply(configMap("old", "customers.jsonl", customers("c1", "c2")...))
	ns.apply(audienceList("old", "al-orphan-adopt", "Old", "old", "  deletionPolicy: Orphan\n"))
	ns.wait("al/old", "condition=Ready")
	id := expectList(t, e.sim, "al-orphan-adopt", "Old", "c1", "c2")
	ns.kubectl("delete", "al/old", "--wait", "--timeout=30s")
	expectList(t, e.sim, "al-orphan-adopt", "Old", "c1", "c2")

	By(t, "adopting the orphan: renamed to audienceName, content replaced by the source")
	ns.apply(configMap("new", "customers.jsonl", customers("c3")...))
	ns.apply(audienceList("new", "al-orphan-adopt", "New", "new", fmt.Sprintf("  audienceListID: %q\n", strconv.FormatInt(id, 10))))
	ns.wait("al/new", "condition=Ready")
	if got := expectList(t, e.sim, "al-orphan-adopt", "New", "c3"); got != id {
		t.Errorf("the adopting AudienceList made list %d, want the orphan %d", got, id)
	}
	ns.waitEvent("new", "Adopted")
}

// storyAudienceListBadFile: AudienceList of a bad file stalls and creates nothing until fixed.
func storyAudienceListBadFile(t *testing.T, e *storyEnv) {
	ns := e.c.namespace("al-bad-file")
	ns.apply(e.account(e.sim).manifest())
	ns.apply(configMap("vip", "customers.jsonl", `{"customer_id":"c1"}`, `{"id":"c2"}`))
	ns.apply(audienceList("vip", "al-bad-file", "VIP", "vip", ""))
	ns.waitReason("al/vip", "ValidationFailed")
	if msg := ns.get("al/vip", `{.status.conditions[?(@.type=="Ready")].message}`); !strings.Contains(msg, "line 2") {
		t.Errorf("the message does not name line 2: %q", msg)
	}
	if lists := e.sim.lists(t, "al-bad-file"); len(lists) != 0 {
		t.Errorf("a list was made from a bad file: %+v", lists)
	}
	ns.apply(configMap("vip", "customers.jsonl", customers("c1", "c2")...))
	ns.wait("al/vip", "condition=Ready")
	expectList(t, e.sim, "al-bad-file", "VIP", "c1", "c2")
}

// storyAudienceListCap: AudienceList waits for room under the per-app cap, then is created.
func storyAudienceListCap(t *testing.T, e *storyEnv) {
	ns := e.c.namespace("al-cap")
	capped := e.account(e.sim)
	capped.listsPerApp = 1
	ns.apply(capped.manifest())
	ns.apply(configMap("src", "customers.jsonl", customers("c1")...))
	ns.apply(audienceList("first", "al-cap", "First", "src", ""))
	ns.wait("al/first", "condition=Ready")
	ns.apply(audienceList("second", "al-cap", "Second", "src", ""))
	ns.waitReason("al/second", "ListLimitReached")
	ns.kubectl("delete", "al/first", "--wait", "--timeout=30s")
	ns.wait("al/second", "condition=Ready")
	expectList(t, e.sim, "al-cap", "Second", "c1")
}

// storyAudienceListLostCreate: AudienceList whose create's answer was lost finds its list instead of making a second.
func storyAudienceListLostCreate(t *testing.T, e *storyEnv) {
	own := e.newSim(t)
	ns := e.c.namespace("al-unknown")
	ns.apply(e.account(own).manifest())
	own.faults(t, map[string]any{"drop_after_accept": 1})
	ns.apply(configMap("vip", "customers.jsonl", customers("c1", "c2")...))
	ns.apply(audienceList("vip", "al-unknown", "VIP", "vip", ""))
	ns.wait("al/vip", "condition=Ready")
	expectList(t, own, "al-unknown", "VIP", "c1", "c2")
	ns.waitEvent("vip", "OutcomeUnknown")
}

// A storyStore is one kind of object store of the stories.
type storyStore struct {
	// app is the story's app, and the namespace's name.
	app string
	// secret is the manifest of the Secret named store with its credentials.
	secret func(e *storyEnv) string
	put    func(t *testing.T, e *storyEnv, bucket, key, content string)
	url    func(e *storyEnv, bucket, key string) string
}

var (
	s3Store = storyStore{
		app:    "object-store",
		secret: func(e *storyEnv) string { return storeSecret(e.store) },
		put: func(t *testing.T, e *storyEnv, bucket, key, content string) {
			putObject(t, e.store, bucket, key, content)
		},
		url: func(e *storyEnv, bucket, key string) string { return e.store.URL(bucket, key) },
	}
	gcsStore = storyStore{
		app: "object-store-gcs",
		secret: func(e *storyEnv) string {
			key, err := testenv.ServiceAccountKey(nil)
			if err != nil {
				panic(err)
			}
			return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: store\nstringData:\n  %s: %q\n", source.SecretKeyGoogleCredentials, key)
		},
		put: func(t *testing.T, e *storyEnv, bucket, key, content string) {
			t.Helper()
			if err := e.gcs.Put(context.Background(), bucket, key, []byte(content)); err != nil {
				t.Fatalf("putting gs://%s/%s: %v", bucket, key, err)
			}
		},
		url: func(e *storyEnv, bucket, key string) string { return e.gcs.URL(bucket, key) },
	}
	azureStore = storyStore{
		app: "object-store-azure",
		secret: func(e *storyEnv) string {
			return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: store\nstringData:\n  %s: %s\n  %s: %q\n",
				source.SecretKeyAzureAccount, e.azurite.Account, source.SecretKeyAzureKey, e.azurite.Key)
		},
		put: func(t *testing.T, e *storyEnv, bucket, key, content string) {
			t.Helper()
			if err := e.azurite.Put(context.Background(), bucket, key, []byte(content)); err != nil {
				t.Fatalf("putting azblob://%s/%s: %v", bucket, key, err)
			}
		},
		url: func(e *storyEnv, bucket, key string) string { return e.azurite.URL(bucket, key) },
	}
)

// story: both kinds from the object store; a replaced object replaces the list.
func (st storyStore) story(t *testing.T, e *storyEnv) {
	ns := e.c.namespace(st.app)
	ns.apply(e.account(e.sim).manifest())
	st.put(t, e, "exports", "profiles.jsonl", assign("c1", "crm", "enterprise")+"\n")
	st.put(t, e, "exports", "churn.txt", "c1\nc2\n")
	ns.apply(st.secret(e) + fmt.Sprintf(`---
apiVersion: imports.localytics.dev/v1alpha1
kind: ProfileImport
metadata:
  name: crm
spec:
  accountRef: {name: acme}
  appID: %[1]s
  source:
    objectStore: {url: %[2]q, secretRef: {name: store}}
---
apiVersion: imports.localytics.dev/v1alpha1
kind: AudienceList
metadata:
  name: churn
spec:
  accountRef: {name: acme}
  appID: %[1]s
  audienceName: Churn
  sourceFormat: lines
  source:
    objectStore: {url: %[3]q, secretRef: {name: store}}
`, st.app, st.url(e, "exports", "profiles.jsonl"), st.url(e, "exports", "churn.txt")))
	ns.wait("pi/crm", "condition=Ready")
	ns.wait("al/churn", "condition=Ready")
	expectProfiles(t, e.sim, "app_id="+st.app, map[string]map[string]any{"c1": {"crm": "enterprise"}})
	id := expectList(t, e.sim, st.app, "Churn", "c1", "c2")

	By(t, "replacing the object")
	st.put(t, e, "exports", "churn.txt", "c3\n")
	// The object's change is seen at the next recheck of the source:
	// the drift interval, 3s here.
	ns.wait("al/churn", "jsonpath={.status.remoteVersion}=2")
	if again := expectList(t, e.sim, st.app, "Churn", "c3"); again != id {
		t.Errorf("the replaced list has id %d, want %d", again, id)
	}
}

// By logs a step of a story.
func By(t *testing.T, step string) {
	t.Helper()
	t.Log("STEP: " + step)
}

// waitFor polls cond every 500ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// uploadsOf counts the profile uploads the simulator accepted for app.
func uploadsOf(t *testing.T, sim *simulator, app string) int {
	t.Helper()
	n := 0
	for _, u := range sim.uploads(t) {
		if u.Endpoint == "P1" && u.Scope.AppID == app {
			n++
		}
	}
	return n
}

// expectProfiles checks the profiles the simulator holds for a scope.
func expectProfiles(t *testing.T, sim *simulator, scope string, want map[string]map[string]any) {
	t.Helper()
	if got := sim.profiles(t, scope); !reflect.DeepEqual(got, want) {
		t.Errorf("the simulator holds %v for %s, want %v", got, scope, want)
	}
}

// expectList checks that the app holds exactly one list, named name, with
// the members, and returns its id.
func expectList(t *testing.T, sim *simulator, app, name string, members ...string) int64 {
	t.Helper()
	lists := sim.lists(t, app)
	if len(lists) != 1 {
		t.Fatalf("app %s holds %d lists, want 1: %+v", app, len(lists), lists)
	}
	if l := lists[0]; l.Name != name || !reflect.DeepEqual(l.Members, members) {
		t.Errorf("app %s holds list %q with %v, want %q with %v", app, l.Name, l.Members, name, members)
	}
	return lists[0].ID
}
