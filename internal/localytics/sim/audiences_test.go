package sim

import (
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestAudienceListLifeCycle(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)

	// A1, with and without the trailing slash.
	first := h.createdListID(as1, "app-1", "vip", lines(`{"customer_id":"a"}`, `{"customer_id":"b"}`))
	r := h.upload(http.MethodPost, "/v1/imports/audiences/list", as1,
		app1, field{"audience_name", "churned"}, field{"identifier_type", "customer_id"}, field{"file", `{"customer_id":"z"}`})
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	g.Expect(h.audienceStatus(as1, activityID(t, r))).To(HaveKeyWithValue("status", "Completed"))

	// A6 lists them in the vendor's shape.
	r = h.get("/v1/imports/audiences/list/app/app-1", as1)
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(r.json(t)).To(Equal([]any{
		map[string]any{"id": 31245.0, "name": "vip", "app_id": "app-1", "version": 1.0, "record_count": 2.0,
			"created_at": "2026-03-01T12:00:00", "updated_at": "2026-03-01T12:00:00"},
		map[string]any{"id": 31246.0, "name": "churned", "app_id": "app-1", "version": 1.0, "record_count": 1.0,
			"created_at": "2026-03-01T12:00:00", "updated_at": "2026-03-01T12:00:00"},
	}))
	g.Expect(first).To(Equal("31245"))

	// A3 replaces the whole list and bumps its version.
	h.clock.Advance(time.Hour)
	r = h.replaceAudience(as1, first, lines(`{"customer_id":"c"}`, `{"customer_id":"d"}`, `{"customer_id":"e"}`))
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	st := h.audienceStatus(as1, activityID(t, r))
	g.Expect(st).To(HaveKeyWithValue("status", "Completed"))
	g.Expect(st["upload_statistics"]).To(HaveKeyWithValue("audience_list_id", first))
	g.Expect(st["upload_statistics"]).To(HaveKeyWithValue("audience_id", "999"), "the list keeps its audience id")
	g.Expect(h.sim.AudienceLists("app-1")[0]).To(Equal(AudienceList{
		ID: 31245, AudienceID: 999, Name: "vip", AppID: "app-1", Version: 2, RecordCount: 3,
		CreatedAt: epoch, UpdatedAt: epoch.Add(time.Hour), Members: []string{"c", "d", "e"},
	}))

	// A4 renames from the query parameter and ignores any body.
	r = h.upload(http.MethodPut, "/v1/imports/audiences/list/"+first+"/name?name=very%20important", as1,
		app1, field{"identifier_type", "customer_id"}, field{"file", `{"customer_id":"ignored"}`})
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(r.object(t)).To(And(HaveKeyWithValue("name", "very important"), HaveKeyWithValue("version", 2.0)))
	g.Expect(h.sim.AudienceLists("app-1")[0].Members).To(Equal([]string{"c", "d", "e"}), "the rename body was ignored")

	// A5 deletes; the list is gone for every call after it.
	r = h.send(http.MethodDelete, "/v1/imports/audiences/list/"+first, as1, nil, "")
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(h.sim.AudienceLists("app-1")).To(ConsistOf(HaveField("Name", "churned")))
	for name, call := range map[string]func() reply{
		"A3": func() reply { return h.replaceAudience(as1, first, `{"customer_id":"x"}`) },
		"A4": func() reply {
			return h.send(http.MethodPut, "/v1/imports/audiences/list/"+first+"/name?name=x", as1, nil, "")
		},
		"A5": func() reply { return h.send(http.MethodDelete, "/v1/imports/audiences/list/"+first, as1, nil, "") },
	} {
		g.Expect(call().status).To(Equal(http.StatusNotFound), "%s after delete", name)
	}
	g.Expect(h.get("/v1/imports/audiences/list/app/app-2", as2).json(t)).To(Equal([]any{}), "an app without lists")
}

