package localytics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
)

func TestErrorHelpersSeeThroughWrapping(t *testing.T) {
	retryAt := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	wrap := func(err error) error { return fmt.Errorf("reconciling import: %w", fmt.Errorf("upload: %w", err)) }
	type verdicts struct{ unauthorized, forbidden, notFound, tooLarge, rateLimited, transient, unknown bool }
	tests := map[string]struct {
		err  error
		want verdicts
	}{
		"401":                 {err: &APIError{StatusCode: 401}, want: verdicts{unauthorized: true}},
		"403":                 {err: &APIError{StatusCode: 403}, want: verdicts{forbidden: true}},
		"404":                 {err: &APIError{StatusCode: 404}, want: verdicts{notFound: true}},
		"413":                 {err: &APIError{StatusCode: 413}, want: verdicts{tooLarge: true}},
		"too large locally":   {err: fmt.Errorf("x: %w", ErrFileTooLarge), want: verdicts{tooLarge: true}},
		"429":                 {err: &APIError{StatusCode: 429, RetryAt: retryAt}, want: verdicts{rateLimited: true}},
		"budget spent":        {err: &BudgetExceededError{RetryAt: retryAt}, want: verdicts{rateLimited: true}},
		"500":                 {err: &APIError{StatusCode: 500}, want: verdicts{transient: true}},
		"network":             {err: &NetworkError{Err: errors.New("reset")}, want: verdicts{transient: true}},
		"decode":              {err: &DecodeError{Err: errors.New("bad")}, want: verdicts{transient: true}},
		"unknown outcome":     {err: &UnknownOutcomeError{Err: &NetworkError{Err: errors.New("EOF")}}, want: verdicts{unknown: true}},
		"unknown after a 504": {err: &UnknownOutcomeError{Err: &APIError{StatusCode: 504}}, want: verdicts{unknown: true}},
		"400":                 {err: &APIError{StatusCode: 400}},
		"unrelated":           {err: errors.New("boom")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			for _, err := range []error{tc.err, wrap(tc.err)} {
				at, limited := IsRateLimited(err)
				got := verdicts{
					unauthorized: IsUnauthorized(err), forbidden: IsForbidden(err), notFound: IsNotFound(err),
					tooLarge: IsFileTooLarge(err), rateLimited: limited, transient: IsTransient(err), unknown: IsUnknownOutcome(err),
				}
				g.Expect(got).To(Equal(tc.want), "%v", err)
				if limited {
					g.Expect(at).To(Equal(retryAt))
				}
			}
		})
	}
	g := NewWithT(t)
	g.Expect(IsTransient(nil)).To(BeFalse())
}

func TestErrorMessagesAreStable(t *testing.T) {
	g := NewWithT(t)
	a := &BudgetExceededError{Kind: BudgetProfileUploads, Endpoint: epUploadProfiles.String(), RetryAt: time.Now()}
	b := &BudgetExceededError{Kind: BudgetProfileUploads, Endpoint: epUploadProfiles.String(), RetryAt: time.Now().Add(time.Hour)}
	g.Expect(a.Error()).To(Equal(b.Error()), "no times in messages: conditions built from them must not change while waiting")
	g.Expect(a.Error()).To(Equal("localytics: POST /v1/imports/profiles/upload: the profile-uploads budget of this API key is spent; the call was not sent"))

	c := &APIError{StatusCode: 404, Endpoint: epProfileJobStatus.String(), RetryAfter: time.Second}
	g.Expect(c.Error()).To(Equal("localytics: GET /v1/imports/profiles/status/{activity_id}: 404 Not Found"))
}

func TestExcerpt(t *testing.T) {
	creds := Credentials{Key: "k", Secret: "hunter2"}
	tests := map[string]struct {
		body string
		want string
	}{
		"empty":                {body: "", want: ""},
		"white space folded":   {body: " a\r\n\tb  c \n", want: "a b c"},
		"control characters":   {body: "a\x00b\x1bc", want: "a b c"},
		"invalid UTF-8":        {body: "a\xffb", want: "a\uFFFDb"},
		"secret redacted":      {body: "echo: hunter2", want: "echo: [redacted]"},
		"basic token redacted": {body: "Authorization: Basic " + basicAuthToken("k", "hunter2"), want: "Authorization: Basic [redacted]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(excerpt([]byte(tc.body), creds.redact)).To(Equal(tc.want))
		})
	}
	t.Run("capped at 200 bytes on a rune boundary", func(t *testing.T) {
		g := NewWithT(t)
		got := excerpt([]byte(strings.Repeat("é", 500)), creds.redact)
		g.Expect(len(got)).To(BeNumerically("<=", maxBodyExcerpt))
		g.Expect(utf8.ValidString(got)).To(BeTrue())
		g.Expect(got).To(HaveSuffix("..."))
	})
}

