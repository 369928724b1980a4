package localytics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// The contract tests run the client against the simulator, which implements
// docs/localytics-api.md, over real HTTP: every endpoint, every tolerated variant the
// simulator can produce, and every error path.

const (
	orgID     = 60
	appID     = "app-1"
	otherOrg  = 61
	otherApp  = "app-2"
	apiKey    = "org-key-7d2e3219"
	apiSecret = "org-secret-19c2aac0"
)

var account = sim.Account{Key: apiKey, Secret: apiSecret, OrgIDs: []int64{orgID}, AppIDs: []string{appID}}

// roomyLimits keep budgets out of the way of the cases that do not test them.
var roomyLimits = sim.Limits{
	ProfileUploads: 100, ProfileUploadWindow: time.Hour,
	ProfileStatus: 1000, ProfileStatusWindow: time.Minute,
	AudienceCalls: 1000, AudienceCallWindow: time.Minute,
	AudienceListsPerApp: 500, MaxUploadBytes: 1 << 20,
}

// clientLimits are the client's view of the simulator's limits.
func clientLimits(l sim.Limits) localytics.Limits {
	return localytics.Limits{
		ProfileUploads: localytics.Limit{Calls: l.ProfileUploads, Window: l.ProfileUploadWindow},
		ProfileStatus:  localytics.Limit{Calls: l.ProfileStatus, Window: l.ProfileStatusWindow},
		AudienceCalls:  localytics.Limit{Calls: l.AudienceCalls, Window: l.AudienceCallWindow},
	}
}

var quickRetries = localytics.RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxWait: 3 * time.Second}

// env is one simulator behind a real HTTP server, and a client of it that
// shares the simulator's fake clock.
type env struct {
	sim    *sim.Server
	url    string
	clock  *sim.FakeClock
	client *localytics.Client
}