func TestAudienceRefusals(t *testing.T) {
	h := newHarness(t, nil)
	listID := h.createdListID(as1, "app-1", "vip", `{"customer_id":"a"}`)
	other := h.createdListID(as2, "app-2", "theirs", `{"customer_id":"a"}`)
	file := field{"file", `{"customer_id":"a"}`}
	idType := field{"identifier_type", "customer_id"}
	create := func(fields ...field) func() reply {
		return func() reply { return h.upload(http.MethodPost, "/v1/imports/audiences/list/", as1, fields...) }
	}
	replace := func(fields ...field) func() reply {
		return func() reply { return h.upload(http.MethodPut, "/v1/imports/audiences/list/"+listID, as1, fields...) }
	}
	cases := map[string]struct {
		call func() reply
		want int
		says string
	}{
		"A1 without app_id":           {create(field{"audience_name", "n"}, idType, file), http.StatusBadRequest, "app_id"},
		"A1 without audience_name":    {create(app1, idType, file), http.StatusBadRequest, "audience_name"},
		"A1 with another identifier":  {create(app1, field{"audience_name", "n"}, field{"identifier_type", "email"}, file), http.StatusBadRequest, "identifier_type"},
		"A1 without identifier_type":  {create(app1, field{"audience_name", "n"}, file), http.StatusBadRequest, "identifier_type"},
		"A1 without a file":           {create(app1, field{"audience_name", "n"}, idType), http.StatusBadRequest, "file"},
		"A3 without audience_list_id": {replace(app1, idType, file), http.StatusBadRequest, "audience_list_id"},
		"A3 with a different list id": {replace(app1, idType, file, field{"audience_list_id", "1"}), http.StatusBadRequest, "does not match"},
		"A3 of a list of another app": {func() reply { return h.replaceAudience(as1, other, `{"customer_id":"a"}`) }, http.StatusNotFound, "unknown"},
		"A3 of an unknown list":       {func() reply { return h.replaceAudience(as1, "777", `{"customer_id":"a"}`) }, http.StatusNotFound, "unknown"},
		"A3 of a non-numeric list id": {func() reply { return h.replaceAudience(as1, "abc", `{"customer_id":"a"}`) }, http.StatusNotFound, "unknown"},
		"A4 without a name": {func() reply {
			return h.send(http.MethodPut, "/v1/imports/audiences/list/"+listID+"/name", as1, nil, "")
		}, http.StatusBadRequest, "name"},
		"A4 of an unknown list": {func() reply {
			return h.send(http.MethodPut, "/v1/imports/audiences/list/777/name?name=x", as1, nil, "")
		}, http.StatusNotFound, "unknown"},
		"A5 of an unknown list":            {func() reply { return h.send(http.MethodDelete, "/v1/imports/audiences/list/777", as1, nil, "") }, http.StatusNotFound, "unknown"},
		"GET of a list is not an endpoint": {func() reply { return h.get("/v1/imports/audiences/list/"+listID, as1) }, http.StatusMethodNotAllowed, ""},
		"an unknown path":                  {func() reply { return h.get("/v1/imports/nothing", as1) }, http.StatusNotFound, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := tc.call()
			g.Expect(r.status).To(Equal(tc.want), "%s", r.body)
			g.Expect(r.text()).To(ContainSubstring(tc.says))
			g.Expect(r.header.Get("Content-Type")).To(HavePrefix("text/plain"))
		})
	}
	g := NewWithT(t)
	g.Expect(h.sim.AudienceLists("app-1")).To(ConsistOf(And(HaveField("Name", "vip"), HaveField("Version", 1))))
	g.Expect(h.sim.Uploads()).To(HaveLen(2), "refused uploads record nothing")
}

func TestAudienceListCapPerApp(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) {
		c.Limits.AudienceListsPerApp = 2
		c.PendingFor = time.Minute
	})
	create := func(name string) reply {
		return h.upload(http.MethodPost, "/v1/imports/audiences/list/", as1,
			app1, field{"audience_name", name}, field{"identifier_type", "customer_id"}, field{"file", `{"customer_id":"a"}`})
	}
	g.Expect(create("one").status).To(Equal(http.StatusAccepted))
	failing := create("two")
	g.Expect(failing.status).To(Equal(http.StatusAccepted))

	// Creates still in flight count against the cap.
	r := create("three")
	g.Expect(r.status).To(Equal(http.StatusBadRequest))
	g.Expect(r.text()).To(ContainSubstring("audience list limit reached"))
	g.Expect(r.text()).To(ContainSubstring("2 audience lists"))

	// Another app has its own cap.
	g.Expect(h.upload(http.MethodPost, "/v1/imports/audiences/list/", as2,
		field{"app_id", "app-2"}, field{"audience_name", "x"}, field{"identifier_type", "customer_id"}, field{"file", `{"customer_id":"a"}`}).status).To(Equal(http.StatusAccepted))

	h.clock.Advance(time.Minute)
	g.Expect(h.sim.AudienceLists("app-1")).To(HaveLen(2))
	g.Expect(create("three").status).To(Equal(http.StatusBadRequest))

	// Deleting a list frees its place.
	g.Expect(h.send(http.MethodDelete, "/v1/imports/audiences/list/31245", as1, nil, "").status).To(Equal(http.StatusOK))
	g.Expect(create("three").status).To(Equal(http.StatusAccepted))
	g.Expect(create("four").status).To(Equal(http.StatusBadRequest))
}

func TestFailedCreateFreesItsPlaceUnderTheCap(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) { c.Limits.AudienceListsPerApp = 1 })
	id := h.createAudience(as1, "app-1", "bad", "not json\n")
	g.Expect(h.audienceStatus(as1, id)).To(HaveKeyWithValue("status", "Failed"))
	g.Expect(h.createdListID(as1, "app-1", "good", `{"customer_id":"a"}`)).NotTo(BeEmpty())
}

func TestReplaceOfAListDeletedMeanwhileFails(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) { c.PendingFor = time.Minute })
	create := h.createAudience(as1, "app-1", "vip", `{"customer_id":"a"}`)
	h.clock.Advance(time.Minute)
	listID := h.audienceStatus(as1, create)["upload_statistics"].(map[string]any)["audience_list_id"].(string)

	r := h.replaceAudience(as1, listID, `{"customer_id":"b"}`)
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	g.Expect(h.send(http.MethodDelete, "/v1/imports/audiences/list/"+listID, as1, nil, "").status).To(Equal(http.StatusOK))
	h.clock.Advance(time.Minute)
	st := h.audienceStatus(as1, activityID(t, r))
	g.Expect(st).To(HaveKeyWithValue("status", "Failed"))
	g.Expect(st["error_reason"]).To(ContainSubstring("deleted"))
	g.Expect(h.sim.AudienceLists("app-1")).To(BeEmpty())
}

func TestAudienceErrorLog(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	id := h.createAudience(as1, "app-1", "vip", lines(`{"customer_id":"a"}`, `{"customer_id":7}`, `[`))
	g.Expect(h.audienceStatus(as1, id)).To(HaveKeyWithValue("status", "Completed"))
	r := h.get("/_sim/errors/"+id+".json", creds{})
	g.Expect(r.status).To(Equal(http.StatusOK))
	g.Expect(r.json(t)).To(HaveLen(2))
	g.Expect(strings.Count(r.text(), `"line"`)).To(Equal(2))
}
