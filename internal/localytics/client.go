package localytics

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Interface is what the operator needs from the Localytics Import APIs. Each
// method is one API call (P1–P2, A1–A6 in docs/localytics-api.md), made within the API
// key's budget; NextAllowed tells when a call of a kind fits the budget.
type Interface interface {
	// UploadProfiles (P1) uploads a profile file and returns the import's
	// activity id. It is never retried once anything was sent; see
	// UnknownOutcomeError.
	UploadProfiles(ctx context.Context, upload ProfileUpload) (activityID string, err error)
	// ProfileJobStatus (P2) returns the state of a profile import.
	ProfileJobStatus(ctx context.Context, activityID string) (ProfileJob, error)
	// FailedLines reads the lines a profile job's error log lists.
	FailedLines(ctx context.Context, errorLogURL string) (lines []int64, truncated bool, err error)
	// CreateAudienceList (A1) creates a list from a file and returns the
	// import's activity id. Not retried once sent: a repeat would create a
	// second list.
	CreateAudienceList(ctx context.Context, create AudienceListCreate) (activityID string, err error)
	// AudienceJobStatus (A2) returns the state of an audience import.
	AudienceJobStatus(ctx context.Context, activityID string) (AudienceJob, error)
	// ReplaceAudienceList (A3) replaces a list's whole content and returns
	// the import's activity id.
	ReplaceAudienceList(ctx context.Context, replace AudienceListReplace) (activityID string, err error)
	// RenameAudienceList (A4) renames a list.
	RenameAudienceList(ctx context.Context, audienceListID, name string) error
	// DeleteAudienceList (A5) deletes a list.
	DeleteAudienceList(ctx context.Context, audienceListID string) error
	// ListAudienceLists (A6) returns every audience list of an app.
	ListAudienceLists(ctx context.Context, appID string) ([]AudienceList, error)
	// NextAllowed returns when a call of kind may next be made with this
	// client's API key; a time not after now means now.
	NextAllowed(kind BudgetKind) time.Time
}

var _ Interface = (*Client)(nil)

// Clock tells the time the budgets reason with. k8s.io/utils/clock's clocks
// satisfy it. Waits between retries use real time.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// DefaultMaxUploadBytes is the vendor's limit on one uploaded file, which
// public production code calls "the Localytics limit": the client's default
// cap, and the operator's one home of the value.
const DefaultMaxUploadBytes = 100_000_000

// DefaultCallTimeout bounds each attempt of a call without a file (status,
// listing, rename, delete): connecting, waiting for the answer and reading
// all of it. A server that sends headers and then stalls costs this much,
// not a worker for ever. Uploads end with their ctx, to which the caller
// gives the upload's deadline (the operator's is ten minutes).
const DefaultCallTimeout = time.Minute

const (
	// maxResponseBytes caps a successful body: A6 with 500 lists is ~100 KB.
	maxResponseBytes = 8 << 20
	// maxErrorBodyBytes is how much of an error body is read for the excerpt.
	maxErrorBodyBytes = 4 << 10
	defaultUserAgent  = "localytics-operator"
)

// Client calls the Localytics Import APIs with one API key. It is safe for
// concurrent use.
type Client struct {
	base *url.URL
	key  string
	// The secret lives only inside these two closures: fmt prints a Client
	// value through reflection (%s of a Client, or of a struct holding one),
	// and a func prints as an address, where a string field would print as
	// itself.
	authorize      func(*http.Request)
	redact         func(string) string
	httpClient     *http.Client
	budgets        *Budgets
	limits         *Limits
	retry          RetryPolicy
	clock          Clock
	log            logr.Logger
	maxUploadBytes int64
	userAgent      string
	callTimeout    time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client; the default is NewHTTPClient(nil).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.httpClient = hc } }

// WithBudgets shares budgets between Clients. Every Client of one process
// that uses the same API key must get the same Budgets; without this option a
// Client has budgets of its own.
func WithBudgets(b *Budgets) Option { return func(c *Client) { c.budgets = b } }

// WithLimits sets the API key's limits in the shared Budgets. Without it the
// key keeps the limits it has there, DefaultLimits for a new key. A zero Limit
// means no limit, so start from DefaultLimits to override only some.
func WithLimits(l Limits) Option { return func(c *Client) { c.limits = &l } }

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// WithClock sets the clock of the budgets, for tests.
func WithClock(clock Clock) Option { return func(c *Client) { c.clock = clock } }

