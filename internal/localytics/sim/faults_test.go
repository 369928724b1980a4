package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestServerErrorRate(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	h.sim.SetFaults(Faults{ServerErrorRate: 1})
	seen := map[int]bool{}
	for range 20 {
		r := h.uploadOnce(as1, org60)
		g.Expect(r.status).To(BeElementOf(http.StatusInternalServerError, http.StatusServiceUnavailable))
		g.Expect(r.header.Get("Content-Type")).To(HavePrefix("text/plain"))
		seen[r.status] = true
	}
	g.Expect(seen).To(HaveLen(2), "both 500 and 503 occur")
	g.Expect(h.sim.Uploads()).To(BeEmpty(), "a 5xx changes nothing")
	g.Expect(h.sim.Budgets(key1.Key)[0].Used).To(BeZero(), "a 5xx spends no budget")
	g.Expect(h.get("/_sim/healthz", creds{}).status).To(Equal(http.StatusOK), "/_sim/ is never faulted")

	h.sim.SetFaults(Faults{ServerErrorRate: 0.5})
	failed := 0
	for range 100 {
		if h.get("/v1/imports/profiles/status/x", as1).status >= 500 {
			failed++
		}
	}
	g.Expect(failed).To(BeNumerically("~", 50, 20))
}

func TestDelaySlowsTheAPIOnly(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	h.sim.SetFaults(Faults{Delay: 150 * time.Millisecond})
	start := time.Now()
	g.Expect(h.get("/v1/imports/audiences/list/app/app-1", as1).status).To(Equal(http.StatusOK))
	g.Expect(time.Since(start)).To(BeNumerically(">=", 150*time.Millisecond))
	start = time.Now()
	h.get("/_sim/uploads", creds{})
	g.Expect(time.Since(start)).To(BeNumerically("<", 150*time.Millisecond))
}

func TestDropAfterAcceptKeepsTheUpload(t *testing.T) {
	uploads := map[string]struct {
		prepare  func(h *harness) string // returns the list to replace, if any
		send     func(h *harness, listID string) (reply, error)
		endpoint Endpoint
	}{
		"P1": {
			send: func(h *harness, _ string) (reply, error) {
				body, ct := form(org60, field{"format", "json"}, field{"file", oneChange})
				return h.trySend(http.MethodPost, "/v1/imports/profiles/upload", as1, body, ct)
			},
			endpoint: EndpointProfileUpload,
		},
		"A1": {
			send: func(h *harness, _ string) (reply, error) {
				body, ct := form(app1, field{"audience_name", "n"}, field{"identifier_type", "customer_id"}, field{"file", `{"customer_id":"a"}`})
				return h.trySend(http.MethodPost, "/v1/imports/audiences/list/", as1, body, ct)
			},
			endpoint: EndpointAudienceCreate,
		},
		"A3": {
			prepare: func(h *harness) string { return h.createdListID(as1, "app-1", "existing", `{"customer_id":"a"}`) },
			send: func(h *harness, listID string) (reply, error) {
				body, ct := form(app1, field{"identifier_type", "customer_id"}, field{"file", `{"customer_id":"b"}`}, field{"audience_list_id", listID})
				return h.trySend(http.MethodPut, "/v1/imports/audiences/list/"+listID, as1, body, ct)
			},
			endpoint: EndpointAudienceUpdate,
		},
	}
	for name, tc := range uploads {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, nil)
			var listID string
			if tc.prepare != nil {
				listID = tc.prepare(h)
			}
			h.sim.SetFaults(Faults{DropAfterAccept: 1})
			_, err := tc.send(h, listID)
			g.Expect(err).To(HaveOccurred(), "the client sees a network error")

			recs := h.sim.Uploads()
			g.Expect(recs).NotTo(BeEmpty())
			last := recs[len(recs)-1]
			g.Expect(last.Endpoint).To(Equal(tc.endpoint))
			g.Expect(last.Dropped).To(BeTrue())
			status, ok := h.sim.JobStatus(last.ActivityID)
			g.Expect(ok).To(BeTrue(), "the job exists")
			g.Expect(status).To(Equal(statusCompleted))
			g.Expect(h.sim.Faults().DropAfterAccept).To(BeZero())

			r, err := tc.send(h, listID)
			g.Expect(err).NotTo(HaveOccurred(), "the next upload is answered again")
			g.Expect(r.status).To(Equal(http.StatusAccepted))
		})
	}
}

func TestDroppedProfileUploadSpendsBudget(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) { c.Limits.ProfileUploads = 1 })
	h.sim.SetFaults(Faults{DropAfterAccept: 1})
	body, ct := form(org60, field{"format", "json"}, field{"file", oneChange})
	_, err := h.trySend(http.MethodPost, "/v1/imports/profiles/upload", as1, body, ct)
	g.Expect(err).To(HaveOccurred())
	g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusTooManyRequests), "the quota was spent")
	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(HaveKey("c1"), "and the changes applied")
}

