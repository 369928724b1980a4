package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The accounts every test server knows: key-1 may use org 60 and app-1, key-2
// org 61 and app-2.
var (
	key1 = Account{Key: "key-1", Secret: "secret-1", OrgIDs: []int64{60}, AppIDs: []string{"app-1"}}
	key2 = Account{Key: "key-2", Secret: "secret-2", OrgIDs: []int64{61}, AppIDs: []string{"app-2"}}
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// harness is a simulator behind a real HTTP server, driven by a fake clock.
type harness struct {
	t     *testing.T
	sim   *Server
	srv   *httptest.Server
	clock *FakeClock
}

// newHarness starts a simulator with both test accounts, Retry-After on, jobs
// that complete as soon as they are observed, and cfg adjusted by mutate.
func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	clock := NewFakeClock(epoch)
	cfg := Config{
		Accounts:   []Account{key1, key2},
		RetryAfter: true,
		Clock:      clock,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s := New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	return &harness{t: t, sim: s, srv: srv, clock: clock}
}

// reply is a finished HTTP exchange.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) text() string { return string(r.body) }

// json decodes the body into a generic value.
func (r reply) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("reply %d is not JSON: %v: %q", r.status, err, r.body)
	}
	return v
}

// object decodes the body as a JSON object.
func (r reply) object(t *testing.T) map[string]any {
	t.Helper()
	m, ok := r.json(t).(map[string]any)
	if !ok {
		t.Fatalf("reply is not a JSON object: %s", r.body)
	}
	return m
}

// creds are Basic auth credentials; the zero value sends none.
type creds struct{ key, secret string }

var (
	as1 = creds{key1.Key, key1.Secret}
	as2 = creds{key2.Key, key2.Secret}
)

// send performs a request and reads the whole reply; a transport error fails
// the test.
func (h *harness) send(method, path string, c creds, body io.Reader, contentType string) reply {
	h.t.Helper()
	r, err := h.trySend(method, path, c, body, contentType)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (h *harness) trySend(method, path string, c creds, body io.Reader, contentType string) (reply, error) {
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		return reply{}, err
	}
	if c.key != "" {
		req.SetBasicAuth(c.key, c.secret)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, err
}

func (h *harness) get(path string, c creds) reply {
	h.t.Helper()
	return h.send(http.MethodGet, path, c, nil, "")
}

// field is one multipart form field; a field named "file" is sent as a file part.
type field struct{ name, value string }

// form builds a multipart body with the fields in the order given.
func form(fields ...field) (io.Reader, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		if f.name == "file" {
			fw, _ := w.CreateFormFile("file", "test_file.json")
			_, _ = io.WriteString(fw, f.value)
			continue
		}
		_ = w.WriteField(f.name, f.value)
	}
	_ = w.Close()
	return &buf, w.FormDataContentType()
}

// upload sends a multipart request.
func (h *harness) upload(method, path string, c creds, fields ...field) reply {
	h.t.Helper()
	body, ct := form(fields...)
	return h.send(method, path, c, body, ct)
}

// uploadProfiles sends a P1 upload and returns its activity id, expecting 202.
func (h *harness) uploadProfiles(c creds, scope field, format, file string) string {
	h.t.Helper()
	r := h.upload(http.MethodPost, "/v1/imports/profiles/upload", c, scope, field{"format", format}, field{"file", file})
	if r.status != http.StatusAccepted {
		h.t.Fatalf("profile upload: %d %s", r.status, r.body)
	}
	return activityID(h.t, r)
}

// createAudience sends an A1 create and returns its activity id, expecting 202.
func (h *harness) createAudience(c creds, app, name, file string) string {
	h.t.Helper()
	r := h.upload(http.MethodPost, "/v1/imports/audiences/list/", c,
		field{"app_id", app}, field{"audience_name", name}, field{"identifier_type", "customer_id"}, field{"file", file})
	if r.status != http.StatusAccepted {
		h.t.Fatalf("audience create: %d %s", r.status, r.body)
	}
	return activityID(h.t, r)
}

// replaceAudience sends an A3 replace of a list of app-1 and returns the reply.
func (h *harness) replaceAudience(c creds, listID, file string) reply {
	h.t.Helper()
	return h.upload(http.MethodPut, "/v1/imports/audiences/list/"+listID, c,
		app1, field{"identifier_type", "customer_id"}, field{"file", file}, field{"audience_list_id", listID})
}

func activityID(t *testing.T, r reply) string {
	t.Helper()
	id, ok := r.object(t)["activity_id"].(string)
	if !ok || id == "" {
		t.Fatalf("no activity_id in %s", r.body)
	}
	return id
}

// profileStatus fetches a P2 job object, expecting 200.
func (h *harness) profileStatus(c creds, id string) map[string]any {
	h.t.Helper()
	r := h.get("/v1/imports/profiles/status/"+id, c)
	if r.status != http.StatusOK {
		h.t.Fatalf("profile status: %d %s", r.status, r.body)
	}
	return r.object(h.t)
}

// audienceStatus fetches an A2 job object, expecting 200.
func (h *harness) audienceStatus(c creds, id string) map[string]any {
	h.t.Helper()
	r := h.get("/v1/imports/audiences/list/status/"+id, c)
	if r.status != http.StatusOK {
		h.t.Fatalf("audience status: %d %s", r.status, r.body)
	}
	return r.object(h.t)
}

// createdListID creates an audience list, lets its job complete and returns
// the list id as the vendor reports it (a string).
func (h *harness) createdListID(c creds, app, name, file string) string {
	h.t.Helper()
	st := h.audienceStatus(c, h.createAudience(c, app, name, file))
	if st["status"] != "Completed" {
		h.t.Fatalf("create job of %q: %v", name, st)
	}
	return st["upload_statistics"].(map[string]any)["audience_list_id"].(string)
}

// lines joins JSON lines into a file.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

var (
	org60 = field{"org_id", "60"}
	app1  = field{"app_id", "app-1"}
)

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func formatInt(f float64) string { return strconv.FormatInt(int64(f), 10) }

func newServer(t *testing.T, s *Server) *httptest.Server {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}