// WithLogger sets the logger used when a call's ctx carries none; a logger in
// ctx (logr.NewContext, as controller-runtime does) wins so that lines carry
// the reconciled object. Lines are at V(1) and never carry credentials.
func WithLogger(l logr.Logger) Option { return func(c *Client) { c.log = l } }

// WithMaxUploadBytes sets the largest file the client sends (default
// DefaultMaxUploadBytes); a larger one is refused before it spends budget.
func WithMaxUploadBytes(n int64) Option { return func(c *Client) { c.maxUploadBytes = n } }

// WithCallTimeout sets the deadline of each attempt of a call without a
// file; the default is DefaultCallTimeout.
func WithCallTimeout(d time.Duration) Option { return func(c *Client) { c.callTimeout = d } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the API at baseURL (e.g. https://api.localytics.com)
// that authenticates with creds.
func New(baseURL string, creds Credentials, opts ...Option) (*Client, error) {
	base, err := url.Parse(baseURL)
	if err != nil {
		// Not %w: a *url.Error prints the URL, which may hold credentials.
		return nil, errors.New("localytics: the base URL cannot be parsed")
	}
	switch {
	case base.User != nil:
		return nil, errors.New("localytics: the base URL must not contain credentials; they go in Credentials")
	case base.Scheme != "http" && base.Scheme != "https":
		return nil, fmt.Errorf("localytics: base URL %s: the scheme must be http or https", base.Redacted())
	case base.Host == "":
		return nil, fmt.Errorf("localytics: base URL %s has no host", base.Redacted())
	case base.RawQuery != "" || base.Fragment != "":
		return nil, fmt.Errorf("localytics: base URL %s must not have a query or a fragment", base.Redacted())
	case creds.Key == "" || creds.Secret == "":
		return nil, errors.New("localytics: credentials need both a key and a secret")
	case strings.Contains(creds.Key, ":"):
		return nil, errors.New("localytics: the API key must not contain ':' (HTTP Basic auth)")
	}
	c := &Client{
		base:           base,
		key:            creds.Key,
		authorize:      func(req *http.Request) { req.SetBasicAuth(creds.Key, creds.Secret) },
		redact:         creds.redact,
		retry:          DefaultRetryPolicy(),
		clock:          realClock{},
		log:            logr.Discard(),
		maxUploadBytes: DefaultMaxUploadBytes,
		userAgent:      defaultUserAgent,
		callTimeout:    DefaultCallTimeout,
	}
	for _, opt := range opts {
		opt(c)
	}
	if c.httpClient == nil {
		c.httpClient = NewHTTPClient(nil)
	}
	if c.budgets == nil {
		c.budgets = NewBudgets()
	}
	if c.limits != nil {
		c.budgets.SetLimits(creds.Key, *c.limits)
	}
	return c, nil
}

// NewHTTPClient returns the HTTP client for the API, a Client's default. It
// has no overall timeout (uploads of large files take long; calls end with
// their ctx), waits at most two minutes for response headers once a request
// is sent, and does not follow redirects. wrap, if not nil, wraps its
// transport, e.g. to instrument it (see EndpointName).
func NewHTTPClient(wrap func(http.RoundTripper) http.RoundTripper) *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Counted from the end of the request, so it does not limit uploads.
	transport.ResponseHeaderTimeout = 2 * time.Minute
	// Larger writes make streaming uploads cheaper.
	transport.WriteBufferSize = 64 << 10
	var rt http.RoundTripper = transport
	if wrap != nil {
		rt = wrap(rt)
	}
	return &http.Client{
		Transport: rt,
		// The API never redirects; following one could send the credentials
		// elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Format prints the endpoint and the key, never the secret, for every verb.
func (c *Client) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "localytics.Client{endpoint: %s, key: %s}", c.base.Redacted(), c.key)
}

// NextAllowed implements Interface.
func (c *Client) NextAllowed(kind BudgetKind) time.Time {
	return c.budgets.NextAllowed(c.key, kind, c.clock.Now())
}

// endpoint is one operation of the API.
type endpoint struct {
	method string
	// path is the template, e.g. /v1/imports/profiles/status/{activity_id}:
	// errors and logs name it, not the concrete path, so that their text is
	// the same for every id.
	path   string
	budget BudgetKind
	// name is the short name its requests carry for metrics, e.g.
	// "profiles/status"; see EndpointName.
	name string
}

func (e endpoint) String() string { return e.method + " " + e.path }

type endpointNameKey struct{}

// EndpointName returns the name of the API endpoint a request of a Client is
// for, its resource and operation such as "profiles/upload" or
// "audiences/create", and "" for a request no Client made. The transport of
// an HTTP client given with WithHTTPClient reads it to label requests: unlike
// their paths, it holds no ids.
func EndpointName(req *http.Request) string {
	name, _ := req.Context().Value(endpointNameKey{}).(string)
	return name
}

// call is one API call as the client makes it, with every attempt.
type call struct {
	ep endpoint
	// path is the concrete, escaped path.
	path  string
	query url.Values
	// form is the streamed multipart body of an upload; nil for the others.
	form *uploadForm
	// decode reads a 2xx body; nil when the body does not matter.
	decode func(body []byte) error
}

// do makes a call, retrying as retryDelay allows.
func (c *Client) do(ctx context.Context, cl call) error {
	log := c.logger(ctx).WithValues("endpoint", cl.ep.String())
	resendable := cl.form == nil
	for attempt := 1; ; attempt++ {
		err := c.attempt(ctx, cl, log, attempt)
		if err == nil || ctx.Err() != nil {
			return err
		}
		delay, retry := c.retry.retryDelay(attempt, err, resendable, c.clock.Now())
		if !retry {
			return err
		}
		log.V(1).Info("retrying", "attempt", attempt, "delay", delay, "error", err.Error())
		if sleep(ctx, delay) != nil {
			return err
		}
	}
}

// attempt sends the request once, within the budget.
func (c *Client) attempt(ctx context.Context, cl call, log logr.Logger, attempt int) error {
	key, kind := c.key, cl.ep.budget
	sentAt := c.clock.Now()
	if retryAt, ok := c.budgets.acquire(key, kind, sentAt); !ok {
		log.V(1).Info("budget spent, not sent", "budget", kind.String(), "retryAt", retryAt)
		return &BudgetExceededError{Kind: kind, Endpoint: cl.ep.String(), RetryAt: retryAt}
	}

	if cl.form == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.callTimeout)
		defer cancel()
	}
	var progress sendProgress
	reqCtx := context.WithValue(httptrace.WithClientTrace(ctx, progress.trace()), endpointNameKey{}, cl.ep.name)
	req, err := http.NewRequestWithContext(reqCtx, cl.ep.method, c.url(cl.path, cl.query), nil)
	if err != nil {
		c.budgets.refund(key, kind, sentAt)
		return fmt.Errorf("localytics: %s: %w", cl.ep, err)
	}
	var body *formBody
	if cl.form != nil {
		body = cl.form.open()
		req.Body = body
		req.ContentLength = body.length
		req.Header.Set("Content-Type", body.contentType)
	}
	c.authorize(req)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	start := time.Now()
	resp, err := c.httpClient.Do(req)
	var sourceErr error
	if body != nil {
		// Wait until the file is no longer read, so that the caller may close
		// it as soon as we return.
		sourceErr = body.finish()
	}
	// The server counts a call when it arrives, which is after it was
	// sent: counted from its answer, the call leaves this process's window
	// no earlier than it leaves the server's, so that the next call never
	// meets a 429 for a slot that looked free.
	answeredAt := c.clock.Now()
	if err != nil {
		if !progress.wroteHeaders.Load() {
			// Never reached the server, which therefore did not count it.
			c.budgets.refund(key, kind, sentAt)
		} else {
			c.budgets.settle(key, kind, sentAt, answeredAt)
		}
		log.V(1).Info("call failed", "attempt", attempt, "duration", time.Since(start), "error", err.Error())
		// The file's failure is the cause only if the request failed with
		// it (net/http returns the body's error as it is).
		if sourceErr != nil && errors.Is(err, sourceErr) {
			return &FileReadError{Endpoint: cl.ep.String(), Err: sourceErr}
		}
		netErr := &NetworkError{Endpoint: cl.ep.String(), Err: err}
		if cl.form != nil && progress.wroteRequest.Load() {
			return &UnknownOutcomeError{Endpoint: cl.ep.String(), Err: netErr}
		}
		return netErr
	}
	defer drainAndClose(resp.Body)
	c.budgets.settle(key, kind, sentAt, answeredAt)
	log.V(1).Info("called", "attempt", attempt, "status", resp.StatusCode, "duration", time.Since(start))
	return c.readResponse(cl, resp, answeredAt)
}

