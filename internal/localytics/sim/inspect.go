package sim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Inspection never spends budget and never suffers faults. Every read first
// processes the jobs whose time is up, waiting for one already being
// processed, so what it shows matches what a status call would report.

// Profiles returns a copy of the profiles of scope, keyed by customer id.
func (s *Server) Profiles(scope Scope) map[string]Profile {
	s.processDue(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Profile, len(s.profiles[scope]))
	for id, p := range s.profiles[scope] {
		out[id] = exportProfile(p)
	}
	return out
}

// AudienceLists returns the lists of appID ordered by id, with their members;
// an empty appID returns the lists of every app.
func (s *Server) AudienceLists(appID string) []AudienceList {
	s.processDue(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	var lists []*audienceList
	if appID == "" {
		lists = slices.SortedFunc(maps.Values(s.lists), func(a, b *audienceList) int { return cmp.Compare(a.id, b.id) })
	} else {
		lists = s.listsOfAppLocked(appID)
	}
	out := make([]AudienceList, 0, len(lists))
	for _, l := range lists {
		out = append(out, l.export())
	}
	return out
}

// Uploads returns every accepted upload, oldest first.
func (s *Server) Uploads() []UploadRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.uploads)
}

// Throttled returns every 429 sent, oldest first.
func (s *Server) Throttled() []ThrottleRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.throttled)
}

// Calls returns the newest calls to the vendor endpoints (at most 100,000),
// oldest first. A call is recorded once its handler is done, so the record of
// a dropped connection may trail the client by a moment.
func (s *Server) Calls() []CallRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls.records()
}

// handleCalls is GET /_sim/calls, optionally narrowed by ?endpoint=A6,
// ?app_id=ID and ?key=KEY.
func (s *Server) handleCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	calls := slices.DeleteFunc(s.Calls(), func(c CallRecord) bool {
		return q.Has("endpoint") && string(c.Endpoint) != q.Get("endpoint") ||
			q.Has("app_id") && c.AppID != q.Get("app_id") ||
			q.Has("key") && c.Key != q.Get("key")
	})
	writeSimJSON(w, orEmpty(calls))
}

// ErrorLog returns the error log of a job once it is Completed or Failed (by
// either form of its activity id); ok is false for an unknown or unfinished job.
func (s *Server) ErrorLog(activityID string) (entries []LineError, ok bool) {
	s.processDue(true)
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.lookupJobLocked(activityID, profileJob, audienceCreateJob, audienceReplaceJob)
	if j == nil {
		return nil, false
	}
	if st := j.statusAt(now); st != statusCompleted && st != statusFailed {
		return nil, false
	}
	return append([]LineError{}, j.errors...), true
}

// JobStatus returns the vendor status of a job ("Pending", "Running",
// "Completed" or "Failed") by either form of its activity id.
func (s *Server) JobStatus(activityID string) (status string, ok bool) {
	s.processDue(true)
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.lookupJobLocked(activityID, profileJob, audienceCreateJob, audienceReplaceJob)
	if j == nil {
		return "", false
	}
	return j.statusAt(now), true
}

// Reset forgets every profile, list, job, upload, 429, call and spent budget, disarms
// the faults and restores the configured Retry-After and variants. It waits for
// a job being processed to finish.
func (s *Server) Reset() {
	s.processMu.Lock()
	defer s.processMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetStateLocked()
	s.retryAfter = s.cfg.RetryAfter
	s.variants = s.cfg.Variants
}

// adminRoutes maps the simulator's own endpoints under /_sim/.
func (s *Server) adminRoutes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /_sim/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "ok")
	})
	m.HandleFunc("GET /_sim/profiles", s.handleInspectProfiles)
	m.HandleFunc("GET /_sim/audiences", func(w http.ResponseWriter, r *http.Request) {
		writeSimJSON(w, s.AudienceLists(r.URL.Query().Get("app_id")))
	})
	m.HandleFunc("GET /_sim/uploads", func(w http.ResponseWriter, _ *http.Request) {
		writeSimJSON(w, orEmpty(s.Uploads()))
	})
	m.HandleFunc("GET /_sim/throttled", func(w http.ResponseWriter, _ *http.Request) {
		writeSimJSON(w, orEmpty(s.Throttled()))
	})
	m.HandleFunc("GET /_sim/calls", s.handleCalls)
	m.HandleFunc("DELETE /_sim/audiences/{id}", s.handleDashboardDelete)
	m.HandleFunc("PUT /_sim/audiences/{id}/name", s.handleDashboardRename)
	m.HandleFunc("GET /_sim/budgets", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		if key == "" {
			writeError(w, errorf(http.StatusBadRequest, "give ?key=API_KEY"))
			return
		}
		writeSimJSON(w, s.Budgets(key))
	})
	m.HandleFunc("GET /_sim/errors/{file}", s.handleErrorLog)
	m.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeSimJSON(w, s.faultsDoc())
	})
	m.HandleFunc("PUT /_sim/faults", s.handleSetFaults)
	m.HandleFunc("POST /_sim/faults", s.handleSetFaults)
	m.HandleFunc("GET /_sim/variants", func(w http.ResponseWriter, _ *http.Request) {
		writeSimJSON(w, s.currentVariants())
	})
	m.HandleFunc("PUT /_sim/variants", s.handleSetVariants)
	m.HandleFunc("POST /_sim/variants", s.handleSetVariants)
	m.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		writeSimJSON(w, map[string]string{"reset": "ok"})
	})
	return m
}

