package sim

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Account is one organisation's API key and the scopes it may import into.
type Account struct {
	// Key is the API key (the Basic auth user name). It is safe to log.
	Key string
	// Secret is the API secret (the Basic auth password). It is never logged or
	// reported by inspection.
	Secret string
	// OrgIDs are the organisations the key may import profiles into.
	OrgIDs []int64
	// AppIDs are the apps the key may import profiles and audiences into. The
	// entry "*" grants every app, which the demo account of cmd/localytics-sim uses
	// so that people can rehearse with their real app ids.
	AppIDs []string
}

// Limits are the budgets the simulator enforces per API key. A zero field means
// the default of docs/localytics-api.md (DefaultLimits); a negative count disables that budget,
// which benchmarks use to measure throughput without throttling.
type Limits struct {
	ProfileUploads      int           // P1 calls per ProfileUploadWindow; default 10
	ProfileUploadWindow time.Duration // default 1h
	ProfileStatus       int           // P2 calls per ProfileStatusWindow; default 60
	ProfileStatusWindow time.Duration // default 1m
	AudienceCalls       int           // A1–A6 calls per AudienceCallWindow; default 60
	AudienceCallWindow  time.Duration // default 1m
	AudienceListsPerApp int           // lists per app, in-flight creates included; default 500
	MaxUploadBytes      int64         // size cap of one uploaded file, 413 above it; default 100,000,000
}

// DefaultLimits returns the vendor's documented budgets (docs/localytics-api.md, "Budgets").
func DefaultLimits() Limits {
	return Limits{
		ProfileUploads:      10,
		ProfileUploadWindow: time.Hour,
		ProfileStatus:       60,
		ProfileStatusWindow: time.Minute,
		AudienceCalls:       60,
		AudienceCallWindow:  time.Minute,
		AudienceListsPerApp: 500,
		MaxUploadBytes:      100_000_000,
	}
}

// withDefaults fills every zero field from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.ProfileUploads == 0 {
		l.ProfileUploads = d.ProfileUploads
	}
	if l.ProfileUploadWindow <= 0 {
		l.ProfileUploadWindow = d.ProfileUploadWindow
	}
	if l.ProfileStatus == 0 {
		l.ProfileStatus = d.ProfileStatus
	}
	if l.ProfileStatusWindow <= 0 {
		l.ProfileStatusWindow = d.ProfileStatusWindow
	}
	if l.AudienceCalls == 0 {
		l.AudienceCalls = d.AudienceCalls
	}
	if l.AudienceCallWindow <= 0 {
		l.AudienceCallWindow = d.AudienceCallWindow
	}
	if l.AudienceListsPerApp == 0 {
		l.AudienceListsPerApp = d.AudienceListsPerApp
	}
	if l.MaxUploadBytes == 0 {
		l.MaxUploadBytes = d.MaxUploadBytes
	}
	return l
}

// Config configures a Server. The zero value is usable but has no accounts, so
// every call is answered 401.
type Config struct {
	Accounts []Account
	// Limits are the budgets; zero fields take the defaults of docs/localytics-api.md.
	Limits Limits
	// RetryAfter makes every 429 carry a Retry-After header (whole seconds,
	// rounded up). It can be switched at run time with SetRetryAfter.
	RetryAfter bool
	// PendingFor and RunningFor are how long a job stays Pending and then at
	// least how long it stays Running, measured on Clock.
	PendingFor, RunningFor time.Duration
	// Clock tells the time for budgets and jobs; nil means real time. With a
	// custom clock nothing happens in the background: jobs are processed when
	// they are observed (status calls, inspection), so a fake clock fully
	// controls what a test sees.
	Clock Clock
	// PublicURL is the base of the error_log URLs, e.g. "http://localhost:8787".
	// Empty means the scheme and Host of the status request.
	PublicURL string
	// Logger receives one record per request (never the secret). Nil discards.
	Logger *slog.Logger
	// Variants switches on response shapes the client must tolerate.
	Variants Variants
	// SpoolDir holds uploaded files larger than a small in-memory buffer until
	// their job is processed. Empty means os.TempDir().
	SpoolDir string
	// DiscardUploads is for benchmarks only: the file of every upload is
	// received, parsed out of its multipart body and counted, then dropped
	// instead of spooled, so that the simulator is a sink faster than any
	// client and no job parses hundreds of MB in the background. Uploads are
	// accepted and recorded as usual (with their size), but their jobs end
	// Failed, since there is nothing to apply.
	DiscardUploads bool
}