func TestMalformedJSON(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	h.sim.SetFaults(Faults{MalformedJSON: 2})
	r := h.uploadOnce(as1, org60)
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	g.Expect(json.Valid(r.body)).To(BeFalse())
	g.Expect(r.text()).To(HavePrefix(`{"activity_id`))
	g.Expect(h.sim.Uploads()).To(HaveLen(1), "the upload was accepted all the same")

	id := h.sim.Uploads()[0].ActivityID
	r = h.get("/v1/imports/profiles/status/"+id, as1)
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(json.Valid(r.body)).To(BeFalse())

	g.Expect(h.profileStatus(as1, id)).To(HaveKeyWithValue("status", "Completed"), "only the next 2 replies")
	g.Expect(json.Valid(h.get("/_sim/uploads", creds{}).body)).To(BeTrue(), "/_sim/ replies stay valid")
}

func TestInjectedThrottle(t *testing.T) {
	cases := map[string]struct {
		retryAfter bool
		wantHeader string
	}{
		"with Retry-After":    {true, "1"},
		"without Retry-After": {false, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, func(c *Config) { c.RetryAfter = tc.retryAfter })
			h.sim.SetFaults(Faults{Throttle: 2})
			for _, path := range []string{"/v1/imports/profiles/status/x", "/v1/imports/audiences/list/app/app-1"} {
				r := h.get(path, as1)
				g.Expect(r.status).To(Equal(http.StatusTooManyRequests))
				g.Expect(r.header.Get("Retry-After")).To(Equal(tc.wantHeader))
			}
			g.Expect(h.sim.Throttled()).To(HaveExactElements(
				And(HaveField("Injected", true), HaveField("Budget", BudgetProfileStatus)),
				And(HaveField("Injected", true), HaveField("Budget", BudgetAudienceCalls)),
			))
			g.Expect(h.get("/v1/imports/audiences/list/app/app-1", as1).status).To(Equal(http.StatusOK))
			for _, u := range h.sim.Budgets(key1.Key) {
				g.Expect(u.Used).To(BeNumerically("<=", 1), "injected 429s spend nothing: %v", u)
			}
		})
	}
}

func TestFailJobs(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	h.sim.SetFaults(Faults{FailJobs: 1})
	failed := h.uploadOnce(as1, org60)
	ok := h.uploadOnce(as1, app1)
	g.Expect(h.profileStatus(as1, activityID(t, failed))).To(HaveKeyWithValue("status", "Failed"))
	g.Expect(h.profileStatus(as1, activityID(t, ok))).To(HaveKeyWithValue("status", "Completed"))
	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(BeEmpty(), "a failed job applies nothing")
	g.Expect(h.sim.Profiles(Scope{AppID: "app-1"})).To(HaveKey("c1"))
}

func TestFaultsOverHTTP(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	put := func(doc string) reply {
		return h.send(http.MethodPut, "/_sim/faults", creds{}, strings.NewReader(doc), "application/json")
	}
	r := put(`{"server_error_rate":0.25,"delay":"5ms","drop_after_accept":1,"malformed_json":2,"throttle":3,"fail_jobs":4,"retry_after":false}`)
	g.Expect(r.status).To(Equal(http.StatusOK), "%s", r.body)
	g.Expect(h.sim.Faults()).To(Equal(Faults{ServerErrorRate: 0.25, Delay: 5 * time.Millisecond, DropAfterAccept: 1, MalformedJSON: 2, Throttle: 3, FailJobs: 4}))
	g.Expect(h.get("/_sim/faults", creds{}).object(t)).To(And(
		HaveKeyWithValue("delay", "5ms"), HaveKeyWithValue("retry_after", false), HaveKeyWithValue("throttle", 3.0)))

	g.Expect(put(`{}`).status).To(Equal(http.StatusOK))
	g.Expect(h.sim.Faults()).To(Equal(Faults{}), "an empty document disarms everything")

	for _, bad := range []string{`{"server_error_rate":2}`, `{"delay":"soon"}`, `{"unknown":1}`, `not json`} {
		r := put(bad)
		g.Expect(r.status).To(Equal(http.StatusBadRequest), bad)
		g.Expect(r.header.Get("Content-Type")).To(HavePrefix("text/plain"))
	}

	r = h.send(http.MethodPost, "/_sim/variants", creds{}, strings.NewReader(`{"scopet":true,"numeric_ids":true}`), "application/json")
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(h.sim.currentVariants()).To(Equal(Variants{Scopet: true, NumericIDs: true}))
}

// TestRefuseUploads: the next N uploads are refused with the status asked
// for, creating nothing and spending no budget; other calls pass.
func TestRefuseUploads(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	h.sim.SetFaults(Faults{RefuseUploads: 1, RefuseStatus: http.StatusNotFound})
	g.Expect(h.get("/v1/imports/audiences/list/app/app-1", as1).status).To(Equal(http.StatusOK), "not an upload")
	g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusNotFound))
	g.Expect(h.sim.Uploads()).To(BeEmpty(), "a refusal creates nothing")
	g.Expect(h.sim.Budgets(key1.Key)[0].Used).To(BeZero(), "a refusal spends no upload budget")
	g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusAccepted), "only the first upload is refused")
	g.Expect(h.sim.Uploads()).To(HaveLen(1))
}
