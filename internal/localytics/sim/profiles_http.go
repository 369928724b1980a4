package sim

import (
	"net/http"
	"strconv"
	"strings"
)

// handleProfileUpload is P1: POST /v1/imports/profiles/upload.
func (s *Server) handleProfileUpload(w http.ResponseWriter, r *http.Request) {
	arrival := s.clock.Now()
	infoFrom(r.Context()).endpoint = EndpointProfileUpload
	acct, e := s.authenticate(r)
	if e != nil {
		challenge(w, e)
		return
	}
	if t := s.admit(acct.Key, EndpointProfileUpload, arrival); t != nil {
		writeThrottled(w, t)
		return
	}
	form, e := readUploadForm(w, r, s.limits.MaxUploadBytes, s.newSpool, func(fields map[string]string) *apiError {
		noteApp(r, fields["app_id"])
		_, _, e := profileUploadParams(acct, fields, true)
		return e
	})
	var (
		scope  Scope
		format string
	)
	if e == nil {
		noteApp(r, form.fields["app_id"])
		scope, format, e = profileUploadParams(acct, form.fields, false)
	}
	if e == nil && form.file == nil {
		e = errorf(http.StatusBadRequest, "missing the file part")
	}
	if e != nil {
		form.discard()
		s.releaseUpload(acct.Key)
		writeError(w, e)
		return
	}
	s.accept(w, r, acceptance{
		acct:     acct,
		arrival:  arrival,
		endpoint: EndpointProfileUpload,
		job:      &job{kind: profileJob, scope: scope, format: format},
		form:     form,
	})
}

// profileUploadParams validates P1's fields: exactly one of org_id and app_id,
// and format json or csv (docs/localytics-api.md, P1). With partial set, missing fields are
// not yet an error: the rest of the form may still bring them.
func profileUploadParams(acct Account, f map[string]string, partial bool) (Scope, string, *apiError) {
	var sc Scope
	org, hasOrg := f["org_id"]
	app, hasApp := f["app_id"]
	switch {
	case hasOrg && hasApp:
		return sc, "", errorf(http.StatusBadRequest, "give exactly one of org_id and app_id, not both")
	case !hasOrg && !hasApp && !partial:
		return sc, "", errorf(http.StatusBadRequest, "missing org_id or app_id")
	case hasOrg:
		id, err := strconv.ParseInt(strings.TrimSpace(org), 10, 64)
		if err != nil || id <= 0 {
			return sc, "", errorf(http.StatusBadRequest, "org_id must be a positive integer")
		}
		sc.OrgID = id
	case hasApp:
		sc.AppID = strings.TrimSpace(app)
		if sc.AppID == "" {
			return sc, "", errorf(http.StatusBadRequest, "app_id is empty")
		}
	}
	format, hasFormat := f["format"]
	format = strings.ToLower(strings.TrimSpace(format))
	switch {
	case hasFormat && format != "json" && format != "csv":
		return sc, "", errorf(http.StatusBadRequest, `format must be "json" or "csv"`)
	case !hasFormat && !partial:
		return sc, "", errorf(http.StatusBadRequest, "missing format")
	}
	if (hasOrg || hasApp) && !acct.mayUseScope(sc) {
		return sc, "", forbiddenScope(sc)
	}
	return sc, format, nil
}

// profileJobView is P2's job object (docs/localytics-api.md, "Jobs").
type profileJobView struct {
	Status           string  `json:"status"`
	ErrorLog         *string `json:"error_log"`
	Target           any     `json:"target,omitempty"`
	Scopet           any     `json:"scopet,omitempty"`
	UploadStatistics any     `json:"upload_statistics"`
}

// handleProfileStatus is P2: GET /v1/imports/profiles/status/{activity_id}.
func (s *Server) handleProfileStatus(w http.ResponseWriter, r *http.Request) {
	infoFrom(r.Context()).endpoint = EndpointProfileStatus
	acct, e := s.authenticate(r)
	if e != nil {
		challenge(w, e)
		return
	}
	if t := s.admit(acct.Key, EndpointProfileStatus, s.clock.Now()); t != nil {
		writeThrottled(w, t)
		return
	}
	s.processDue(false)
	now := s.clock.Now()

	s.mu.Lock()
	j := s.lookupJobLocked(r.PathValue("activity_id"), profileJob)
	if j == nil {
		s.mu.Unlock()
		writeError(w, errorf(http.StatusNotFound, "unknown activity id"))
		return
	}
	if !acct.mayUseScope(j.scope) {
		s.mu.Unlock()
		writeError(w, forbiddenScope(j.scope))
		return
	}
	v := s.variants
	status := j.statusAt(now)
	stats := j.stats
	id := j.id
	s.mu.Unlock()

	swap := v.SwapNumberTypes
	view := profileJobView{Status: statusWord(status, v)}
	target := map[string]any{"app_id": j.scope.AppID}
	if j.scope.AppID == "" {
		target = map[string]any{"org_id": counter(j.scope.OrgID, swap)}
	}
	if v.Scopet {
		view.Scopet = target
	} else {
		view.Target = target
	}
	if status == statusCompleted || status == statusFailed {
		u := s.errorLogURL(r, id)
		view.ErrorLog = &u
		view.UploadStatistics = map[string]any{
			"successful_imports":      counter(int64(stats.successful), swap),
			"parsed_imports":          counter(int64(stats.parsed), swap),
			"failed_imports":          counter(int64(stats.failed()), swap),
			"total_number_of_imports": counter(int64(stats.total), swap),
		}
	}
	s.writeAPIJSON(w, http.StatusOK, view)
}
