package localytics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestNewRefusesUnsafeOrBrokenConfig(t *testing.T) {
	tests := map[string]struct {
		baseURL string
		creds   Credentials
		wantMsg string
	}{
		"credentials in the URL": {
			baseURL: "https://" + testKey + ":" + testSecret + "@api.localytics.com",
			creds:   testCreds, wantMsg: "must not contain credentials",
		},
		"unparseable URL that holds the secret": {
			baseURL: "https://" + testKey + ":" + testSecret + "@api local/%zz",
			creds:   testCreds, wantMsg: "cannot be parsed",
		},
		"another scheme":   {baseURL: "ftp://api.localytics.com", creds: testCreds, wantMsg: "scheme"},
		"no host":          {baseURL: "https:///v1", creds: testCreds, wantMsg: "no host"},
		"a query":          {baseURL: "https://api.localytics.com?x=1", creds: testCreds, wantMsg: "query"},
		"no secret":        {baseURL: "https://api.localytics.com", creds: Credentials{Key: testKey}, wantMsg: "key and a secret"},
		"no key":           {baseURL: "https://api.localytics.com", creds: Credentials{Secret: testSecret}, wantMsg: "key and a secret"},
		"colon in the key": {baseURL: "https://api.localytics.com", creds: Credentials{Key: "a:b", Secret: testSecret}, wantMsg: "':'"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			c, err := New(tc.baseURL, tc.creds)
			g.Expect(c).To(BeNil())
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantMsg)))
			g.Expect(err.Error()).NotTo(ContainSubstring(testSecret))
		})
	}
}

// recordedRequest is what a handler saw of one request.
type recordedRequest struct {
	method, path, rawQuery, authorization string
	userinfo                              bool
	contentLength                         int64
	fieldNames                            []string
	fields                                map[string]string
	fileName                              string
	file                                  string
	body                                  string
}

// recorder reads every request fully (streaming multipart parts in order) and
// answers with answer.
type recorder struct {
	mu     sync.Mutex
	seen   []recordedRequest
	answer http.Handler
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := recordedRequest{
		method: r.Method, path: r.URL.EscapedPath(), rawQuery: r.URL.RawQuery,
		authorization: r.Header.Get("Authorization"), userinfo: r.URL.User != nil,
		contentLength: r.ContentLength, fields: map[string]string{},
	}
	if mr, err := r.MultipartReader(); err == nil {
		for {
			part, err := mr.NextPart()
			if err != nil {
				break
			}
			data, _ := io.ReadAll(part)
			if part.FileName() != "" {
				got.fileName, got.file = part.FileName(), string(data)
			} else {
				got.fields[part.FormName()] = string(data)
			}
			got.fieldNames = append(got.fieldNames, part.FormName())
		}
	} else {
		data, _ := io.ReadAll(r.Body)
		got.body = string(data)
	}
	rec.mu.Lock()
	rec.seen = append(rec.seen, got)
	rec.mu.Unlock()
	rec.answer.ServeHTTP(w, r)
}

func (rec *recorder) requests() []recordedRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recordedRequest(nil), rec.seen...)
}