// Variants switches on the response shapes that docs/localytics-api.md says a client must
// tolerate, so client tests can exercise them. All false is the documented shape.
type Variants struct {
	// Scopet names the profile job's scope "scopet" instead of "target", as the
	// vendor's sample response does.
	Scopet bool `json:"scopet,omitempty"`
	// NumericIDs issues activity ids as JSON numbers instead of UUID strings.
	NumericIDs bool `json:"numeric_ids,omitempty"`
	// LowerCaseStatus reports job status as "pending", "completed", ...
	LowerCaseStatus bool `json:"lower_case_status,omitempty"`
	// SwapNumberTypes writes profile counters as strings, and audience counters
	// and audience list ids, versions and record counts the other way round from
	// the vendor's samples.
	SwapNumberTypes bool `json:"swap_number_types,omitempty"`
	// CreateOK answers an audience create (A1) with 200 instead of 202, as the
	// vendor's code table says.
	CreateOK bool `json:"create_ok,omitempty"`
	// DeleteNoContent answers an audience delete (A5) with 204 instead of 200.
	DeleteNoContent bool `json:"delete_no_content,omitempty"`
}

// Clock tells the simulator the time. Tests use FakeClock.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// FakeClock is a Clock that moves only when told to. It is safe for concurrent use.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock returns a FakeClock set to start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Faults are failures injected into the vendor API endpoints (never into /_sim/).
// Counters count down as they fire; SetFaults replaces the whole set.
type Faults struct {
	// ServerErrorRate is the fraction (0..1) of API requests answered 500 or 503
	// before anything else happens, so they change no state and spend no budget.
	ServerErrorRate float64 `json:"server_error_rate"`
	// Delay is added before every API reply (real time, even with a fake clock).
	Delay time.Duration `json:"delay"`
	// DropAfterAccept makes the next N accepted uploads (P1, A1, A3) close the
	// connection without a response: the job exists and the budget is spent, but
	// the client sees a network error.
	DropAfterAccept int `json:"drop_after_accept"`
	// MalformedJSON makes the next N JSON replies of the API truncated JSON. The
	// call's effects (an accepted upload, a rename) still happen.
	MalformedJSON int `json:"malformed_json"`
	// Throttle answers the next N authenticated API calls 429 without spending
	// budget; Retry-After follows the RetryAfter switch.
	Throttle int `json:"throttle"`
	// FailJobs makes the next N accepted jobs end Failed without applying anything.
	FailJobs int `json:"fail_jobs"`
	// RefuseUploads answers the next N uploads (P1, A1, A3) with RefuseStatus
	// before anything is read: nothing is created and no budget is spent.
	RefuseUploads int `json:"refuse_uploads"`
	// RefuseStatus is the status of a refused upload; 0 means 400.
	RefuseStatus int `json:"refuse_status"`
}

// Scope is where a profile import applies: exactly one of OrgID and AppID is set.
// Org-scope and app-scope profiles are separate state, as at the vendor.
type Scope struct {
	OrgID int64  `json:"org_id,omitempty"`
	AppID string `json:"app_id,omitempty"`
}

// String renders the scope as "org_id=60" or "app_id=abc".
func (s Scope) String() string {
	if s.AppID != "" {
		return "app_id=" + s.AppID
	}
	return "org_id=" + strconv.FormatInt(s.OrgID, 10)
}

// Profile is one customer's attribute values: string (dates stay the
// "YYYY-MM-DD" strings they were sent as), int64, or, for set attributes, a
// sorted []any holding int64 members in ascending order first, then string members
// in ascending order. An emptied set stays an empty set; only delete removes an
// attribute. A customer named by any applied line has a profile, possibly
// empty. Values returned by the Server are copies.
type Profile map[string]any

