package sim

import (
	"net/http"
	"strconv"
	"time"
)

// acceptance is an upload (P1, A1, A3) whose request was read and validated.
type acceptance struct {
	acct     Account
	arrival  time.Time
	endpoint Endpoint
	job      *job
	form     *uploadForm
	// check runs under mu right before the job is accepted, for the rules that
	// depend on state another request may change (the list cap, a list's
	// existence).
	check func() *apiError
	// created is the status of the reply; 202 unless a variant says otherwise.
	created int
}

// accept creates the job of an upload, records it, spends its budget, and
// answers with the activity id, or drops the connection when that fault is
// armed.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, a acceptance) {
	s.mu.Lock()
	if a.check != nil {
		if e := a.check(); e != nil {
			s.mu.Unlock()
			a.form.discard()
			if a.endpoint == EndpointProfileUpload {
				s.releaseUpload(a.acct.Key)
			}
			writeError(w, e)
			return
		}
	}
	if a.endpoint == EndpointProfileUpload {
		s.commitUploadLocked(a.acct.Key, a.arrival)
	}
	j := a.job
	j.key = a.acct.Key
	s.acceptJobLocked(j, a.form.file, s.clock.Now(), s.pendingFor, s.runningFor)
	v := s.variants
	drop := s.takeDropLocked()
	rec := UploadRecord{
		Time:           a.arrival,
		Key:            a.acct.Key,
		Endpoint:       a.endpoint,
		Scope:          j.scope,
		Format:         j.format,
		Bytes:          j.bytes,
		ActivityID:     j.id,
		AudienceListID: j.listID,
		Dropped:        drop,
	}
	if j.kind != profileJob {
		rec.Scope = Scope{AppID: j.appID}
	}
	if v.NumericIDs {
		rec.ActivityID = strconv.FormatInt(j.seq, 10)
	}
	s.uploads = append(s.uploads, rec)
	s.mu.Unlock()

	if drop {
		dropConnection(w, r)
		return
	}
	status := a.created
	if status == 0 {
		status = http.StatusAccepted
	}
	s.writeAPIJSON(w, status, map[string]any{"activity_id": j.activityID(v)})
}

// baseURL is where the simulator is reachable from the client, for the
// error_log URLs: the configured public URL, else the request's own host.
func (s *Server) baseURL(r *http.Request) string {
	if s.public != "" {
		return s.public
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// errorLogURL is the absolute URL of a job's error log.
func (s *Server) errorLogURL(r *http.Request, activityID string) string {
	return s.baseURL(r) + "/_sim/errors/" + activityID + ".json"
}