// TestRequestShape checks each endpoint's method, path, query, form and
// auth against docs/localytics-api.md, with a base URL that has a path prefix.
func TestRequestShape(t *testing.T) {
	const file = `{"customer_id":"a"}` + "\n" + `{"customer_id":"b"}` + "\n"
	wantAuth := "Basic " + basicAuthToken(testKey, testSecret)
	tests := map[string]struct {
		call       func(context.Context, *Client) error
		answer     http.Handler
		want       recordedRequest
		wantFields []string
	}{
		"P1 org scope, json": {
			call: func(ctx context.Context, c *Client) error {
				_, err := c.UploadProfiles(ctx, ProfileUpload{Scope: Scope{OrgID: 60}, Format: ProfileFormatJSON, File: UploadFile{Content: strings.NewReader(file)}})
				return err
			},
			answer:     respond(202, "application/json", `{"activity_id":"x"}`),
			want:       recordedRequest{method: "POST", path: "/prefix/v1/imports/profiles/upload", fileName: "profiles.json", file: file, fields: map[string]string{"org_id": "60", "format": "json"}},
			wantFields: []string{"org_id", "format", "file"},
		},
		"P1 app scope, csv, named file": {
			call: func(ctx context.Context, c *Client) error {
				_, err := c.UploadProfiles(ctx, ProfileUpload{Scope: Scope{AppID: "app-1"}, Format: ProfileFormatCSV, File: UploadFile{Content: strings.NewReader("id,a\n1,2\n"), Name: "batch.csv"}})
				return err
			},
			answer:     respond(202, "application/json", `{"activity_id":"x"}`),
			want:       recordedRequest{method: "POST", path: "/prefix/v1/imports/profiles/upload", fileName: "batch.csv", file: "id,a\n1,2\n", fields: map[string]string{"app_id": "app-1", "format": "csv"}},
			wantFields: []string{"app_id", "format", "file"},
		},
		"P2": {
			call: func(ctx context.Context, c *Client) error {
				_, err := c.ProfileJobStatus(ctx, "3b4a65e5-2beb")
				return err
			},
			answer: respond(200, "application/json", `{"status":"Pending"}`),
			want:   recordedRequest{method: "GET", path: "/prefix/v1/imports/profiles/status/3b4a65e5-2beb", fields: map[string]string{}},
		},
		"A1 with its trailing slash": {
			call: func(ctx context.Context, c *Client) error {
				_, err := c.CreateAudienceList(ctx, AudienceListCreate{AppID: "app-1", Name: "VIPs 2026", File: UploadFile{Content: strings.NewReader(file)}})
				return err
			},
			answer:     respond(202, "application/json", `{"activity_id":"x"}`),
			want:       recordedRequest{method: "POST", path: "/prefix/v1/imports/audiences/list/", fileName: "audience.json", file: file, fields: map[string]string{"app_id": "app-1", "audience_name": "VIPs 2026", "identifier_type": "customer_id"}},
			wantFields: []string{"app_id", "audience_name", "identifier_type", "file"},
		},
		"A2": {
			call: func(ctx context.Context, c *Client) error {
				_, err := c.AudienceJobStatus(ctx, "act 1")
				return err
			},
			answer: respond(200, "application/json", `{"status":"Pending"}`),
			want:   recordedRequest{method: "GET", path: "/prefix/v1/imports/audiences/list/status/act%201", fields: map[string]string{}},
		},
		"A3 fields before the file": {
			call: func(ctx context.Context, c *Client) error {
				_, err := c.ReplaceAudienceList(ctx, AudienceListReplace{AppID: "app-1", AudienceListID: "31245", File: UploadFile{Content: strings.NewReader(file)}})
				return err
			},
			answer:     respond(202, "application/json", `{"activity_id":"x"}`),
			want:       recordedRequest{method: "PUT", path: "/prefix/v1/imports/audiences/list/31245", fileName: "audience.json", file: file, fields: map[string]string{"app_id": "app-1", "identifier_type": "customer_id", "audience_list_id": "31245"}},
			wantFields: []string{"app_id", "identifier_type", "audience_list_id", "file"},
		},
		"A4 name in the query, empty body": {
			call: func(ctx context.Context, c *Client) error {
				return c.RenameAudienceList(ctx, "31245", "my renamed list & co")
			},
			answer: respond(200, "", ""),
			want:   recordedRequest{method: "PUT", path: "/prefix/v1/imports/audiences/list/31245/name", rawQuery: "name=my+renamed+list+%26+co", fields: map[string]string{}},
		},
		"A5": {
			call:   func(ctx context.Context, c *Client) error { return c.DeleteAudienceList(ctx, "31245") },
			answer: respond(204, "", ""),
			want:   recordedRequest{method: "DELETE", path: "/prefix/v1/imports/audiences/list/31245", fields: map[string]string{}},
		},
		"A6 escapes the app id": {
			call: func(ctx context.Context, c *Client) error {
				_, err := c.ListAudienceLists(ctx, "7d2e/3219 x")
				return err
			},
			answer: respond(200, "application/json", `[]`),
			want:   recordedRequest{method: "GET", path: "/prefix/v1/imports/audiences/list/app/7d2e%2F3219%20x", fields: map[string]string{}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			rec := &recorder{answer: tc.answer}
			srv := httptest.NewServer(rec)
			t.Cleanup(srv.Close)
			c, err := New(srv.URL+"/prefix/", testCreds)
			g.Expect(err).NotTo(HaveOccurred())

			g.Expect(tc.call(context.Background(), c)).To(Succeed())
			seen := rec.requests()
			g.Expect(seen).To(HaveLen(1))
			got := seen[0]
			g.Expect(got.authorization).To(Equal(wantAuth))
			g.Expect(got.userinfo).To(BeFalse())
			g.Expect(got.fieldNames).To(Equal(tc.wantFields))
			got.authorization, got.fieldNames, got.contentLength = "", nil, 0
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	big := UploadFile{Content: strings.NewReader("x"), Size: DefaultMaxUploadBytes + 1}
	small := UploadFile{Content: strings.NewReader("x")}
	tests := map[string]struct {
		call       func(context.Context, *Client) error
		wantTooBig bool
	}{
		"two scopes": {call: func(ctx context.Context, c *Client) error {
			_, err := c.UploadProfiles(ctx, ProfileUpload{Scope: Scope{OrgID: 1, AppID: "a"}, Format: ProfileFormatJSON, File: small})
			return err
		}},
		"no scope": {call: func(ctx context.Context, c *Client) error {
			_, err := c.UploadProfiles(ctx, ProfileUpload{Format: ProfileFormatJSON, File: small})
			return err
		}},
		"unknown format": {call: func(ctx context.Context, c *Client) error {
			_, err := c.UploadProfiles(ctx, ProfileUpload{Scope: Scope{OrgID: 1}, Format: "xml", File: small})
			return err
		}},
		"no file": {call: func(ctx context.Context, c *Client) error {
			_, err := c.UploadProfiles(ctx, ProfileUpload{Scope: Scope{OrgID: 1}, Format: ProfileFormatJSON})
			return err
		}},
		"declared size over the cap": {wantTooBig: true, call: func(ctx context.Context, c *Client) error {
			_, err := c.UploadProfiles(ctx, ProfileUpload{Scope: Scope{OrgID: 1}, Format: ProfileFormatJSON, File: big})
			return err
		}},
		"empty activity id":    {call: func(ctx context.Context, c *Client) error { _, err := c.ProfileJobStatus(ctx, ""); return err }},
		"dot-dot activity id":  {call: func(ctx context.Context, c *Client) error { _, err := c.AudienceJobStatus(ctx, ".."); return err }},
		"empty audience name":  {call: func(ctx context.Context, c *Client) error { return c.RenameAudienceList(ctx, "1", " ") }},
		"empty list id":        {call: func(ctx context.Context, c *Client) error { return c.DeleteAudienceList(ctx, "") }},
		"empty app id to list": {call: func(ctx context.Context, c *Client) error { _, err := c.ListAudienceLists(ctx, ""); return err }},
		"create without app": {call: func(ctx context.Context, c *Client) error {
			_, err := c.CreateAudienceList(ctx, AudienceListCreate{Name: "n", File: small})
			return err
		}},
		"replace without list id": {call: func(ctx context.Context, c *Client) error {
			_, err := c.ReplaceAudienceList(ctx, AudienceListReplace{AppID: "a", File: small})
			return err
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := &countingHandler{next: respond(500, "", "")}
			clock := newFakeClock()
			c := newTestClient(t, h, WithClock(clock), WithLimits(Limits{
				ProfileUploads: Limit{Calls: 1, Window: time.Hour},
				ProfileStatus:  Limit{Calls: 1, Window: time.Hour},
				AudienceCalls:  Limit{Calls: 1, Window: time.Hour},
			}))
			err := tc.call(context.Background(), c)
			g.Expect(err).To(MatchError(ErrInvalidRequest))
			g.Expect(IsFileTooLarge(err)).To(Equal(tc.wantTooBig))
			g.Expect(IsTransient(err)).To(BeFalse())
			g.Expect(h.count()).To(BeZero())
			for _, kind := range []BudgetKind{BudgetProfileUploads, BudgetProfileStatus, BudgetAudienceCalls} {
				g.Expect(c.NextAllowed(kind)).To(Equal(clock.Now()), "no budget spent on %s", kind)
			}
		})
	}
}

// gatedReader yields size bytes, but stops after the first chunk until gate
// is closed: an upload that waited for the whole file before sending would
// never get past it.
type gatedReader struct {
	size, read int64
	gate       <-chan struct{}
	gated      bool
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if r.read >= r.size {
		return 0, io.EOF
	}
	if r.read >= 1<<20 && !r.gated {
		select {
		case <-r.gate:
		case <-time.After(10 * time.Second):
			return 0, errors.New("the server saw nothing of the file: the upload is not streamed")
		}
		r.gated = true
	}
	n := int(min(int64(len(p)), r.size-r.read))
	for i := range p[:n] {
		p[i] = 'a' + byte((r.read+int64(i))%26)
	}
	r.read += int64(n)
	return n, nil
}

func TestUploadStreams(t *testing.T) {
	const size = 8 << 20
	tests := map[string]struct {
		declareSize bool
	}{
		"known size sends a Content-Length": {declareSize: true},
		"unknown size is sent chunked":      {declareSize: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			gate := make(chan struct{})
			var gotLength int64
			var gotEncoding []string
			var received int64
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotLength, gotEncoding = r.ContentLength, r.TransferEncoding
				mr, err := r.MultipartReader()
				if err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
				var n int64
				for {
					part, err := mr.NextPart()
					if err != nil {
						break
					}
					if part.FormName() != "file" {
						continue
					}
					buf := make([]byte, 64<<10)
					once := sync.OnceFunc(func() { close(gate) })
					for {
						k, err := part.Read(buf)
						n += int64(k)
						if n > 0 {
							once()
						}
						if err != nil {
							break
						}
					}
				}
				received = n
				w.WriteHeader(202)
				_, _ = w.Write([]byte(`{"activity_id":"streamed"}`))
			})
			c := newTestClient(t, handler)
			file := UploadFile{Content: &gatedReader{size: size, gate: gate}}
			if tc.declareSize {
				file.Size = size
			}
			id, err := c.UploadProfiles(context.Background(), ProfileUpload{Scope: Scope{OrgID: 60}, Format: ProfileFormatJSON, File: file})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(id).To(Equal("streamed"))
			g.Expect(received).To(BeEquivalentTo(size))
			if tc.declareSize {
				g.Expect(gotLength).To(BeNumerically(">", size))
				g.Expect(gotEncoding).To(BeEmpty())
			} else {
				g.Expect(gotLength).To(BeEquivalentTo(-1))
				g.Expect(gotEncoding).To(Equal([]string{"chunked"}))
			}
		})
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// TestUploadFileProblems checks that a file that is not what was declared
// fails the upload, and that the server never gets a complete form.
func TestUploadFileProblems(t *testing.T) {
	errDisk := errors.New("disk on fire")
	tests := map[string]struct {
		file    UploadFile
		max     int64
		wantErr error
	}{
		"shorter than declared":     {file: UploadFile{Content: strings.NewReader("abc"), Size: 10}, wantErr: ErrInvalidRequest},
		"longer than declared":      {file: UploadFile{Content: strings.NewReader("abcdefghijkl"), Size: 10}, wantErr: ErrInvalidRequest},
		"the reader fails":          {file: UploadFile{Content: io.MultiReader(strings.NewReader("abc"), failingReader{errDisk})}, wantErr: errDisk},
		"unknown size over the cap": {file: UploadFile{Content: strings.NewReader(strings.Repeat("x", 2000))}, max: 1000, wantErr: ErrFileTooLarge},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			var mu sync.Mutex
			complete := 0
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := r.ParseMultipartForm(1 << 20); err == nil {
					mu.Lock()
					complete++
					mu.Unlock()
				}
				w.WriteHeader(202)
				_, _ = w.Write([]byte(`{"activity_id":"x"}`))
			})
			opts := []Option{}
			if tc.max > 0 {
				opts = append(opts, WithMaxUploadBytes(tc.max))
			}
			c := newTestClient(t, handler, opts...)
			_, err := c.UploadProfiles(context.Background(), ProfileUpload{Scope: Scope{OrgID: 60}, Format: ProfileFormatJSON, File: tc.file})
			g.Expect(err).To(MatchError(tc.wantErr))
			var fileErr *FileReadError
			g.Expect(errors.As(err, &fileErr)).To(BeTrue(), "a *FileReadError, not %T", err)
			g.Expect(IsUnknownOutcome(err)).To(BeFalse())
			mu.Lock()
			defer mu.Unlock()
			g.Expect(complete).To(BeZero())
		})
	}
}

