package sim

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Server is the simulator. It implements http.Handler and is safe for
// concurrent use.
type Server struct {
	cfg      Config // as given; Reset restores its switches
	limits   Limits
	clock    Clock
	realTime bool // only real time has a background worker (see jobs.go)
	log      *slog.Logger
	accounts map[string]Account
	spoolDir string
	discard  bool // Config.DiscardUploads
	public   string

	pendingFor time.Duration
	runningFor time.Duration

	api       *http.ServeMux      // the vendor's endpoints, behind faults
	endpoints map[string]Endpoint // api's patterns, to name a call before it is routed
	admin     *http.ServeMux      // /_sim/, never faulted
	maxCalls  int                 // bound of calls; maxCallRecords, smaller in tests

	// processMu serialises job processing (see jobs.go); it is always taken
	// before mu, never while holding mu.
	processMu sync.Mutex

	mu         sync.Mutex
	retryAfter bool
	variants   Variants
	faults     Faults
	rng        *rand.Rand
	budgets    map[budgetKey]*slidingWindow
	jobs       map[string]*job // by activity id, both UUID and numeric forms
	queue      []*job          // accepted, not yet processed, in acceptance order
	nextSeq    int64
	profiles   map[Scope]map[string]Profile
	lists      map[int64]*audienceList
	creating   map[string]int // app id → audience creates accepted but not finished
	nextListID int64
	nextAudID  int64
	uploads    []UploadRecord
	throttled  []ThrottleRecord
	calls      callLog
	worker     bool // a background worker goroutine is running
	stop       chan struct{}
	closed     bool
}

// New returns a simulator configured by cfg.
func New(cfg Config) *Server {
	s := &Server{
		cfg:        cfg,
		limits:     cfg.Limits.withDefaults(),
		clock:      cfg.Clock,
		log:        cfg.Logger,
		accounts:   make(map[string]Account, len(cfg.Accounts)),
		spoolDir:   cfg.SpoolDir,
		discard:    cfg.DiscardUploads,
		pendingFor: max(cfg.PendingFor, 0),
		runningFor: max(cfg.RunningFor, 0),
		public:     strings.TrimRight(cfg.PublicURL, "/"),
		retryAfter: cfg.RetryAfter,
		variants:   cfg.Variants,
		// A fixed seed keeps a given ServerErrorRate reproducible run to run.
		rng:      rand.New(rand.NewPCG(1, 2)),
		stop:     make(chan struct{}),
		maxCalls: maxCallRecords,
	}
	if s.clock == nil {
		s.clock = realClock{}
		s.realTime = true
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, a := range cfg.Accounts {
		s.accounts[a.Key] = a
	}
	s.resetStateLocked()
	s.api, s.endpoints = s.apiRoutes()
	s.admin = s.adminRoutes()
	return s
}

// resetStateLocked empties every piece of simulated state. Callers hold mu (or
// own s exclusively, as New does).
func (s *Server) resetStateLocked() {
	for _, j := range s.queue {
		j.discardUpload()
	}
	s.faults = Faults{}
	s.budgets = map[budgetKey]*slidingWindow{}
	s.jobs = map[string]*job{}
	s.queue = nil
	s.nextSeq = 1000001
	s.profiles = map[Scope]map[string]Profile{}
	s.lists = map[int64]*audienceList{}
	s.creating = map[string]int{}
	// The vendor's samples use list ids around 31245 and audience ids around 999.
	s.nextListID = 31245
	s.nextAudID = 999
	s.uploads = nil
	s.throttled = nil
	s.calls = callLog{}
}

// newSpool returns the store of an upload being received.
func (s *Server) newSpool() *spool {
	return &spool{dir: s.spoolDir, discard: s.discard}
}

// apiRoutes maps the vendor's endpoints (docs/localytics-api.md, "The calls") and returns
// the endpoint of each pattern.
func (s *Server) apiRoutes() (*http.ServeMux, map[string]Endpoint) {
	m := http.NewServeMux()
	endpoints := map[string]Endpoint{}
	handle := func(pattern string, ep Endpoint, h http.HandlerFunc) {
		m.HandleFunc(pattern, h)
		endpoints[pattern] = ep
	}
	handle("POST /v1/imports/profiles/upload", EndpointProfileUpload, s.handleProfileUpload)
	handle("POST /v1/imports/profiles/upload/{$}", EndpointProfileUpload, s.handleProfileUpload)
	handle("GET /v1/imports/profiles/status/{activity_id}", EndpointProfileStatus, s.handleProfileStatus)
	// The create path is documented with a trailing slash; clients drop it.
	handle("POST /v1/imports/audiences/list", EndpointAudienceCreate, s.handleAudienceCreate)
	handle("POST /v1/imports/audiences/list/{$}", EndpointAudienceCreate, s.handleAudienceCreate)
	handle("GET /v1/imports/audiences/list/status/{activity_id}", EndpointAudienceStatus, s.handleAudienceStatus)
	handle("PUT /v1/imports/audiences/list/{list_id}", EndpointAudienceUpdate, s.handleAudienceReplace)
	handle("PUT /v1/imports/audiences/list/{list_id}/name", EndpointAudienceRename, s.handleAudienceRename)
	handle("DELETE /v1/imports/audiences/list/{list_id}", EndpointAudienceDelete, s.handleAudienceDelete)
	handle("GET /v1/imports/audiences/list/app/{app_id}", EndpointAudienceByApp, s.handleAudienceListByApp)
	return m, endpoints
}

// ServeHTTP logs every request and routes it to the vendor API (behind the
// injected faults) or to the simulator's own /_sim/ endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.logged(w, r, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
			s.admin.ServeHTTP(w, r)
			return
		}
		// Name the call before the faults, which answer before any handler
		// could, so that an injected 5xx is recorded under its endpoint.
		if _, pattern := s.api.Handler(r); pattern != "" {
			infoFrom(r.Context()).endpoint = s.endpoints[pattern]
		}
		if s.injectFrontFaults(w, r) {
			return
		}
		s.api.ServeHTTP(w, r)
	})
}

// Close stops the background worker and removes the spooled files of jobs not
// yet processed (such a job ends Failed if it is observed later). Call it when
// done with a Server whose clock is real, or whose uploads were large.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.stop)
	for _, j := range s.queue {
		j.discardUpload()
	}
}
