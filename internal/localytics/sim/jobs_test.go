package sim

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

const oneChange = `{"customer_id":"c1","changes":[{"op":"increment","attr":"n","value":1}]}`

func TestJobsMoveThroughTheVendorStatuses(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) {
		c.PendingFor = 10 * time.Second
		c.RunningFor = 20 * time.Second
	})
	id := h.uploadProfiles(as1, org60, "json", oneChange)

	st := h.profileStatus(as1, id)
	g.Expect(st).To(Equal(map[string]any{
		"status": "Pending", "error_log": nil, "target": map[string]any{"org_id": 60.0}, "upload_statistics": nil,
	}))

	h.clock.Advance(10 * time.Second)
	g.Expect(h.profileStatus(as1, id)).To(HaveKeyWithValue("status", "Running"))
	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(BeEmpty(), "nothing applies before the job completes")

	h.clock.Advance(20*time.Second - time.Nanosecond)
	g.Expect(h.profileStatus(as1, id)).To(HaveKeyWithValue("status", "Running"))

	h.clock.Advance(time.Nanosecond)
	st = h.profileStatus(as1, id)
	g.Expect(st).To(HaveKeyWithValue("status", "Completed"))
	g.Expect(st).To(HaveKeyWithValue("error_log", HaveSuffix("/_sim/errors/"+id+".json")))
	g.Expect(st["upload_statistics"]).To(Equal(map[string]any{
		"successful_imports": 1.0, "parsed_imports": 1.0, "failed_imports": 0.0, "total_number_of_imports": 1.0,
	}))
	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(Equal(map[string]Profile{"c1": {"n": int64(1)}}))
}

func TestAudienceJobObjectFollowsTheVendorShape(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) {
		c.PendingFor = time.Minute
		c.RunningFor = time.Minute
	})
	id := h.createAudience(as1, "app-1", "vip", lines(`{"customer_id":"a"}`, `{"customer_id":"b"}`, `{"customer_id":"a"}`, `nope`))
	g.Expect(h.audienceStatus(as1, id)).To(Equal(map[string]any{
		"status": "Pending", "error_reason": nil, "app_uuid": "app-1",
		"created_at": "2026-03-01T12:00:00", "updated_at": "2026-03-01T12:00:00", "upload_statistics": nil,
	}))
	h.clock.Advance(time.Minute)
	g.Expect(h.audienceStatus(as1, id)).To(And(
		HaveKeyWithValue("status", "Running"), HaveKeyWithValue("updated_at", "2026-03-01T12:01:00")))
	g.Expect(h.sim.AudienceLists("app-1")).To(BeEmpty(), "the list exists once the create job completes")

	h.clock.Advance(time.Minute)
	g.Expect(h.audienceStatus(as1, id)).To(Equal(map[string]any{
		"status": "Completed", "error_reason": nil, "app_uuid": "app-1",
		"created_at": "2026-03-01T12:00:00", "updated_at": "2026-03-01T12:02:00",
		"upload_statistics": map[string]any{
			// The vendor writes these counters as strings.
			"total_lines": "4", "audience_id": "999", "audience_list_id": "31245", "failed_lines": "1", "successful_lines": "3",
		},
	}))
	g.Expect(h.sim.AudienceLists("app-1")).To(ConsistOf(HaveField("RecordCount", 2)))
}

func TestJobsWithoutValidLinesFail(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	p := h.uploadProfiles(as1, org60, "json", lines("garbage", `{"customer_id":"c"}`))
	st := h.profileStatus(as1, p)
	g.Expect(st).To(HaveKeyWithValue("status", "Failed"))
	g.Expect(st["upload_statistics"]).To(HaveKeyWithValue("failed_imports", 2.0))
	g.Expect(st).To(HaveKeyWithValue("error_log", Not(BeNil())))

	empty := h.uploadProfiles(as1, org60, "json", "")
	g.Expect(h.profileStatus(as1, empty)).To(HaveKeyWithValue("status", "Failed"))

	a := h.createAudience(as1, "app-1", "nobody", lines(`{"id":"x"}`))
	ast := h.audienceStatus(as1, a)
	g.Expect(ast).To(HaveKeyWithValue("status", "Failed"))
	g.Expect(ast).To(HaveKeyWithValue("error_reason", "the file has no valid lines"))
	g.Expect(ast["upload_statistics"]).NotTo(HaveKey("audience_list_id"), "a failed create made no list")
	g.Expect(h.sim.AudienceLists("app-1")).To(BeEmpty())
}