type envOptions struct {
	config  func(*sim.Config)
	front   func(http.Handler) http.Handler // wraps the simulator, e.g. to fail requests
	options []localytics.Option
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	clock := sim.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	cfg := sim.Config{
		Accounts: []sim.Account{account, {Key: "other-key", Secret: "other-secret", OrgIDs: []int64{otherOrg}, AppIDs: []string{otherApp}}},
		Limits:   roomyLimits,
		Clock:    clock,
		SpoolDir: t.TempDir(),
	}
	if o.config != nil {
		o.config(&cfg)
	}
	s := sim.New(cfg)
	t.Cleanup(s.Close)
	var h http.Handler = s
	if o.front != nil {
		h = o.front(s)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts := append([]localytics.Option{
		localytics.WithClock(clock),
		localytics.WithLimits(clientLimits(cfg.Limits)),
		localytics.WithRetryPolicy(quickRetries),
	}, o.options...)
	c, err := localytics.New(srv.URL, localytics.Credentials{Key: apiKey, Secret: apiSecret}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{sim: s, url: srv.URL, clock: clock, client: c}
}

// clientAs is a client of the same simulator with other credentials.
func (e *env) clientAs(t *testing.T, key, secret string) *localytics.Client {
	t.Helper()
	c, err := localytics.New(e.url, localytics.Credentials{Key: key, Secret: secret},
		localytics.WithClock(e.clock), localytics.WithRetryPolicy(quickRetries))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func file(s string) localytics.UploadFile {
	return localytics.UploadFile{Content: strings.NewReader(s), Size: int64(len(s))}
}

const profileFile = `{"customer_id":"alice","changes":[{"op":"assign","attr":"plan","value":"gold"},{"op":"increment","attr":"visits","value":2}]}
{"customer_id":"bob","changes":[{"op":"set-add","attr":"tags","value":["a","b"]}]}
{"customer_id":"carol","changes":[{"op":"explode","attr":"x"}]}
`

const audienceFile = `{"customer_id":"alice"}
{"customer_id":"bob"}
`

func (e *env) uploadProfiles(ctx context.Context) (string, error) {
	return e.client.UploadProfiles(ctx, localytics.ProfileUpload{
		Scope: localytics.Scope{OrgID: orgID}, Format: localytics.ProfileFormatJSON, File: file(profileFile),
	})
}

func (e *env) createList(ctx context.Context, name string) (string, error) {
	return e.client.CreateAudienceList(ctx, localytics.AudienceListCreate{AppID: appID, Name: name, File: file(audienceFile)})
}

// createdList creates a list and polls its job to the end.
func (e *env) createdList(ctx context.Context, g Gomega, name string) localytics.AudienceJob {
	id, err := e.createList(ctx, name)
	g.Expect(err).NotTo(HaveOccurred())
	job, err := e.client.AudienceJobStatus(ctx, id)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(job.Status).To(Equal(localytics.JobCompleted))
	return job
}

// TestContractHappyPaths drives every endpoint through its normal use, with
// the simulator's documented shapes and with every tolerated variant on.
func TestContractHappyPaths(t *testing.T) {
	allVariants := sim.Variants{Scopet: true, NumericIDs: true, LowerCaseStatus: true, SwapNumberTypes: true, CreateOK: true, DeleteNoContent: true}
	variants := map[string]sim.Variants{
		"documented shapes":       {},
		"every tolerated variant": allVariants,
	}
	for variantName, variant := range variants {
		t.Run(variantName, func(t *testing.T) {
			tests := map[string]func(context.Context, Gomega, *env){
				"P1 then P2 through Pending, Running and Completed": func(ctx context.Context, g Gomega, e *env) {
					id, err := e.uploadProfiles(ctx)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(id).NotTo(BeEmpty())

					job, err := e.client.ProfileJobStatus(ctx, id)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(job.Status).To(Equal(localytics.JobPending))
					g.Expect(job.Status.Terminal()).To(BeFalse())

					e.clock.Advance(10 * time.Second)
					job, err = e.client.ProfileJobStatus(ctx, id)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(job.Status).To(Equal(localytics.JobRunning))

					e.clock.Advance(10 * time.Second)
					job, err = e.client.ProfileJobStatus(ctx, id)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(job.Status).To(Equal(localytics.JobCompleted))
					g.Expect(job.Target).To(Equal(localytics.Scope{OrgID: orgID}))
					g.Expect(job.Stats).To(Equal(localytics.ProfileStats{Successful: 2, Parsed: 2, Failed: 1, Total: 3}))
					g.Expect(job.ErrorLogURL).To(HavePrefix(e.url))

					profiles := e.sim.Profiles(sim.Scope{OrgID: orgID})
					g.Expect(profiles).To(HaveKeyWithValue("alice", HaveKeyWithValue("plan", "gold")))
					g.Expect(profiles).To(HaveKeyWithValue("alice", HaveKeyWithValue("visits", BeEquivalentTo(2))))
				},
				"P1 csv into an app": func(ctx context.Context, g Gomega, e *env) {
					id, err := e.client.UploadProfiles(ctx, localytics.ProfileUpload{
						Scope: localytics.Scope{AppID: appID}, Format: localytics.ProfileFormatCSV,
						File: localytics.UploadFile{Content: strings.NewReader("customer_id,plan\ndave,silver\n")}, // size unknown: chunked
					})
					g.Expect(err).NotTo(HaveOccurred())
					e.clock.Advance(time.Minute)
					job, err := e.client.ProfileJobStatus(ctx, id)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(job.Status).To(Equal(localytics.JobCompleted))
					g.Expect(job.Target).To(Equal(localytics.Scope{AppID: appID}))
					g.Expect(job.Stats.Successful).To(BeEquivalentTo(1))
					g.Expect(e.sim.Profiles(sim.Scope{AppID: appID})).To(HaveKeyWithValue("dave", HaveKeyWithValue("plan", "silver")))
				},
				"A1 to A6: create, poll, list, rename, replace, delete": func(ctx context.Context, g Gomega, e *env) {
					id, err := e.createList(ctx, "vips")
					g.Expect(err).NotTo(HaveOccurred())
					job, err := e.client.AudienceJobStatus(ctx, id)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(job.Status).To(Equal(localytics.JobPending))
					e.clock.Advance(time.Minute)
					job, err = e.client.AudienceJobStatus(ctx, id)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(job.Status).To(Equal(localytics.JobCompleted))
					g.Expect(job.AppID).To(Equal(appID))
					g.Expect(job.CreatedAt).To(Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
					g.Expect(job.Stats.TotalLines).To(BeEquivalentTo(2))
					g.Expect(job.Stats.SuccessfulLines).To(BeEquivalentTo(2))
					listID := job.Stats.AudienceListID
					g.Expect(listID).NotTo(BeEmpty())
					g.Expect(job.Stats.AudienceID).NotTo(BeEmpty())

					lists, err := e.client.ListAudienceLists(ctx, appID)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(lists).To(HaveLen(1))
					g.Expect(lists[0]).To(MatchFields(listID, "vips", 1, 2))

					g.Expect(e.client.RenameAudienceList(ctx, listID, "very important people")).To(Succeed())

					e.clock.Advance(time.Second)
					replaceID, err := e.client.ReplaceAudienceList(ctx, localytics.AudienceListReplace{
						AppID: appID, AudienceListID: listID, File: file(`{"customer_id":"zed"}` + "\n"),
					})
					g.Expect(err).NotTo(HaveOccurred())
					e.clock.Advance(time.Minute)
					job, err = e.client.AudienceJobStatus(ctx, replaceID)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(job.Status).To(Equal(localytics.JobCompleted))
					g.Expect(job.Stats.AudienceListID).To(Equal(listID))

					lists, err = e.client.ListAudienceLists(ctx, appID)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(lists).To(HaveLen(1))
					g.Expect(lists[0]).To(MatchFields(listID, "very important people", 2, 1))
					g.Expect(lists[0].UpdatedAt.After(lists[0].CreatedAt)).To(BeTrue())

					g.Expect(e.client.DeleteAudienceList(ctx, listID)).To(Succeed())
					lists, err = e.client.ListAudienceLists(ctx, appID)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(lists).To(BeEmpty())
					err = e.client.DeleteAudienceList(ctx, listID)
					g.Expect(localytics.IsNotFound(err)).To(BeTrue(), "%v", err)
				},
				"a failed job reports Failed": func(ctx context.Context, g Gomega, e *env) {
					e.sim.SetFaults(sim.Faults{FailJobs: 1})
					id, err := e.createList(ctx, "doomed")
					g.Expect(err).NotTo(HaveOccurred())
					e.clock.Advance(time.Minute)
					job, err := e.client.AudienceJobStatus(ctx, id)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(job.Status).To(Equal(localytics.JobFailed))
					g.Expect(job.ErrorReason).NotTo(BeEmpty())
				},
			}
			for name, run := range tests {
				t.Run(name, func(t *testing.T) {
					e := newEnv(t, envOptions{config: func(c *sim.Config) {
						c.Variants = variant
						c.PendingFor, c.RunningFor = 10*time.Second, 10*time.Second
					}})
					run(context.Background(), NewWithT(t), e)
					NewWithT(t).Expect(e.sim.Throttled()).To(BeEmpty(), "no 429 in normal operation")
				})
			}
		})
	}
}

// MatchFields matches an AudienceList's id, name, version and record count.
func MatchFields(id, name string, version, records int64) OmegaMatcher {
	return And(
		WithTransform(func(l localytics.AudienceList) string { return l.ID }, Equal(id)),
		WithTransform(func(l localytics.AudienceList) string { return l.Name }, Equal(name)),
		WithTransform(func(l localytics.AudienceList) string { return l.AppID }, Equal(appID)),
		WithTransform(func(l localytics.AudienceList) int64 { return l.Version }, Equal(version)),
		WithTransform(func(l localytics.AudienceList) int64 { return l.RecordCount }, Equal(records)),
	)
}

// failFirst answers the first n requests with 503, as a failing gateway in
// front of the service would, and counts what reached the service.
type failFirst struct {
	mu                  sync.Mutex
	n, served, failures int
	next                http.Handler
}

func (f *failFirst) failed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failures
}

func (f *failFirst) passed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served
}

func (f *failFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	fail := f.n > 0
	if fail {
		f.n--
		f.failures++
	} else {
		f.served++
	}
	f.mu.Unlock()
	if fail {
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		return
	}
	f.next.ServeHTTP(w, r)
}

type testCase struct {
	opts envOptions
	run  func(context.Context, Gomega, *env)
}

// TestContractErrors drives every error path of docs/localytics-api.md through the
// simulator and checks the client's classification of it.
func TestContractErrors(t *testing.T) {
	tests := map[string]testCase{
		"401 on every endpoint, and no budget spent": {
			run: func(ctx context.Context, g Gomega, e *env) {
				bad := e.clientAs(t, apiKey, "wrong-secret")
				for name, err := range everyCall(ctx, bad) {
					g.Expect(localytics.IsUnauthorized(err)).To(BeTrue(), "%s: %v", name, err)
					g.Expect(localytics.IsTransient(err)).To(BeFalse(), name)
				}
				for _, u := range e.sim.Budgets(apiKey) {
					g.Expect(u.Used).To(BeZero(), "%s", u.Budget)
				}
				g.Expect(e.sim.Uploads()).To(BeEmpty())
			},
		},
		"403 for an org or app of another account": {
			run: func(ctx context.Context, g Gomega, e *env) {
				_, err := e.client.UploadProfiles(ctx, localytics.ProfileUpload{Scope: localytics.Scope{OrgID: otherOrg}, Format: localytics.ProfileFormatJSON, File: file(profileFile)})
				g.Expect(localytics.IsForbidden(err)).To(BeTrue(), "P1: %v", err)
				_, err = e.client.CreateAudienceList(ctx, localytics.AudienceListCreate{AppID: otherApp, Name: "x", File: file(audienceFile)})
				g.Expect(localytics.IsForbidden(err)).To(BeTrue(), "A1: %v", err)
				_, err = e.client.ListAudienceLists(ctx, otherApp)
				g.Expect(localytics.IsForbidden(err)).To(BeTrue(), "A6: %v", err)

				// Another account's job and list.
				other := e.clientAs(t, "other-key", "other-secret")
				id, err := other.CreateAudienceList(ctx, localytics.AudienceListCreate{AppID: otherApp, Name: "theirs", File: file(audienceFile)})
				g.Expect(err).NotTo(HaveOccurred())
				_, err = e.client.AudienceJobStatus(ctx, id)
				g.Expect(localytics.IsForbidden(err)).To(BeTrue(), "A2: %v", err)
				job, err := other.AudienceJobStatus(ctx, id)
				g.Expect(err).NotTo(HaveOccurred())
				err = e.client.DeleteAudienceList(ctx, job.Stats.AudienceListID)
				g.Expect(localytics.IsForbidden(err)).To(BeTrue(), "A5: %v", err)
				g.Expect(localytics.IsNotFound(err)).To(BeFalse(), "a list of another app must not look gone")
				g.Expect(e.sim.Uploads()).To(HaveLen(1), "only the other account's create")
			},
		},
		"404 for unknown activities and lists": {
			run: func(ctx context.Context, g Gomega, e *env) {
				_, err := e.client.ProfileJobStatus(ctx, "00000000-0000-0000-0000-000000000000")
				g.Expect(localytics.IsNotFound(err)).To(BeTrue(), "P2: %v", err)
				_, err = e.client.AudienceJobStatus(ctx, "nope")
				g.Expect(localytics.IsNotFound(err)).To(BeTrue(), "A2: %v", err)
				_, err = e.client.ReplaceAudienceList(ctx, localytics.AudienceListReplace{AppID: appID, AudienceListID: "999999", File: file(audienceFile)})
				g.Expect(localytics.IsNotFound(err)).To(BeTrue(), "A3: %v", err)
				err = e.client.RenameAudienceList(ctx, "999999", "x")
				g.Expect(localytics.IsNotFound(err)).To(BeTrue(), "A4: %v", err)
				err = e.client.DeleteAudienceList(ctx, "999999")
				g.Expect(localytics.IsNotFound(err)).To(BeTrue(), "A5: %v", err)
				g.Expect(localytics.IsTransient(err)).To(BeFalse())
			},
		},
		"413 for a file over the server's cap, sized or streamed": {
			opts: envOptions{config: func(c *sim.Config) { c.Limits.MaxUploadBytes = 1000 }},
			run: func(ctx context.Context, g Gomega, e *env) {
				big := strings.Repeat(`{"customer_id":"x","changes":[]}`+"\n", 100)
				for name, f := range map[string]localytics.UploadFile{
					"sized":    file(big),
					"streamed": {Content: strings.NewReader(big)},
				} {
					_, err := e.client.UploadProfiles(ctx, localytics.ProfileUpload{Scope: localytics.Scope{OrgID: orgID}, Format: localytics.ProfileFormatJSON, File: f})
					g.Expect(localytics.IsFileTooLarge(err)).To(BeTrue(), "%s: %v", name, err)
					g.Expect(localytics.IsUnknownOutcome(err)).To(BeFalse())
					g.Expect(localytics.IsTransient(err)).To(BeFalse())
				}
				g.Expect(e.sim.Uploads()).To(BeEmpty())
			},
		},
		"400 with the server's message for the 501st list": {
			opts: envOptions{config: func(c *sim.Config) { c.Limits.AudienceListsPerApp = 1 }},
			run: func(ctx context.Context, g Gomega, e *env) {
				e.createdList(ctx, g, "first")
				_, err := e.createList(ctx, "second")
				var apiErr *localytics.APIError
				g.Expect(errors.As(err, &apiErr)).To(BeTrue(), "%v", err)
				g.Expect(apiErr.StatusCode).To(Equal(http.StatusBadRequest))
				g.Expect(apiErr.Body).To(ContainSubstring("limit"))
			},
		},
		"429 with Retry-After: the time is honoured, and a short wait is retried": {
			opts: envOptions{config: func(c *sim.Config) { c.RetryAfter = true }},
			run: func(ctx context.Context, g Gomega, e *env) {
				// A client without retries, and with budgets of its own.
				once, err := localytics.New(e.url, localytics.Credentials{Key: apiKey, Secret: apiSecret},
					localytics.WithClock(e.clock), localytics.WithRetryPolicy(localytics.RetryPolicy{MaxAttempts: 1}))
				g.Expect(err).NotTo(HaveOccurred())
				e.sim.SetFaults(sim.Faults{Throttle: 1})
				_, err = once.ListAudienceLists(ctx, appID)
				retryAt, limited := localytics.IsRateLimited(err)
				g.Expect(limited).To(BeTrue(), "%v", err)
				g.Expect(retryAt).To(Equal(e.clock.Now().Add(time.Second)))
				var apiErr *localytics.APIError
				g.Expect(errors.As(err, &apiErr)).To(BeTrue())
				g.Expect(apiErr.RetryAfter).To(Equal(time.Second))
				g.Expect(once.NextAllowed(localytics.BudgetAudienceCalls)).To(Equal(retryAt))

				// With retries, the client sleeps through a 1 s Retry-After. The
				// fake clock does not move by itself, so move it as a real one would.
				e.sim.SetFaults(sim.Faults{Throttle: 1})
				stop := tick(e.clock)
				defer stop()
				_, err = e.client.ListAudienceLists(ctx, appID)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(e.sim.Throttled()).To(HaveLen(2))
			},
		},
		"429 without Retry-After: the client's own window decides, and nothing more is sent": {
			opts: envOptions{config: func(c *sim.Config) { c.RetryAfter = false }},
			run: func(ctx context.Context, g Gomega, e *env) {
				_, err := e.client.ListAudienceLists(ctx, appID)
				g.Expect(err).NotTo(HaveOccurred())
				firstCall := e.clock.Now()
				e.clock.Advance(10 * time.Second)

				e.sim.SetFaults(sim.Faults{Throttle: 1})
				_, err = e.client.ListAudienceLists(ctx, appID)
				retryAt, limited := localytics.IsRateLimited(err)
				g.Expect(limited).To(BeTrue(), "%v", err)
				g.Expect(retryAt).To(Equal(firstCall.Add(roomyLimits.AudienceCallWindow)), "when the oldest known call leaves the window")

				_, err = e.client.AudienceJobStatus(ctx, "any")
				g.Expect(err).To(BeAssignableToTypeOf(&localytics.BudgetExceededError{}))
				g.Expect(e.sim.Throttled()).To(HaveLen(1), "refused by the client, not sent")

				e.clock.Set(retryAt)
				_, err = e.client.ListAudienceLists(ctx, appID)
				g.Expect(err).NotTo(HaveOccurred())
			},
		},
		"budgets: the client stops at the limit instead of collecting 429s": {
			opts: envOptions{config: func(c *sim.Config) { c.Limits.ProfileUploads, c.Limits.ProfileUploadWindow = 2, time.Hour }},
			run: func(ctx context.Context, g Gomega, e *env) {
				start := e.clock.Now()
				for range 2 {
					_, err := e.uploadProfiles(ctx)
					g.Expect(err).NotTo(HaveOccurred())
					e.clock.Advance(time.Minute)
				}
				g.Expect(e.client.NextAllowed(localytics.BudgetProfileUploads)).To(Equal(start.Add(time.Hour)))
				_, err := e.uploadProfiles(ctx)
				retryAt, limited := localytics.IsRateLimited(err)
				g.Expect(limited).To(BeTrue())
				g.Expect(retryAt).To(Equal(start.Add(time.Hour)))
				g.Expect(e.sim.Throttled()).To(BeEmpty())

				e.clock.Set(retryAt)
				_, err = e.uploadProfiles(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(e.sim.Uploads()).To(HaveLen(3))
			},
		},
		"budgets: a server with less budget than the client thinks teaches it": {
			opts: envOptions{
				config:  func(c *sim.Config) { c.Limits.ProfileUploads, c.Limits.ProfileUploadWindow = 1, time.Hour },
				options: []localytics.Option{localytics.WithLimits(localytics.Limits{ProfileUploads: localytics.Limit{Calls: 10, Window: time.Hour}})},
			},
			run: func(ctx context.Context, g Gomega, e *env) {
				first := e.clock.Now()
				_, err := e.uploadProfiles(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				e.clock.Advance(time.Minute)
				_, err = e.uploadProfiles(ctx)
				retryAt, limited := localytics.IsRateLimited(err)
				g.Expect(limited).To(BeTrue(), "%v", err)
				g.Expect(retryAt).To(Equal(first.Add(time.Hour)))
				g.Expect(e.sim.Throttled()).To(HaveLen(1))
				_, err = e.uploadProfiles(ctx)
				g.Expect(err).To(BeAssignableToTypeOf(&localytics.BudgetExceededError{}))
				g.Expect(e.sim.Throttled()).To(HaveLen(1), "the second refusal was the client's")
			},
		},
		"5xx is retried until it succeeds": func() testCase {
			gateway := &failFirst{n: 2}
			return testCase{
				opts: envOptions{front: func(h http.Handler) http.Handler { gateway.next = h; return gateway }},
				run: func(ctx context.Context, g Gomega, e *env) {
					lists, err := e.client.ListAudienceLists(ctx, appID)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(lists).To(BeEmpty())
					g.Expect(gateway.failed()).To(Equal(2))
					g.Expect(gateway.passed()).To(Equal(1))
				},
			}
		}(),
		"the simulator's random 5xx are absorbed by retries on reads": {
			opts: envOptions{options: []localytics.Option{localytics.WithRetryPolicy(localytics.RetryPolicy{MaxAttempts: 20, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond})}},
			run: func(ctx context.Context, g Gomega, e *env) {
				id, err := e.uploadProfiles(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				e.sim.SetFaults(sim.Faults{ServerErrorRate: 0.5})
				for range 20 {
					_, err := e.client.ProfileJobStatus(ctx, id)
					g.Expect(err).NotTo(HaveOccurred())
				}
			},
		},
		"5xx on an upload is transient and not resent": func() testCase {
			gateway := &failFirst{n: 1}
			return testCase{
				opts: envOptions{front: func(h http.Handler) http.Handler { gateway.next = h; return gateway }},
				run: func(ctx context.Context, g Gomega, e *env) {
					_, err := e.uploadProfiles(ctx)
					g.Expect(localytics.IsTransient(err)).To(BeTrue(), "%v", err)
					g.Expect(localytics.IsUnknownOutcome(err)).To(BeFalse())
					g.Expect(gateway.failed() + gateway.passed()).To(Equal(1))
					g.Expect(e.sim.Uploads()).To(BeEmpty())
				},
			}
		}(),
		"refusals before a large file was read are still their status": {
			opts: envOptions{config: func(c *sim.Config) { c.Limits.MaxUploadBytes = 4 << 20 }},
			run: func(ctx context.Context, g Gomega, e *env) {
				const size = 16 << 20
				big := func() localytics.UploadFile {
					return localytics.UploadFile{Content: io.LimitReader(repeatReader(`{"customer_id":"x","changes":[]}`+"\n"), size), Size: size}
				}
				_, err := e.client.UploadProfiles(ctx, localytics.ProfileUpload{Scope: localytics.Scope{OrgID: orgID}, Format: localytics.ProfileFormatJSON, File: big()})
				g.Expect(localytics.IsFileTooLarge(err)).To(BeTrue(), "413 from the declared length: %v", err)
				_, err = e.client.UploadProfiles(ctx, localytics.ProfileUpload{Scope: localytics.Scope{OrgID: otherOrg}, Format: localytics.ProfileFormatJSON,
					File: localytics.UploadFile{Content: io.LimitReader(repeatReader("x\n"), 3<<20)}})
				g.Expect(localytics.IsForbidden(err)).To(BeTrue(), "403 from the fields: %v", err)
				bad := e.clientAs(t, apiKey, "wrong")
				_, err = bad.CreateAudienceList(ctx, localytics.AudienceListCreate{AppID: appID, Name: "n",
					File: localytics.UploadFile{Content: io.LimitReader(repeatReader("x\n"), 3<<20)}})
				g.Expect(localytics.IsUnauthorized(err)).To(BeTrue(), "401 before the body: %v", err)
				g.Expect(e.sim.Uploads()).To(BeEmpty())
			},
		},
		"a dropped connection after an accepted upload is an unknown outcome": {
			run: func(ctx context.Context, g Gomega, e *env) {
				e.sim.SetFaults(sim.Faults{DropAfterAccept: 2})
				_, err := e.uploadProfiles(ctx)
				g.Expect(localytics.IsUnknownOutcome(err)).To(BeTrue(), "P1: %v", err)
				g.Expect(localytics.IsTransient(err)).To(BeFalse(), "must not be retried blindly")
				_, err = e.createList(ctx, "maybe")
				g.Expect(localytics.IsUnknownOutcome(err)).To(BeTrue(), "A1: %v", err)

				uploads := e.sim.Uploads()
				g.Expect(uploads).To(HaveLen(2), "each sent once, never resent")
				for _, u := range uploads {
					g.Expect(u.Dropped).To(BeTrue())
				}
			},
		},
		"malformed JSON: a read is retried, an accepted upload is an unknown outcome": {
			run: func(ctx context.Context, g Gomega, e *env) {
				e.sim.SetFaults(sim.Faults{MalformedJSON: 1})
				_, err := e.uploadProfiles(ctx)
				g.Expect(localytics.IsUnknownOutcome(err)).To(BeTrue(), "%v", err)
				g.Expect(e.sim.Uploads()).To(HaveLen(1))

				e.sim.SetFaults(sim.Faults{MalformedJSON: 1})
				_, err = e.client.ProfileJobStatus(ctx, e.sim.Uploads()[0].ActivityID)
				g.Expect(err).NotTo(HaveOccurred())
			},
		},
		"a slow server and a caller's deadline": {
			run: func(ctx context.Context, g Gomega, e *env) {
				e.sim.SetFaults(sim.Faults{Delay: 2 * time.Second})
				ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
				_, err := e.client.ListAudienceLists(ctx, appID)
				g.Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue(), "%v", err)
				g.Expect(localytics.IsTransient(err)).To(BeTrue())
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			tc.run(context.Background(), NewWithT(t), e)
		})
	}
}

// everyCall makes each of the eight calls once and returns their errors.
func everyCall(ctx context.Context, c *localytics.Client) map[string]error {
	errs := map[string]error{}
	_, errs["P1"] = c.UploadProfiles(ctx, localytics.ProfileUpload{Scope: localytics.Scope{OrgID: orgID}, Format: localytics.ProfileFormatJSON, File: file(profileFile)})
	_, errs["P2"] = c.ProfileJobStatus(ctx, "x")
	_, errs["A1"] = c.CreateAudienceList(ctx, localytics.AudienceListCreate{AppID: appID, Name: "n", File: file(audienceFile)})
	_, errs["A2"] = c.AudienceJobStatus(ctx, "x")
	_, errs["A3"] = c.ReplaceAudienceList(ctx, localytics.AudienceListReplace{AppID: appID, AudienceListID: "31245", File: file(audienceFile)})
	errs["A4"] = c.RenameAudienceList(ctx, "31245", "n")
	errs["A5"] = c.DeleteAudienceList(ctx, "31245")
	_, errs["A6"] = c.ListAudienceLists(ctx, appID)
	return errs
}

// repeatReader repeats a pattern forever: a file of any size that is never
// held in memory.
func repeatReader(pattern string) io.Reader { return &repeating{pattern: []byte(pattern)} }

type repeating struct {
	pattern []byte
	off     int
}

func (r *repeating) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.pattern[r.off:])
		n += k
		r.off = (r.off + k) % len(r.pattern)
	}
	return n, nil
}

// tick moves a fake clock with real time until stopped.
func tick(c *sim.FakeClock) (stop func()) {
	done := make(chan struct{})
	go func() {
		last := time.Now()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				c.Advance(now.Sub(last))
				last = now
			}
		}
	}()
	return func() { close(done) }
}
