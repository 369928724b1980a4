package sim

import (
	"net/http"
	"strconv"
	"strings"
)

// The dashboard actions change lists the way a person in the Localytics
// dashboard does: outside the API, so they spend no budget, suffer no faults
// and are no calls. A client learns of them only through A6, which is what
// drift detection has to be tested against.

// DeleteListInDashboard deletes list id as A5 would. It reports false for an
// unknown list.
func (s *Server) DeleteListInDashboard(id int64) bool {
	s.processDue(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lists[id] == nil {
		return false
	}
	delete(s.lists, id)
	return true
}

// RenameListInDashboard renames list id as A4 would: the name is trimmed and
// updated_at moves, the version does not. It reports false for an unknown list
// or an empty name.
func (s *Server) RenameListInDashboard(id int64, name string) bool {
	_, e := s.renameInDashboard(id, name)
	return e == nil
}

func (s *Server) renameInDashboard(id int64, name string) (AudienceList, *apiError) {
	s.processDue(true)
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lists[id]
	if l == nil {
		return AudienceList{}, errorf(http.StatusNotFound, "unknown audience list id")
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return AudienceList{}, errorf(http.StatusBadRequest, "missing the name query parameter")
	}
	l.name = name
	l.updatedAt = now
	return l.export(), nil
}

// handleDashboardDelete is DELETE /_sim/audiences/{id}.
func (s *Server) handleDashboardDelete(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || !s.DeleteListInDashboard(id) {
		writeError(w, errorf(http.StatusNotFound, "unknown audience list id"))
		return
	}
	writeSimJSON(w, map[string]int64{"deleted": id})
}

// handleDashboardRename is PUT /_sim/audiences/{id}/name?name=NEW; it answers
// with the renamed list.
func (s *Server) handleDashboardRename(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, errorf(http.StatusNotFound, "unknown audience list id"))
		return
	}
	l, e := s.renameInDashboard(id, r.URL.Query().Get("name"))
	if e != nil {
		writeError(w, e)
		return
	}
	writeSimJSON(w, l)
}
