package sim

import (
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
)

func TestAuthenticationIsRequiredOnEveryEndpoint(t *testing.T) {
	h := newHarness(t, nil)
	endpoints := map[string]struct {
		method, path string
	}{
		"P1 upload":         {http.MethodPost, "/v1/imports/profiles/upload"},
		"P2 status":         {http.MethodGet, "/v1/imports/profiles/status/x"},
		"A1 create":         {http.MethodPost, "/v1/imports/audiences/list/"},
		"A1 create, no /":   {http.MethodPost, "/v1/imports/audiences/list"},
		"A2 status":         {http.MethodGet, "/v1/imports/audiences/list/status/x"},
		"A3 replace":        {http.MethodPut, "/v1/imports/audiences/list/1"},
		"A4 rename":         {http.MethodPut, "/v1/imports/audiences/list/1/name?name=x"},
		"A5 delete":         {http.MethodDelete, "/v1/imports/audiences/list/1"},
		"A6 list by app":    {http.MethodGet, "/v1/imports/audiences/list/app/app-1"},
		"P1 with a slash /": {http.MethodPost, "/v1/imports/profiles/upload/"},
	}
	credentials := map[string]creds{
		"no credentials": {},
		"wrong secret":   {key1.Key, "not-the-secret"},
		"unknown key":    {"nobody", key1.Secret},
		"other's secret": {key1.Key, key2.Secret},
	}
	for name, ep := range endpoints {
		for cname, c := range credentials {
			t.Run(name+"/"+cname, func(t *testing.T) {
				g := NewWithT(t)
				r := h.send(ep.method, ep.path, c, nil, "")
				g.Expect(r.status).To(Equal(http.StatusUnauthorized))
				g.Expect(r.header.Get("Content-Type")).To(HavePrefix("text/plain"))
				g.Expect(r.header.Get("WWW-Authenticate")).To(ContainSubstring("Basic"))
			})
		}
	}
	NewWithT(t).Expect(h.sim.Uploads()).To(BeEmpty())
}

func TestKeysReachOnlyTheirOrgsAndApps(t *testing.T) {
	h := newHarness(t, nil)
	profiles := h.uploadProfiles(as1, org60, "json", lines(`{"customer_id":"c","changes":[{"op":"assign","attr":"a","value":"v"}]}`))
	listID := h.createdListID(as1, "app-1", "mine", lines(`{"customer_id":"c"}`))
	audienceJob := h.createAudience(as1, "app-1", "mine too", lines(`{"customer_id":"c"}`))

	cases := map[string]struct {
		call func() reply
		want int
	}{
		"P1 into another org": {func() reply {
			return h.upload(http.MethodPost, "/v1/imports/profiles/upload", as2, org60, field{"format", "json"}, field{"file", "{}"})
		}, http.StatusForbidden},
		"P1 into another app": {func() reply {
			return h.upload(http.MethodPost, "/v1/imports/profiles/upload", as2, app1, field{"format", "json"}, field{"file", "{}"})
		}, http.StatusForbidden},
		"P1 into its own org": {func() reply {
			return h.upload(http.MethodPost, "/v1/imports/profiles/upload", as2, field{"org_id", "61"}, field{"format", "json"}, field{"file", "{}"})
		}, http.StatusAccepted},
		"P1 with the scope after the file": {func() reply {
			return h.upload(http.MethodPost, "/v1/imports/profiles/upload", as2, field{"format", "json"}, field{"file", "{}"}, org60)
		}, http.StatusForbidden},
		"P2 of another key's job": {func() reply {
			return h.get("/v1/imports/profiles/status/"+profiles, as2)
		}, http.StatusForbidden},
		"A1 into another app": {func() reply {
			return h.upload(http.MethodPost, "/v1/imports/audiences/list/", as2,
				app1, field{"audience_name", "x"}, field{"identifier_type", "customer_id"}, field{"file", `{"customer_id":"c"}`})
		}, http.StatusForbidden},
		"A2 of another key's job": {func() reply {
			return h.get("/v1/imports/audiences/list/status/"+audienceJob, as2)
		}, http.StatusForbidden},
		"A3 into another app": {func() reply {
			return h.replaceAudience(as2, listID, `{"customer_id":"c"}`)
		}, http.StatusForbidden},
		"A4 of another app's list": {func() reply {
			return h.send(http.MethodPut, "/v1/imports/audiences/list/"+listID+"/name?name=stolen", as2, nil, "")
		}, http.StatusForbidden},
		"A5 of another app's list": {func() reply {
			return h.send(http.MethodDelete, "/v1/imports/audiences/list/"+listID, as2, nil, "")
		}, http.StatusForbidden},
		"A6 of another app": {func() reply {
			return h.get("/v1/imports/audiences/list/app/app-1", as2)
		}, http.StatusForbidden},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := tc.call()
			g.Expect(r.status).To(Equal(tc.want), "%s", r.body)
			if tc.want == http.StatusForbidden {
				g.Expect(r.header.Get("Content-Type")).To(HavePrefix("text/plain"))
			}
		})
	}
	// Nothing the forbidden calls tried changed the list.
	NewWithT(t).Expect(h.sim.AudienceLists("app-1")).To(ContainElement(HaveField("Name", "mine")))
}

func TestAppWildcardGrantsEveryApp(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Accounts = append(c.Accounts, Account{Key: "demo", Secret: "demo-secret", AppIDs: []string{"*"}})
	})
	demo := creds{"demo", "demo-secret"}
	g := NewWithT(t)
	g.Expect(h.get("/v1/imports/audiences/list/app/any-app-at-all", demo).status).To(Equal(http.StatusOK))
	r := h.upload(http.MethodPost, "/v1/imports/profiles/upload", demo, org60, field{"format", "json"}, field{"file", "{}"})
	g.Expect(r.status).To(Equal(http.StatusForbidden), "the wildcard is for apps only")
}