// handleInspectProfiles is GET /_sim/profiles?org_id=60 or ?app_id=ID.
func (s *Server) handleInspectProfiles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var sc Scope
	switch org, app := q.Get("org_id"), q.Get("app_id"); {
	case org != "" && app == "":
		id, err := strconv.ParseInt(org, 10, 64)
		if err != nil {
			writeError(w, errorf(http.StatusBadRequest, "org_id must be an integer"))
			return
		}
		sc.OrgID = id
	case app != "" && org == "":
		sc.AppID = app
	default:
		writeError(w, errorf(http.StatusBadRequest, "give exactly one of ?org_id= and ?app_id="))
		return
	}
	writeSimJSON(w, s.Profiles(sc))
}

// handleErrorLog serves the error_log URL: /_sim/errors/{activity_id}.json.
// Like the vendor's S3 links it needs no credentials.
func (s *Server) handleErrorLog(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(r.PathValue("file"), ".json")
	entries, ok := s.ErrorLog(id)
	if !ok {
		writeError(w, errorf(http.StatusNotFound, "no error log for this activity id (unknown, or the job has not finished)"))
		return
	}
	writeSimJSON(w, entries)
}

// faultsDoc is the JSON form of the faults at /_sim/faults, with the delay as a
// Go duration ("250ms") and the Retry-After switch.
type faultsDoc struct {
	ServerErrorRate float64 `json:"server_error_rate"`
	Delay           string  `json:"delay"`
	DropAfterAccept int     `json:"drop_after_accept"`
	MalformedJSON   int     `json:"malformed_json"`
	Throttle        int     `json:"throttle"`
	FailJobs        int     `json:"fail_jobs"`
	RefuseUploads   int     `json:"refuse_uploads"`
	RefuseStatus    int     `json:"refuse_status"`
	RetryAfter      *bool   `json:"retry_after,omitempty"`
}

func (s *Server) faultsDoc() faultsDoc {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	ra := s.retryAfter
	return faultsDoc{
		ServerErrorRate: f.ServerErrorRate,
		Delay:           f.Delay.String(),
		DropAfterAccept: f.DropAfterAccept,
		MalformedJSON:   f.MalformedJSON,
		Throttle:        f.Throttle,
		FailJobs:        f.FailJobs,
		RefuseUploads:   f.RefuseUploads,
		RefuseStatus:    f.RefuseStatus,
		RetryAfter:      &ra,
	}
}

// handleSetFaults replaces the faults with the JSON body (absent fields are
// zero, so `{}` disarms everything) and sets Retry-After when the body says.
func (s *Server) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	var doc faultsDoc
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		writeError(w, errorf(http.StatusBadRequest, "invalid faults document: %v", err))
		return
	}
	f, e := doc.faults()
	if e != nil {
		writeError(w, e)
		return
	}
	s.SetFaults(f)
	if doc.RetryAfter != nil {
		s.SetRetryAfter(*doc.RetryAfter)
	}
	writeSimJSON(w, s.faultsDoc())
}

func (d faultsDoc) faults() (Faults, *apiError) {
	f := Faults{
		ServerErrorRate: d.ServerErrorRate,
		DropAfterAccept: d.DropAfterAccept,
		MalformedJSON:   d.MalformedJSON,
		Throttle:        d.Throttle,
		FailJobs:        d.FailJobs,
		RefuseUploads:   d.RefuseUploads,
		RefuseStatus:    d.RefuseStatus,
	}
	if f.ServerErrorRate < 0 || f.ServerErrorRate > 1 {
		return f, errorf(http.StatusBadRequest, "server_error_rate must be between 0 and 1")
	}
	if d.Delay != "" {
		delay, err := time.ParseDuration(d.Delay)
		if err != nil || delay < 0 {
			return f, errorf(http.StatusBadRequest, `delay must be a Go duration such as "250ms"`)
		}
		f.Delay = delay
	}
	return f, nil
}

// handleSetVariants replaces the response variants with the JSON body.
func (s *Server) handleSetVariants(w http.ResponseWriter, r *http.Request) {
	var v Variants
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		writeError(w, errorf(http.StatusBadRequest, "invalid variants document: %v", err))
		return
	}
	s.SetVariants(v)
	writeSimJSON(w, s.currentVariants())
}

// orEmpty makes a nil slice render as [] rather than null.
func orEmpty[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
