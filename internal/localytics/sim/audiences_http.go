package sim

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// vendorTime is how the vendor writes times in audience replies: UTC, no zone.
const vendorTime = "2006-01-02T15:04:05"

// audienceCall authenticates an audience call (A1–A6) and spends its budget. It
// reports false when it has answered the request already.
func (s *Server) audienceCall(w http.ResponseWriter, r *http.Request, ep Endpoint) (Account, time.Time, bool) {
	arrival := s.clock.Now()
	infoFrom(r.Context()).endpoint = ep
	acct, e := s.authenticate(r)
	if e != nil {
		challenge(w, e)
		return acct, arrival, false
	}
	if t := s.admit(acct.Key, ep, arrival); t != nil {
		writeThrottled(w, t)
		return acct, arrival, false
	}
	return acct, arrival, true
}

// audienceFields validates the fields A1 and A3 share: app_id (with access)
// and identifier_type. With partial set, missing fields are not yet an error.
func audienceFields(acct Account, f map[string]string, partial bool) (string, *apiError) {
	app, hasApp := f["app_id"]
	app = strings.TrimSpace(app)
	switch {
	case !hasApp && !partial:
		return "", errorf(http.StatusBadRequest, "missing app_id")
	case hasApp && app == "":
		return "", errorf(http.StatusBadRequest, "app_id is empty")
	case hasApp && !acct.mayUseApp(app):
		return "", forbiddenScope(Scope{AppID: app})
	}
	idType, hasType := f["identifier_type"]
	switch {
	case !hasType && !partial:
		return "", errorf(http.StatusBadRequest, "missing identifier_type")
	case hasType && strings.TrimSpace(idType) != "customer_id":
		return "", errorf(http.StatusBadRequest, `identifier_type must be "customer_id"`)
	}
	return app, nil
}

// handleAudienceCreate is A1: POST /v1/imports/audiences/list/.
func (s *Server) handleAudienceCreate(w http.ResponseWriter, r *http.Request) {
	acct, arrival, ok := s.audienceCall(w, r, EndpointAudienceCreate)
	if !ok {
		return
	}
	params := func(f map[string]string, partial bool) (string, string, *apiError) {
		noteApp(r, f["app_id"])
		app, e := audienceFields(acct, f, partial)
		if e != nil {
			return "", "", e
		}
		name, hasName := f["audience_name"]
		name = strings.TrimSpace(name)
		if (hasName || !partial) && name == "" {
			return "", "", errorf(http.StatusBadRequest, "missing audience_name")
		}
		if app != "" {
			// Refuse the 501st list before its file is read; accept checks
			// again, as another create may take the last place meanwhile.
			s.mu.Lock()
			defer s.mu.Unlock()
			if e := s.checkListCapLocked(app); e != nil {
				return "", "", e
			}
		}
		return app, name, nil
	}
	form, e := readUploadForm(w, r, s.limits.MaxUploadBytes, s.newSpool, func(f map[string]string) *apiError {
		_, _, e := params(f, true)
		return e
	})
	var app, name string
	if e == nil {
		app, name, e = params(form.fields, false)
	}
	if e == nil && form.file == nil {
		e = errorf(http.StatusBadRequest, "missing the file part")
	}
	if e != nil {
		form.discard()
		writeError(w, e)
		return
	}
	j := &job{kind: audienceCreateJob, appID: app, audienceName: name}
	s.accept(w, r, acceptance{
		acct:     acct,
		arrival:  arrival,
		endpoint: EndpointAudienceCreate,
		job:      j,
		form:     form,
		created:  s.createStatus(),
		check: func() *apiError {
			if e := s.checkListCapLocked(app); e != nil {
				return e
			}
			s.creating[app]++
			j.listID = s.nextListID
			s.nextListID++
			j.audienceID = s.nextAudID
			s.nextAudID++
			return nil
		},
	})
}

// checkListCapLocked refuses a create when the app's lists are at the cap.
// Creates still in flight count, so that racing creates cannot overshoot it.
func (s *Server) checkListCapLocked(app string) *apiError {
	inUse := len(s.listsOfAppLocked(app)) + s.creating[app]
	if limit := s.limits.AudienceListsPerApp; limit >= 0 && inUse >= limit {
		return errorf(http.StatusBadRequest, "audience list limit reached: app %s already has %d audience lists", app, inUse)
	}
	return nil
}