// TestUnreachableServerIsNotAFileError: when the request fails on its own (no
// server), the file's read-ahead may have failed meanwhile too (here at
// once); the error is the network's, which callers retry, not the file's.
func TestUnreachableServerIsNotAFileError(t *testing.T) {
	g := NewWithT(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	url := "http://" + ln.Addr().String()
	g.Expect(ln.Close()).To(Succeed())
	c, err := New(url, testCreds, WithRetryPolicy(RetryPolicy{MaxAttempts: 1}))
	g.Expect(err).NotTo(HaveOccurred())
	for range 20 {
		file := io.MultiReader(strings.NewReader("abc"), failingReader{errors.New("disk on fire")})
		_, err := c.UploadProfiles(context.Background(), ProfileUpload{Scope: Scope{OrgID: 60}, Format: ProfileFormatJSON, File: UploadFile{Content: file}})
		var netErr *NetworkError
		g.Expect(errors.As(err, &netErr)).To(BeTrue(), "got %T: %v", err, err)
		var fileErr *FileReadError
		g.Expect(errors.As(err, &fileErr)).To(BeFalse())
	}
}

// dropConnection hijacks the connection and closes it without an answer,
// after reading the whole request: what a server that accepted an upload and
// then lost the connection looks like.
func dropConnection(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_ = conn.Close()
}

func TestConnectionLost(t *testing.T) {
	tests := map[string]struct {
		call         func(context.Context, *Client) (any, error)
		wantRequests int
		wantUnknown  bool
	}{
		"an upload whose answer is lost has an unknown outcome and is not retried": {
			call: uploadProfiles, wantRequests: 1, wantUnknown: true,
		},
		"an audience create whose answer is lost has an unknown outcome": {
			call: createAudienceList, wantRequests: 1, wantUnknown: true,
		},
		"a status poll whose answer is lost is retried": {
			call: getProfileJob, wantRequests: 3,
		},
		"a delete whose answer is lost is retried": {
			call: deleteAudienceList, wantRequests: 3,
		},
		"a rename whose answer is lost is retried": {
			call: renameAudienceList, wantRequests: 3,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := &countingHandler{next: http.HandlerFunc(dropConnection)}
			c := newTestClient(t, h)
			_, err := tc.call(context.Background(), c)
			g.Expect(err).To(HaveOccurred())
			g.Expect(h.count()).To(Equal(tc.wantRequests))
			g.Expect(IsUnknownOutcome(err)).To(Equal(tc.wantUnknown))
			g.Expect(IsTransient(err)).To(Equal(!tc.wantUnknown))
			var netErr *NetworkError
			g.Expect(errors.As(err, &netErr)).To(BeTrue())
		})
	}
}

