package main

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

func TestParseAccount(t *testing.T) {
	cases := map[string]struct {
		in      string
		want    sim.Account
		wantErr string
	}{
		"orgs and apps": {
			in:   "k:s:org=60,org=61,app=abc-1",
			want: sim.Account{Key: "k", Secret: "s", OrgIDs: []int64{60, 61}, AppIDs: []string{"abc-1"}},
		},
		"every app":       {in: "k:s:app=*", want: sim.Account{Key: "k", Secret: "s", AppIDs: []string{"*"}}},
		"no scopes":       {in: "k:s", want: sim.Account{Key: "k", Secret: "s"}},
		"no secret":       {in: "k", wantErr: "KEY:SECRET"},
		"empty key":       {in: ":s:org=1", wantErr: "KEY:SECRET"},
		"org not numeric": {in: "k:s:org=abc", wantErr: "positive integer"},
		"unknown scope":   {in: "k:s:team=1", wantErr: "org=ID or app=ID"},
		"empty app":       {in: "k:s:app=", wantErr: "org=ID or app=ID"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := parseAccount(tc.in)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestParseFlags(t *testing.T) {
	cases := map[string]struct {
		args    []string
		check   func(g Gomega, o options)
		wantErr string
	}{
		"defaults are the vendor's, with a demo account": {
			check: func(g Gomega, o options) {
				g.Expect(o.limits).To(Equal(sim.DefaultLimits()))
				g.Expect(o.retryAfter).To(BeTrue())
				g.Expect(o.accounts).To(Equal([]sim.Account{{Key: "demo", Secret: "demo-secret", OrgIDs: []int64{60}, AppIDs: []string{"*"}}}))
			},
		},
		"every switch": {
			args: []string{
				"--addr", "127.0.0.1:0", "--account", "a:b:org=1", "--account", "c:d:app=x",
				"--profile-uploads", "3", "--profile-upload-window", "10s", "--profile-status", "5", "--profile-status-window", "2s",
				"--audience-calls", "7", "--audience-call-window", "3s", "--audience-lists-per-app", "4", "--max-upload-bytes", "1000",
				"--retry-after=false", "--discard-uploads", "--pending", "1s", "--running", "2s", "--public-url", "http://sim:8787",
				"--server-error-rate", "0.1", "--delay", "5ms", "--drop-after-accept", "1", "--malformed-json", "2",
				"--throttle", "3", "--fail-jobs", "4", "--variants", "scopet,numeric-ids,lower-case-status", "--log-format", "json",
			},
			check: func(g Gomega, o options) {
				g.Expect(o.accounts).To(HaveLen(2))
				g.Expect(o.limits).To(Equal(sim.Limits{
					ProfileUploads: 3, ProfileUploadWindow: 10 * time.Second, ProfileStatus: 5, ProfileStatusWindow: 2 * time.Second,
					AudienceCalls: 7, AudienceCallWindow: 3 * time.Second, AudienceListsPerApp: 4, MaxUploadBytes: 1000,
				}))
				g.Expect(o.retryAfter).To(BeFalse())
				g.Expect(o.discard).To(BeTrue())
				g.Expect(o.faults).To(Equal(sim.Faults{ServerErrorRate: 0.1, Delay: 5 * time.Millisecond, DropAfterAccept: 1, MalformedJSON: 2, Throttle: 3, FailJobs: 4}))
				g.Expect(o.variants).To(Equal(sim.Variants{Scopet: true, NumericIDs: true, LowerCaseStatus: true}))
				cfg := o.config(nil)
				g.Expect(cfg.PendingFor).To(Equal(time.Second))
				g.Expect(cfg.RunningFor).To(Equal(2 * time.Second))
				g.Expect(cfg.PublicURL).To(Equal("http://sim:8787"))
			},
		},
		"bad account":     {args: []string{"--account", "nope"}, wantErr: "KEY:SECRET"},
		"bad variant":     {args: []string{"--variants", "sideways"}, wantErr: "unknown variant"},
		"bad rate":        {args: []string{"--server-error-rate", "3"}, wantErr: "between 0 and 1"},
		"bad log format":  {args: []string{"--log-format", "xml"}, wantErr: "text or json"},
		"stray arguments": {args: []string{"serve"}, wantErr: "unexpected arguments"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			o, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			tc.check(g, o)
		})
	}
}

// lockedBuffer collects output written by the server goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunServesTheVendorAPI(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--pending", "0s", "--running", "0s", "--profile-uploads", "1"}, &stdout, &stderr)
	}()
	addr := regexp.MustCompile(`listening on (http://\S+)`)
	g.Eventually(stdout.String).Should(MatchRegexp(addr.String()))
	base := addr.FindStringSubmatch(stdout.String())[1]

	upload := func() *http.Response {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("org_id", "60")
		_ = mw.WriteField("format", "json")
		fw, _ := mw.CreateFormFile("file", "test_file.json")
		_, _ = io.WriteString(fw, `{"customer_id":"abc","changes":[{"op":"assign","attr":"example1","value":"value1"}]}`)
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/imports/profiles/upload", &body)
		req.SetBasicAuth("demo", "demo-secret")
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		return resp
	}
	resp := upload()
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusAccepted))
	resp = upload()
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
	g.Expect(resp.Header.Get("Retry-After")).To(Equal("3600"))

	g.Eventually(stderr.String).Should(ContainSubstring("status=429"))
	g.Expect(stderr.String()).NotTo(ContainSubstring("demo-secret"))

	cancel()
	g.Eventually(done).Should(Receive(BeNil()))
	g.Expect(strings.Count(stdout.String(), "account demo")).To(Equal(1))
}
