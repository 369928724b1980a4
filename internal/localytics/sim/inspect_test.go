package sim

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestInspectionOverHTTP(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) { c.Limits.ProfileUploads = 2 })
	id := h.uploadProfiles(as1, org60, "json", lines(
		`{"customer_id":"c1","changes":[{"op":"set-add","attr":"tags","value":["b",1]},{"op":"assign","attr":"n","value":3}]}`))
	h.uploadProfiles(as1, app1, "csv", "id,plan\nc9,gold\n")
	g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusTooManyRequests))
	h.createdListID(as1, "app-1", "vip", lines(`{"customer_id":"b"}`, `{"customer_id":"a"}`))

	cases := map[string]struct {
		path string
		want any
	}{
		"org profiles": {"/_sim/profiles?org_id=60", map[string]any{"c1": map[string]any{"tags": []any{1.0, "b"}, "n": 3.0}}},
		"app profiles": {"/_sim/profiles?app_id=app-1", map[string]any{"c9": map[string]any{"plan": "gold"}}},
		"no profiles":  {"/_sim/profiles?org_id=61", map[string]any{}},
		"audiences": {"/_sim/audiences?app_id=app-1", []any{map[string]any{
			"id": 31245.0, "audience_id": 999.0, "name": "vip", "app_id": "app-1", "version": 1.0, "record_count": 2.0,
			"created_at": "2026-03-01T12:00:00Z", "updated_at": "2026-03-01T12:00:00Z", "members": []any{"a", "b"},
		}}},
		"throttled": {"/_sim/throttled", []any{map[string]any{
			"time": "2026-03-01T12:00:00Z", "key": "key-1", "endpoint": "P1", "budget": "profile-uploads", "retry_after_seconds": 3600.0,
		}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := h.get(tc.path, creds{})
			g.Expect(r.status).To(Equal(http.StatusOK))
			g.Expect(r.header.Get("Content-Type")).To(Equal("application/json"))
			g.Expect(r.json(t)).To(Equal(tc.want))
		})
	}

	uploads := h.get("/_sim/uploads", creds{})
	g.Expect(uploads.json(t)).To(HaveLen(3))
	g.Expect(uploads.json(t)).To(ContainElement(And(
		HaveKeyWithValue("activity_id", id), HaveKeyWithValue("endpoint", "P1"),
		HaveKeyWithValue("scope", map[string]any{"org_id": 60.0}), HaveKeyWithValue("key", "key-1"))))
	g.Expect(uploads.text()).NotTo(ContainSubstring(key1.Secret))

	budgets := h.get("/_sim/budgets?key=key-1", creds{}).json(t)
	g.Expect(budgets).To(ContainElement(And(HaveKeyWithValue("budget", "profile-uploads"), HaveKeyWithValue("used", 2.0), HaveKeyWithValue("window", "1h0m0s"))))

	for _, bad := range []string{"/_sim/profiles", "/_sim/profiles?org_id=60&app_id=x", "/_sim/profiles?org_id=x", "/_sim/budgets"} {
		g.Expect(h.get(bad, creds{}).status).To(Equal(http.StatusBadRequest), bad)
	}
	g.Expect(h.get("/_sim/nothing", creds{}).status).To(Equal(http.StatusNotFound))
}

