package sim

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// callText is a call as the tests compare it: endpoint, key, app and status,
// with an injected 5xx (500 or 503, by the fault's dice) written "5xx".
func callText(c CallRecord) string {
	status := fmt.Sprint(c.Status)
	if c.Status >= 500 {
		status = "5xx"
	}
	if c.Dropped {
		status += " dropped"
	}
	return fmt.Sprintf("%s key=%s app=%s %s", c.Endpoint, c.Key, c.AppID, status)
}

func callTexts(calls []CallRecord) []string {
	out := []string{}
	for _, c := range calls {
		out = append(out, callText(c))
	}
	return out
}

func TestCallsRecordEveryVendorCall(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) { c.Limits.ProfileUploads = 1 })
	audience := func(name string) []field {
		return []field{app1, {"audience_name", name}, {"identifier_type", "customer_id"}, {"file", `{"customer_id":"a"}`}}
	}

	h.uploadProfiles(as1, field{"app_id", "app-1"}, "json", oneChange)
	h.uploadOnce(as1, org60) // 429, before the form is read
	h.get("/v1/imports/profiles/status/x", creds{key1.Key, "wrong"})
	listID := h.createdListID(as1, "app-1", "vip", `{"customer_id":"a"}`) // A1 and A2
	h.clock.Advance(time.Minute)
	h.get("/v1/imports/audiences/list/app/app-1", as1)
	h.get("/v1/imports/audiences/list/app/app-1", as2)
	h.send(http.MethodPut, "/v1/imports/audiences/list/"+listID+"/name?name=VIP", as1, nil, "")
	h.send(http.MethodDelete, "/v1/imports/audiences/list/"+listID, as2, nil, "")
	h.send(http.MethodDelete, "/v1/imports/audiences/list/999999", as1, nil, "")
	h.replaceAudience(as1, listID, `{"customer_id":"b"}`)
	h.sim.SetFaults(Faults{Throttle: 1})
	h.get("/v1/imports/audiences/list/app/app-1", as1)
	h.sim.SetFaults(Faults{ServerErrorRate: 1})
	h.get("/v1/imports/audiences/list/app/app-1", as1)
	h.uploadOnce(as1, org60)
	h.sim.SetFaults(Faults{DropAfterAccept: 1})
	body, ct := form(audience("dropped")...)
	_, _ = h.trySend(http.MethodPost, "/v1/imports/audiences/list/", as1, body, ct)
	// Neither the simulator's own endpoints nor unknown paths are calls.
	h.get("/_sim/uploads", creds{})
	h.get("/v1/imports/nothing", as1)

	want := []string{
		"P1 key=key-1 app=app-1 202",
		"P1 key=key-1 app= 429",
		"P2 key= app= 401",
		"A1 key=key-1 app=app-1 202",
		"A2 key=key-1 app= 200",
		"A6 key=key-1 app=app-1 200",
		"A6 key=key-2 app=app-1 403",
		"A4 key=key-1 app=app-1 200",
		"A5 key=key-2 app=app-1 403", // the list's app, although the key may not see it
		"A5 key=key-1 app= 404",
		"A3 key=key-1 app=app-1 202",
		"A6 key=key-1 app=app-1 429",
		"A6 key= app= 5xx", // the fault strikes before anything is read
		"P1 key= app= 5xx",
		"A1 key=key-1 app=app-1 0 dropped",
	}
	// The dropped call's record trails the client's error by a moment.
	g.Eventually(func() []string { return callTexts(h.sim.Calls()) }).Should(Equal(want))
	calls := h.sim.Calls()
	g.Expect(calls[0].Time).To(Equal(epoch))
	g.Expect(calls[len(calls)-1].Time).To(Equal(epoch.Add(time.Minute)), "the simulator's clock")

	// The same over HTTP, whole and filtered.
	g.Expect(h.get("/_sim/calls", creds{}).json(t)).To(HaveLen(len(want)))
	g.Expect(h.get("/_sim/calls", creds{}).text()).NotTo(ContainSubstring(key1.Secret))
	filters := map[string]int{
		"?endpoint=A6":                        4,
		"?endpoint=A6&app_id=app-1":           3,
		"?endpoint=A6&app_id=app-1&key=key-2": 1,
		"?app_id=nowhere":                     0,
	}
	for query, n := range filters {
		r := h.get("/_sim/calls"+query, creds{})
		g.Expect(r.status).To(Equal(http.StatusOK))
		g.Expect(r.json(t)).To(HaveLen(n), query)
	}
	g.Expect(h.get("/_sim/calls?endpoint=A6&key=key-2", creds{}).json(t)).To(Equal([]any{map[string]any{
		"time": "2026-03-01T12:01:00Z", "key": "key-2", "endpoint": "A6", "app_id": "app-1", "status": 403.0,
		"user_agent": "Go-http-client/1.1", // who called: the test's own client
	}}))

	h.sim.Reset()
	g.Expect(h.sim.Calls()).To(BeEmpty())
	g.Expect(h.get("/_sim/calls", creds{}).text()).To(Equal("[]\n"))
}

func TestCallsKeepTheNewest(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	h.sim.mu.Lock()
	h.sim.maxCalls = 3
	h.sim.mu.Unlock()
	for range 7 {
		h.get("/v1/imports/audiences/list/app/app-1", as1)
		h.clock.Advance(time.Second)
	}
	calls := h.sim.Calls()
	g.Expect(calls).To(HaveLen(3))
	for i, c := range calls {
		g.Expect(c.Time).To(Equal(epoch.Add(time.Duration(4+i)*time.Second)), "the newest, oldest first")
	}
	calls[0].Key = "changed"
	g.Expect(h.sim.Calls()[0].Key).To(Equal(key1.Key), "Calls returns a copy")
	g.Expect(maxCallRecords).To(Equal(100_000))
}