// TestConnectionRefusedRefundsBudget: a call that never reached the server
// is not counted against the budget, and an upload that never left is
// transient, not of unknown outcome.
func TestConnectionRefusedRefundsBudget(t *testing.T) {
	g := NewWithT(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	addr := ln.Addr().String()
	g.Expect(ln.Close()).To(Succeed())

	clock := newFakeClock()
	c, err := New("http://"+addr, testCreds, WithClock(clock), WithRetryPolicy(fastRetries),
		WithLimits(Limits{ProfileUploads: Limit{Calls: 1, Window: time.Hour}}))
	g.Expect(err).NotTo(HaveOccurred())

	_, err = uploadProfiles(context.Background(), c)
	g.Expect(err).To(HaveOccurred())
	g.Expect(IsUnknownOutcome(err)).To(BeFalse())
	g.Expect(IsTransient(err)).To(BeTrue())
	g.Expect(c.NextAllowed(BudgetProfileUploads)).To(Equal(clock.Now()))
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	g := NewWithT(t)
	h := &countingHandler{next: http.RedirectHandler("http://127.0.0.1:1/elsewhere", http.StatusFound)}
	c := newTestClient(t, h)
	_, err := c.ListAudienceLists(context.Background(), "app-1")
	g.Expect(errors.As(err, new(*APIError))).To(BeTrue())
	g.Expect(asAPIError(err).StatusCode).To(Equal(http.StatusFound))
	g.Expect(h.count()).To(Equal(1))
}

// endlessReader is a file that never ends; it notes a Read made after done
// is set, or two at once.
type endlessReader struct {
	done, reading, misuse atomic.Bool
}

func (r *endlessReader) Read(p []byte) (int, error) {
	if r.done.Load() || !r.reading.CompareAndSwap(false, true) {
		r.misuse.Store(true)
	}
	defer r.reading.Store(false)
	time.Sleep(100 * time.Microsecond) // a slow disk, so a read may be in flight
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestRefusedUploadStopsReadingTheFile: when the server answers before the
// file is sent, the upload returns only once the file is no longer read, even
// though the client reads ahead of the request, so that the caller may close
// it at once.
func TestRefusedUploadStopsReadingTheFile(t *testing.T) {
	g := NewWithT(t)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.CopyN(io.Discard, r.Body, 1<<20)
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	c := newTestClient(t, handler, WithMaxUploadBytes(1<<40))
	file := &endlessReader{}
	_, err := c.UploadProfiles(context.Background(), ProfileUpload{Scope: Scope{OrgID: 60}, Format: ProfileFormatJSON, File: UploadFile{Content: file}})
	file.done.Store(true)
	g.Expect(err).To(HaveOccurred())
	g.Expect(file.reading.Load()).To(BeFalse(), "a read is still in flight")
	g.Consistently(file.misuse.Load, 50*time.Millisecond).Should(BeFalse(), "the file was read after the upload returned, or by two goroutines at once")
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestEndpointName checks the name each call puts on its request, as a
// transport wrapped by NewHTTPClient sees it, and that other requests have
// none.
func TestEndpointName(t *testing.T) {
	srv := httptest.NewServer(respond(http.StatusTeapot, "", ""))
	t.Cleanup(srv.Close)
	var seen []string
	hc := NewHTTPClient(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			seen = append(seen, EndpointName(req))
			return next.RoundTrip(req)
		})
	})
	c, err := New(srv.URL, testCreds, WithHTTPClient(hc), WithRetryPolicy(RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	file := func() UploadFile { return UploadFile{Content: strings.NewReader(`{"customer_id":"a"}` + "\n")} }
	tests := map[string]struct {
		call func(context.Context) error
		want string
	}{
		"P1": {func(ctx context.Context) error {
			_, err := c.UploadProfiles(ctx, ProfileUpload{Scope: Scope{AppID: "app-1"}, Format: ProfileFormatJSON, File: file()})
			return err
		}, "profiles/upload"},
		"P2": {func(ctx context.Context) error { _, err := c.ProfileJobStatus(ctx, "act-1"); return err }, "profiles/status"},
		"A1": {func(ctx context.Context) error {
			_, err := c.CreateAudienceList(ctx, AudienceListCreate{AppID: "app-1", Name: "VIPs", File: file()})
			return err
		}, "audiences/create"},
		"A2": {func(ctx context.Context) error { _, err := c.AudienceJobStatus(ctx, "act-1"); return err }, "audiences/status"},
		"A3": {func(ctx context.Context) error {
			_, err := c.ReplaceAudienceList(ctx, AudienceListReplace{AppID: "app-1", AudienceListID: "31245", File: file()})
			return err
		}, "audiences/replace"},
		"A4": {func(ctx context.Context) error { return c.RenameAudienceList(ctx, "31245", "VIPs") }, "audiences/rename"},
		"A5": {func(ctx context.Context) error { return c.DeleteAudienceList(ctx, "31245") }, "audiences/delete"},
		"A6": {func(ctx context.Context) error { _, err := c.ListAudienceLists(ctx, "app-1"); return err }, "audiences/list"},
		"a request no Client made": {func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/imports/profiles/upload", nil)
			resp, err := hc.Do(req)
			if err == nil {
				_ = resp.Body.Close()
			}
			return err
		}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			seen = nil
			_ = tc.call(context.Background()) // a 418, which matters not
			g.Expect(seen).To(Equal([]string{tc.want}))
		})
	}
}

// TestStalledAnswerEndsAtTheCallTimeout: a server that sends the headers of
// its answer and then nothing more holds a call for the call timeout, not
// for ever, so that it cannot hold the operator's workers.
func TestStalledAnswerEndsAtTheCallTimeout(t *testing.T) {
	g := NewWithT(t)
	release := make(chan struct{})
	stall := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"activity`))
		w.(http.Flusher).Flush()
		<-release
	})
	c := newTestClient(t, stall, WithCallTimeout(100*time.Millisecond))
	t.Cleanup(func() { close(release) }) // before the server closes

	done := make(chan error, 1)
	go func() { _, err := getProfileJob(context.Background(), c); done <- err }()
	var err error
	g.Eventually(done).WithTimeout(time.Minute).Should(Receive(&err), "the call never ended")
	g.Expect(err).To(HaveOccurred())
	var netErr *NetworkError
	g.Expect(errors.As(err, &netErr)).To(BeTrue(), "got %v", err)
	g.Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue(), "got %v", err)
}