func TestResetForgetsEverything(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) {
		c.Limits.ProfileUploads = 1
		c.PendingFor = time.Minute
	})
	h.uploadProfiles(as1, org60, "json", oneChange)
	h.createAudience(as1, "app-1", "vip", `{"customer_id":"a"}`)
	h.clock.Advance(time.Minute)
	g.Expect(h.sim.AudienceLists("app-1")).To(HaveLen(1))
	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(HaveLen(1))
	pending := h.uploadProfiles(as2, field{"org_id", "61"}, "json", oneChange)
	g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusTooManyRequests))
	h.sim.SetFaults(Faults{Throttle: 5})
	h.sim.SetRetryAfter(false)
	h.sim.SetVariants(Variants{Scopet: true})

	r := h.send(http.MethodPost, "/_sim/reset", creds{}, nil, "")
	g.Expect(r.status).To(Equal(http.StatusOK))

	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(BeEmpty())
	g.Expect(h.sim.AudienceLists("")).To(BeEmpty())
	g.Expect(h.sim.Uploads()).To(BeEmpty())
	g.Expect(h.sim.Throttled()).To(BeEmpty())
	g.Expect(h.sim.Calls()).To(BeEmpty())
	g.Expect(h.sim.Faults()).To(Equal(Faults{}))
	g.Expect(h.get("/v1/imports/profiles/status/"+pending, as2).status).To(Equal(http.StatusNotFound))
	g.Expect(h.uploadOnce(as1, org60).status).To(Equal(http.StatusAccepted), "budgets start afresh")
	h.clock.Advance(time.Minute)
	r = h.uploadOnce(as1, org60)
	g.Expect(r.header.Get("Retry-After")).NotTo(BeEmpty(), "Retry-After back to the configured value")
	g.Expect(h.sim.currentVariants()).To(Equal(Variants{}))
	again := h.createAudience(as1, "app-1", "again", `{"customer_id":"a"}`)
	h.clock.Advance(time.Minute)
	g.Expect(h.audienceStatus(as1, again)["upload_statistics"]).To(HaveKeyWithValue("audience_list_id", "31245"), "ids start afresh")
}

func TestPublicURLBuildsErrorLogLinks(t *testing.T) {
	cases := map[string]struct {
		publicURL string
		header    http.Header
		want      func(h *harness) string
	}{
		"from the request's host": {want: func(h *harness) string { return h.srv.URL }},
		"from X-Forwarded-Proto": {
			header: http.Header{"X-Forwarded-Proto": {"https"}},
			want:   func(h *harness) string { return strings.Replace(h.srv.URL, "http:", "https:", 1) },
		},
		"from the configured public URL": {
			publicURL: "https://sim.example.test:8443/",
			want:      func(*harness) string { return "https://sim.example.test:8443" },
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, func(c *Config) { c.PublicURL = tc.publicURL })
			id := h.uploadProfiles(as1, org60, "json", oneChange)
			req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/v1/imports/profiles/status/"+id, nil)
			req.SetBasicAuth(key1.Key, key1.Secret)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := h.srv.Client().Do(req)
			g.Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			var st map[string]any
			g.Expect(decodeJSON(resp.Body, &st)).To(Succeed())
			g.Expect(st).To(HaveKeyWithValue("error_log", tc.want(h)+"/_sim/errors/"+id+".json"))
		})
	}
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLogsNeverCarryTheSecret(t *testing.T) {
	g := NewWithT(t)
	var logs syncBuffer
	h := newHarness(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Limits.ProfileUploads = 1
	})
	id := h.uploadProfiles(as1, org60, "json", oneChange)
	h.profileStatus(as1, id)
	h.uploadOnce(as1, org60) // 429
	h.upload(http.MethodPost, "/v1/imports/profiles/upload", creds{key1.Key, key1.Secret + "-typo"}, org60)
	h.get("/v1/imports/profiles/status/"+id, creds{key1.Secret, key1.Secret}) // the secret as a user name
	listID := h.createdListID(as1, "app-1", "vip", `{"customer_id":"a"}`)
	h.send(http.MethodPut, "/v1/imports/audiences/list/"+listID+"/name?name="+key1.Secret, as1, nil, "")
	h.sim.SetFaults(Faults{DropAfterAccept: 1})
	body, ct := form(app1, field{"audience_name", "n"}, field{"identifier_type", "customer_id"}, field{"file", `{"customer_id":"a"}`})
	_, _ = h.trySend(http.MethodPost, "/v1/imports/audiences/list/", as1, body, ct)
	h.get("/_sim/uploads", creds{})

	// A request's record is written once its reply has gone out, so the last
	// one may trail the client by a moment.
	g.Eventually(func() int { return strings.Count(logs.String(), `"msg":"request"`) }).Should(Equal(10), "one record per request")
	out := logs.String()
	g.Expect(out).NotTo(ContainSubstring(key1.Secret))
	g.Expect(out).To(ContainSubstring(`"method":"POST","path":"/v1/imports/profiles/upload","status":202`))
	g.Expect(out).To(ContainSubstring(`"status":429`))
	g.Expect(out).To(ContainSubstring(`"status":401`))
	g.Expect(out).To(ContainSubstring(`"key":"key-1"`))
	g.Expect(out).To(ContainSubstring(`"dropped":true`))
	g.Expect(out).To(ContainSubstring(`"duration"`))
}