func (s *Server) createStatus() int {
	if s.currentVariants().CreateOK {
		return http.StatusOK
	}
	return http.StatusAccepted
}

// handleAudienceReplace is A3: PUT /v1/imports/audiences/list/{list_id}.
func (s *Server) handleAudienceReplace(w http.ResponseWriter, r *http.Request) {
	acct, arrival, ok := s.audienceCall(w, r, EndpointAudienceUpdate)
	if !ok {
		return
	}
	s.processDue(false)
	pathID := r.PathValue("list_id")
	listID, err := strconv.ParseInt(pathID, 10, 64)
	if err != nil {
		writeError(w, errorf(http.StatusNotFound, "unknown audience list id"))
		return
	}
	// listOf checks, under mu, that the list exists in the form's app.
	listOf := func(app string) *apiError {
		if l := s.lists[listID]; l == nil || l.appID != app {
			return errorf(http.StatusNotFound, "unknown audience list id")
		}
		return nil
	}
	params := func(f map[string]string, partial bool) (string, *apiError) {
		noteApp(r, f["app_id"])
		app, e := audienceFields(acct, f, partial)
		if e != nil {
			return "", e
		}
		formID, hasID := f["audience_list_id"]
		switch {
		case !hasID && !partial:
			return "", errorf(http.StatusBadRequest, "missing audience_list_id")
		case hasID && strings.TrimSpace(formID) != pathID:
			return "", errorf(http.StatusBadRequest, "audience_list_id does not match the URL")
		}
		if app != "" {
			s.mu.Lock()
			defer s.mu.Unlock()
			return app, listOf(app)
		}
		return app, nil
	}
	form, e := readUploadForm(w, r, s.limits.MaxUploadBytes, s.newSpool, func(f map[string]string) *apiError {
		_, e := params(f, true)
		return e
	})
	var app string
	if e == nil {
		app, e = params(form.fields, false)
	}
	if e == nil && form.file == nil {
		e = errorf(http.StatusBadRequest, "missing the file part")
	}
	if e != nil {
		form.discard()
		writeError(w, e)
		return
	}
	j := &job{kind: audienceReplaceJob, appID: app, listID: listID}
	s.accept(w, r, acceptance{
		acct:     acct,
		arrival:  arrival,
		endpoint: EndpointAudienceUpdate,
		job:      j,
		form:     form,
		check: func() *apiError {
			// The list may have been deleted while the file streamed in.
			if e := listOf(app); e != nil {
				return e
			}
			j.audienceID = s.lists[listID].audienceID
			return nil
		},
	})
}

// ownedListLocked finds a list by the path's id and checks the key may use its
// app. The request names no app, so a list in an app the key cannot use is 403,
// not 404: an operator told "gone" would drop its finalizer over a credentials
// problem. The list's app goes into the call record either way.
func (s *Server) ownedListLocked(r *http.Request, acct Account) (*audienceList, *apiError) {
	id, err := strconv.ParseInt(r.PathValue("list_id"), 10, 64)
	l := s.lists[id]
	if err != nil || l == nil {
		return nil, errorf(http.StatusNotFound, "unknown audience list id")
	}
	noteApp(r, l.appID)
	if !acct.mayUseApp(l.appID) {
		return nil, forbiddenScope(Scope{AppID: l.appID})
	}
	return l, nil
}