// readResponse turns a response into nil, a decoded result, or a typed error.
func (c *Client) readResponse(cl call, resp *http.Response, countedAt time.Time) error {
	endpoint := cl.ep.String()
	upload := cl.form != nil
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		var err error
		body, readErr := readAtMost(resp.Body, maxResponseBytes)
		switch {
		case errors.Is(readErr, errResponseTooLarge):
			err = &DecodeError{Endpoint: endpoint, StatusCode: resp.StatusCode, Body: excerpt(body, c.redact), Err: readErr}
		case readErr != nil:
			err = &NetworkError{Endpoint: endpoint, Err: readErr}
		case cl.decode != nil:
			if decodeErr := cl.decode(body); decodeErr != nil {
				err = &DecodeError{Endpoint: endpoint, StatusCode: resp.StatusCode, Body: excerpt(body, c.redact), Err: decodeErr}
			}
		}
		if err != nil && upload {
			// The server accepted the file but we cannot tell the activity.
			return &UnknownOutcomeError{Endpoint: endpoint, Err: err}
		}
		return err
	}

	// Error bodies are undocumented and often empty: keep an excerpt, never
	// parse them. A read error only shortens the excerpt.
	body, _ := readAtMost(resp.Body, maxErrorBodyBytes)
	apiErr := &APIError{StatusCode: resp.StatusCode, Endpoint: endpoint, Body: excerpt(body, c.redact)}
	if resp.StatusCode == http.StatusTooManyRequests {
		now := c.clock.Now()
		retryAfter, hasRetryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), now)
		// The server refused this call, so it does not count it either.
		c.budgets.refund(c.key, cl.ep.budget, countedAt)
		apiErr.RetryAfter = retryAfter
		apiErr.RetryAt = c.budgets.throttled(c.key, cl.ep.budget, now, retryAfter, hasRetryAfter)
	}
	if upload && (resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout) {
		// A gateway's error says nothing about whether the service behind
		// it took the file.
		return &UnknownOutcomeError{Endpoint: endpoint, Err: apiErr}
	}
	return apiErr
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP-date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, true
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// url builds the request URL from the escaped path of a call.
func (c *Client) url(escapedPath string, query url.Values) string {
	u := *c.base
	u.RawPath = strings.TrimSuffix(c.base.EscapedPath(), "/") + escapedPath
	u.Path, _ = url.PathUnescape(u.RawPath) // escapedPath is built with url.PathEscape
	u.RawQuery = query.Encode()
	return u.String()
}

