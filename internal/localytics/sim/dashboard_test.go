package sim

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestDashboardChangesListsOutsideTheAPI(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	vip := h.createdListID(as1, "app-1", "vip", `{"customer_id":"a"}`)
	churned := h.createdListID(as1, "app-1", "churned", `{"customer_id":"b"}`)
	g.Expect([]string{vip, churned}).To(Equal([]string{"31245", "31246"}))
	h.clock.Advance(time.Hour)
	budgets := h.sim.Budgets(key1.Key)
	calls := len(h.sim.Calls())

	// A rename: the name and updated_at change, the version does not.
	r := h.send(http.MethodPut, "/_sim/audiences/"+vip+"/name?name=%20VIP%20customers%20", creds{}, nil, "")
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(r.object(t)).To(And(HaveKeyWithValue("name", "VIP customers"), HaveKeyWithValue("version", 1.0),
		HaveKeyWithValue("updated_at", "2026-03-01T13:00:00Z")))
	// A delete.
	r = h.send(http.MethodDelete, "/_sim/audiences/"+churned, creds{}, nil, "")
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(r.object(t)).To(HaveKeyWithValue("deleted", 31246.0))

	g.Expect(h.sim.AudienceLists("app-1")).To(Equal([]AudienceList{{
		ID: 31245, AudienceID: 999, Name: "VIP customers", AppID: "app-1", Version: 1, RecordCount: 1,
		CreatedAt: epoch, UpdatedAt: epoch.Add(time.Hour), Members: []string{"a"},
	}}))
	g.Expect(h.sim.Budgets(key1.Key)).To(Equal(budgets), "the dashboard spends no budget")
	g.Expect(h.sim.Calls()).To(HaveLen(calls), "nor is it an API call")

	// A client sees both through A6 only.
	r = h.get("/v1/imports/audiences/list/app/app-1", as1)
	g.Expect(r.json(t)).To(Equal([]any{map[string]any{
		"id": 31245.0, "name": "VIP customers", "app_id": "app-1", "version": 1.0, "record_count": 1.0,
		"created_at": "2026-03-01T12:00:00", "updated_at": "2026-03-01T13:00:00",
	}}))
	g.Expect(h.send(http.MethodDelete, "/v1/imports/audiences/list/"+churned, as1, nil, "").status).To(Equal(http.StatusNotFound))

	refused := map[string]struct {
		method, path string
		want         int
	}{
		"delete a deleted list":    {http.MethodDelete, "/_sim/audiences/" + churned, http.StatusNotFound},
		"delete a non-number":      {http.MethodDelete, "/_sim/audiences/vip", http.StatusNotFound},
		"rename an unknown list":   {http.MethodPut, "/_sim/audiences/" + churned + "/name?name=x", http.StatusNotFound},
		"rename without a name":    {http.MethodPut, "/_sim/audiences/" + vip + "/name", http.StatusBadRequest},
		"rename to blanks":         {http.MethodPut, "/_sim/audiences/" + vip + "/name?name=%20%20", http.StatusBadRequest},
		"rename with a bad method": {http.MethodPost, "/_sim/audiences/" + vip + "/name?name=x", http.StatusMethodNotAllowed},
	}
	for name, tc := range refused {
		g.Expect(h.send(tc.method, tc.path, creds{}, nil, "").status).To(Equal(tc.want), name)
	}
	g.Expect(h.sim.AudienceLists("app-1")).To(ConsistOf(HaveField("Name", "VIP customers")), "refusals change nothing")
}

func TestDashboardMethods(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	h.createdListID(as1, "app-1", "vip", `{"customer_id":"a"}`)
	h.clock.Advance(time.Minute)

	g.Expect(h.sim.RenameListInDashboard(31245, "gold")).To(BeTrue())
	g.Expect(h.sim.RenameListInDashboard(31245, " \t")).To(BeFalse(), "an empty name")
	g.Expect(h.sim.RenameListInDashboard(4, "gold")).To(BeFalse(), "an unknown list")
	g.Expect(h.sim.AudienceLists("")).To(ConsistOf(And(HaveField("Name", "gold"), HaveField("Version", 1),
		HaveField("UpdatedAt", epoch.Add(time.Minute)))))

	g.Expect(h.sim.DeleteListInDashboard(4)).To(BeFalse())
	g.Expect(h.sim.DeleteListInDashboard(31245)).To(BeTrue())
	g.Expect(h.sim.DeleteListInDashboard(31245)).To(BeFalse(), "deleted already")
	g.Expect(h.sim.AudienceLists("")).To(BeEmpty())
}