// TestSecretNeverLeaks formats every kind of error the client makes, the
// credentials and the client with every verb, and every log line at every
// verbosity, and looks for the secret and the Basic auth token that encodes
// it.
func TestSecretNeverLeaks(t *testing.T) {
	g := NewWithT(t)
	token := basicAuthToken(testKey, testSecret)
	var logs bytes.Buffer
	logger := funcr.New(func(prefix, args string) { logs.WriteString(prefix + " " + args + "\n") }, funcr.Options{Verbosity: 10})
	ctx := logr.NewContext(context.Background(), logger)

	// A server that echoes the request headers back in every error body.
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusUnauthorized
		switch r.URL.Query().Get("name") {
		case "500":
			status = 500
		case "429":
			status = 429
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "bad credentials %s %v", r.Header.Get("Authorization"), r.Header)
	})
	echoClient := newTestClient(t, echo, WithLogger(logger))
	decodeEcho := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "not json: %s", r.Header.Get("Authorization"))
	}))
	lostUpload := newTestClient(t, http.HandlerFunc(dropConnection))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	dead := "http://" + ln.Addr().String()
	g.Expect(ln.Close()).To(Succeed())
	deadClient, err := New(dead, testCreds, WithRetryPolicy(fastRetries))
	g.Expect(err).NotTo(HaveOccurred())

	var errs []error
	collect := func(_ any, err error) { errs = append(errs, err) }
	collect(echoClient.ListAudienceLists(ctx, "app-1"))
	collect(nil, echoClient.RenameAudienceList(ctx, "1", "500"))
	collect(nil, echoClient.RenameAudienceList(ctx, "1", "429"))
	collect(uploadProfiles(ctx, echoClient))
	collect(decodeEcho.ProfileJobStatus(ctx, "a"))
	collect(decodeEcho.UploadProfiles(ctx, ProfileUpload{Scope: Scope{OrgID: 1}, Format: ProfileFormatJSON, File: UploadFile{Content: strings.NewReader("{}")}}))
	collect(uploadProfiles(ctx, lostUpload))
	collect(deadClient.ProfileJobStatus(ctx, "a"))
	collect(uploadProfiles(ctx, deadClient))
	collect(New("https://"+testKey+":"+testSecret+"@api.localytics.com", testCreds))
	collect(New("https://"+testKey+":"+testSecret+"@bad host/", testCreds))
	collect(New("ftp://"+testKey+":"+testSecret+"@api.localytics.com", testCreds))

	printed := map[string]string{} // what was printed, by how
	for i, err := range errs {
		g.Expect(err).To(HaveOccurred())
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			printed[fmt.Sprintf("error %d with %s", i, verb)] = fmt.Sprintf(verb, err)
		}
	}
	for i, v := range []any{testCreds, &testCreds, echoClient, *echoClient, struct{ C Credentials }{testCreds}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
			printed[fmt.Sprintf("value %d (%T) with %s", i, v, verb)] = fmt.Sprintf(verb, v)
		}
	}
	g.Expect(logs.Len()).To(BeNumerically(">", 0), "the logs were captured")
	printed["logs"] = logs.String()
	var all strings.Builder
	for what, text := range printed {
		g.Expect(text).NotTo(ContainSubstring(testSecret), "%s", what)
		g.Expect(text).NotTo(ContainSubstring(token), "%s", what)
		g.Expect(strings.ToLower(text)).NotTo(ContainSubstring(fmt.Sprintf("%x", testSecret)), "%s", what)
		all.WriteString(text)
	}
	g.Expect(all.String()).To(ContainSubstring(testKey), "the key identifies the account and is shown")
	g.Expect(all.String()).To(ContainSubstring("[redacted]"))
}