// AudienceList is one audience list of an app, as the simulator holds it.
type AudienceList struct {
	// ID is the audience_list_id used by A3/A4/A5 and reported as "id" by A6.
	ID int64 `json:"id"`
	// AudienceID is the separate audience id the vendor reports in job statistics.
	AudienceID  int64     `json:"audience_id"`
	Name        string    `json:"name"`
	AppID       string    `json:"app_id"`
	Version     int       `json:"version"`
	RecordCount int       `json:"record_count"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Members are the customer ids in the list, sorted.
	Members []string `json:"members"`
}

// Endpoint names a vendor API call as docs/localytics-api.md numbers them.
type Endpoint string

// The vendor API calls, numbered as in docs/localytics-api.md.
const (
	EndpointProfileUpload  Endpoint = "P1"
	EndpointProfileStatus  Endpoint = "P2"
	EndpointAudienceCreate Endpoint = "A1"
	EndpointAudienceStatus Endpoint = "A2"
	EndpointAudienceUpdate Endpoint = "A3"
	EndpointAudienceRename Endpoint = "A4"
	EndpointAudienceDelete Endpoint = "A5"
	EndpointAudienceByApp  Endpoint = "A6"
)

// Budget names one per-key budget.
type Budget string

// The per-key budgets of docs/localytics-api.md, "Budgets".
const (
	BudgetProfileUploads Budget = "profile-uploads"
	BudgetProfileStatus  Budget = "profile-status"
	BudgetAudienceCalls  Budget = "audience-calls"
)

// UploadRecord is one accepted upload (P1, A1 or A3): every upload that created a
// job, including those whose connection was then dropped. Refused uploads (400,
// 403, 413, 429) created nothing and appear only in the request log.
type UploadRecord struct {
	Time       time.Time `json:"time"`
	Key        string    `json:"key"`
	Endpoint   Endpoint  `json:"endpoint"`
	Scope      Scope     `json:"scope"`
	Format     string    `json:"format,omitempty"`
	Bytes      int64     `json:"bytes"`
	ActivityID string    `json:"activity_id"`
	// AudienceListID is the list an A1 creates or an A3 replaces.
	AudienceListID int64 `json:"audience_list_id,omitempty"`
	// Dropped is true when the DropAfterAccept fault closed the connection.
	Dropped bool `json:"dropped,omitempty"`
}

// CallRecord is one request to a vendor API endpoint (P1, P2, A1–A6) whatever
// its outcome: answered, refused (401, 403, 404, ...), throttled (429) or
// failed by an injected fault. Requests to /_sim/ and to paths that are no
// vendor endpoint are not calls.
type CallRecord struct {
	// Time is when the request arrived, on the simulator's clock.
	Time time.Time `json:"time"`
	// Key is the API key, empty when the request was not authenticated (a 401,
	// or an injected 5xx, which strikes before credentials are checked).
	Key      string   `json:"key"`
	Endpoint Endpoint `json:"endpoint"`
	// AppID is the app the call names: the form's app_id of P1, A1 and A3 once
	// read, the path's of A6, the list's of A4 and A5 once found; empty
	// otherwise, and for an injected 5xx.
	AppID string `json:"app_id"`
	// Status is the HTTP status answered, 0 when no reply was sent (a dropped
	// connection, or a client that left during an injected delay).
	Status int `json:"status"`
	// Dropped is true when the connection was closed without a reply.
	Dropped bool `json:"dropped,omitempty"`
	// UserAgent is the request's User-Agent header: it tells which client
	// (which operator process) made the call.
	UserAgent string `json:"user_agent,omitempty"`
}

// ThrottleRecord is one 429 the simulator sent.
type ThrottleRecord struct {
	Time     time.Time `json:"time"`
	Key      string    `json:"key"`
	Endpoint Endpoint  `json:"endpoint"`
	Budget   Budget    `json:"budget"`
	// RetryAfter is the value sent in the Retry-After header, 0 when none was
	// sent. JSON shows it in whole seconds, as the header does.
	RetryAfter time.Duration `json:"-"`
	// Injected is true when the Throttle fault, not a budget, caused the 429.
	Injected bool `json:"injected,omitempty"`
}

// MarshalJSON writes RetryAfter as "retry_after_seconds", for people reading
// /_sim/throttled.
func (t ThrottleRecord) MarshalJSON() ([]byte, error) {
	type plain ThrottleRecord // without this method
	return json.Marshal(struct {
		plain
		RetryAfterSeconds int64 `json:"retry_after_seconds"`
	}{plain(t), int64(t.RetryAfter / time.Second)})
}