// handleAudienceRename is A4: PUT /v1/imports/audiences/list/{list_id}/name?name=NEW.
// Any body is ignored: the vendor's python example sends one.
func (s *Server) handleAudienceRename(w http.ResponseWriter, r *http.Request) {
	acct, _, ok := s.audienceCall(w, r, EndpointAudienceRename)
	if !ok {
		return
	}
	s.processDue(false)
	now := s.clock.Now()
	s.mu.Lock()
	l, e := s.ownedListLocked(r, acct)
	name := strings.TrimSpace(r.URL.Query().Get("name"))
	if e == nil && name == "" {
		e = errorf(http.StatusBadRequest, "missing the name query parameter")
	}
	if e != nil {
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	l.name = name
	l.updatedAt = now
	view := listView(l, s.variants)
	s.mu.Unlock()
	s.writeAPIJSON(w, http.StatusOK, view)
}

// handleAudienceDelete is A5: DELETE /v1/imports/audiences/list/{list_id}.
// It answers 200 with an empty body (204 with Variants.DeleteNoContent).
func (s *Server) handleAudienceDelete(w http.ResponseWriter, r *http.Request) {
	acct, _, ok := s.audienceCall(w, r, EndpointAudienceDelete)
	if !ok {
		return
	}
	s.processDue(false)
	s.mu.Lock()
	l, e := s.ownedListLocked(r, acct)
	if e != nil {
		s.mu.Unlock()
		writeError(w, e)
		return
	}
	delete(s.lists, l.id)
	noContent := s.variants.DeleteNoContent
	s.mu.Unlock()
	if noContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// handleAudienceListByApp is A6: GET /v1/imports/audiences/list/app/{app_id}.
func (s *Server) handleAudienceListByApp(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app_id")
	noteApp(r, app)
	acct, _, ok := s.audienceCall(w, r, EndpointAudienceByApp)
	if !ok {
		return
	}
	if !acct.mayUseApp(app) {
		writeError(w, forbiddenScope(Scope{AppID: app}))
		return
	}
	s.processDue(false)
	s.mu.Lock()
	views := []map[string]any{}
	for _, l := range s.listsOfAppLocked(app) {
		views = append(views, listView(l, s.variants))
	}
	s.mu.Unlock()
	s.writeAPIJSON(w, http.StatusOK, views)
}

// listView is a list as A6 shows it: ids, versions and counts are numbers in
// the vendor's sample (strings with Variants.SwapNumberTypes).
func listView(l *audienceList, v Variants) map[string]any {
	swap := v.SwapNumberTypes
	return map[string]any{
		"id":           counter(l.id, swap),
		"name":         l.name,
		"app_id":       l.appID,
		"version":      counter(int64(l.version), swap),
		"record_count": counter(int64(len(l.members)), swap),
		"created_at":   l.createdAt.UTC().Format(vendorTime),
		"updated_at":   l.updatedAt.UTC().Format(vendorTime),
	}
}

// audienceJobView is A2's job object (docs/localytics-api.md, "Jobs").
type audienceJobView struct {
	Status           string  `json:"status"`
	ErrorReason      *string `json:"error_reason"`
	AppUUID          string  `json:"app_uuid"`
	CreatedAt        string  `json:"created_at"`
	UpdatedAt        string  `json:"updated_at"`
	UploadStatistics any     `json:"upload_statistics"`
}

// handleAudienceStatus is A2: GET /v1/imports/audiences/list/status/{activity_id}.
func (s *Server) handleAudienceStatus(w http.ResponseWriter, r *http.Request) {
	acct, _, ok := s.audienceCall(w, r, EndpointAudienceStatus)
	if !ok {
		return
	}
	s.processDue(false)
	view, e := s.audienceJobStatus(acct, r.PathValue("activity_id"), s.clock.Now())
	if e != nil {
		writeError(w, e)
		return
	}
	s.writeAPIJSON(w, http.StatusOK, view)
}

// audienceJobStatus renders an audience job as the vendor does at now.
func (s *Server) audienceJobStatus(acct Account, activityID string, now time.Time) (*audienceJobView, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.lookupJobLocked(activityID, audienceCreateJob, audienceReplaceJob)
	if j == nil {
		return nil, errorf(http.StatusNotFound, "unknown activity id")
	}
	if !acct.mayUseApp(j.appID) {
		return nil, forbiddenScope(Scope{AppID: j.appID})
	}
	v := s.variants
	status := j.statusAt(now)
	view := &audienceJobView{
		Status:    statusWord(status, v),
		AppUUID:   j.appID,
		CreatedAt: j.acceptedAt.UTC().Format(vendorTime),
		UpdatedAt: j.updatedAt(now).UTC().Format(vendorTime),
	}
	if status == statusFailed {
		reason := j.failReason
		view.ErrorReason = &reason
	}
	if status == statusCompleted || status == statusFailed {
		str := !v.SwapNumberTypes // the vendor writes these as strings
		stats := map[string]any{
			"total_lines":      counter(int64(j.stats.total), str),
			"failed_lines":     counter(int64(j.stats.failed()), str),
			"successful_lines": counter(int64(j.stats.successful), str),
		}
		// A failed create made no list, so it reports no ids to act on.
		if status == statusCompleted || j.kind == audienceReplaceJob {
			stats["audience_id"] = counter(j.audienceID, str)
			stats["audience_list_id"] = counter(j.listID, str)
		}
		view.UploadStatistics = stats
	}
	return view, nil
}