func TestUnknownActivityIDs(t *testing.T) {
	h := newHarness(t, nil)
	profile := h.uploadProfiles(as1, org60, "json", oneChange)
	audience := h.createAudience(as1, "app-1", "a", `{"customer_id":"x"}`)
	cases := map[string]string{
		"profile status of a made-up id":      "/v1/imports/profiles/status/3b4a65e5-2beb-4011-85df-c9f594217d90",
		"profile status of an audience job":   "/v1/imports/profiles/status/" + audience,
		"audience status of a profile job":    "/v1/imports/audiences/list/status/" + profile,
		"audience status of a made-up number": "/v1/imports/audiences/list/status/42",
		"error log of a made-up id":           "/_sim/errors/nope.json",
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := h.get(path, as1)
			g.Expect(r.status).To(Equal(http.StatusNotFound))
			g.Expect(r.header.Get("Content-Type")).To(HavePrefix("text/plain"))
		})
	}
}

func TestVariantsTheClientMustTolerate(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) {
		c.Variants = Variants{Scopet: true, NumericIDs: true, LowerCaseStatus: true, SwapNumberTypes: true, CreateOK: true, DeleteNoContent: true}
	})
	r := h.upload(http.MethodPost, "/v1/imports/profiles/upload", as1, org60, field{"format", "json"}, field{"file", oneChange})
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	num, isNumber := r.object(t)["activity_id"].(float64)
	g.Expect(isNumber).To(BeTrue(), "numeric activity id in %s", r.body)
	id := formatInt(num)
	g.Expect(h.sim.Uploads()[0].ActivityID).To(Equal(id))

	st := h.profileStatus(as1, id)
	g.Expect(st).To(HaveKeyWithValue("status", "completed"))
	g.Expect(st).To(HaveKeyWithValue("scopet", map[string]any{"org_id": "60"}))
	g.Expect(st).NotTo(HaveKey("target"))
	g.Expect(st["upload_statistics"]).To(HaveKeyWithValue("successful_imports", "1"))

	r = h.upload(http.MethodPost, "/v1/imports/audiences/list", as1,
		app1, field{"audience_name", "n"}, field{"identifier_type", "customer_id"}, field{"file", `{"customer_id":"x"}`})
	g.Expect(r.status).To(Equal(http.StatusOK))
	aid := formatInt(r.object(t)["activity_id"].(float64))
	ast := h.audienceStatus(as1, aid)
	g.Expect(ast["upload_statistics"]).To(HaveKeyWithValue("successful_lines", 1.0))
	listID := formatInt(ast["upload_statistics"].(map[string]any)["audience_list_id"].(float64))

	lists := h.get("/v1/imports/audiences/list/app/app-1", as1).json(t)
	g.Expect(lists).To(ConsistOf(HaveKeyWithValue("id", listID)))
	g.Expect(h.send(http.MethodDelete, "/v1/imports/audiences/list/"+listID, as1, nil, "").status).To(Equal(http.StatusNoContent))

	// Variants switch at run time.
	h.sim.SetVariants(Variants{})
	st = h.profileStatus(as1, id)
	g.Expect(st).To(HaveKeyWithValue("status", "Completed"))
	g.Expect(st).To(HaveKeyWithValue("target", map[string]any{"org_id": 60.0}))
}

func TestJobsCompleteInRealTime(t *testing.T) {
	g := NewWithT(t)
	s := New(Config{Accounts: []Account{key1}, PendingFor: 20 * time.Millisecond, RunningFor: 20 * time.Millisecond})
	t.Cleanup(s.Close)
	h := &harness{t: t, sim: s, srv: newServer(t, s)}
	id := h.uploadProfiles(as1, org60, "json", oneChange)
	// Without a fake clock a worker applies the job in the background, so
	// inspection alone sees it complete.
	g.Eventually(func() string { st, _ := s.JobStatus(id); return st }).WithTimeout(5 * time.Second).Should(Equal(statusCompleted))
	g.Expect(s.Profiles(Scope{OrgID: 60})).To(HaveKeyWithValue("c1", Profile{"n": int64(1)}))
	g.Expect(h.profileStatus(as1, id)).To(HaveKeyWithValue("status", "Completed"))
	g.Eventually(func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.worker
	}).Should(BeFalse(), "the worker exits when nothing is queued")
}

func TestFakeClockJobsWaitForTheClock(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) { c.PendingFor = time.Hour })
	id := h.uploadProfiles(as1, org60, "json", oneChange)
	time.Sleep(20 * time.Millisecond)
	status, ok := h.sim.JobStatus(id)
	g.Expect(ok).To(BeTrue())
	g.Expect(status).To(Equal(statusPending), "real time passing does not move a fake clock")
	_, ok = h.sim.ErrorLog(id)
	g.Expect(ok).To(BeFalse(), "no error log before the job finishes")
	h.clock.Advance(time.Hour)
	status, _ = h.sim.JobStatus(id)
	g.Expect(status).To(Equal(statusCompleted))
}