func (c *Client) logger(ctx context.Context) logr.Logger {
	if l, err := logr.FromContext(ctx); err == nil {
		return l.WithName("localytics")
	}
	return c.log
}

// sendProgress records how far a request got, to tell a call the server
// never saw (refund the budget) from an upload it may have accepted.
type sendProgress struct {
	wroteHeaders atomic.Bool
	wroteRequest atomic.Bool
}

func (p *sendProgress) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		WroteHeaders: func() { p.wroteHeaders.Store(true) },
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				p.wroteRequest.Store(true)
			}
		},
	}
}

// pathSegment escapes one id for a path, refusing ids that cannot be one.
func pathSegment(what, id string) (string, error) {
	if strings.TrimSpace(id) == "" || id == "." || id == ".." {
		return "", fmt.Errorf("%w: %s %q", ErrInvalidRequest, what, id)
	}
	return url.PathEscape(id), nil
}

var errResponseTooLarge = errors.New("the response is too large")

func readAtMost(r io.Reader, n int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return body, err
	}
	if int64(len(body)) > n {
		return body[:n], fmt.Errorf("%w: more than %d bytes", errResponseTooLarge, n)
	}
	return body, nil
}

// drainAndClose lets the connection be reused when little is left unread.
func drainAndClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

func basicAuthToken(key, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(key + ":" + secret))
}
