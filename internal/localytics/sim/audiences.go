package sim

import (
	"cmp"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"time"
)

// audienceList is one list as the simulator holds it. A list exists from the
// moment its create job completes until it is deleted.
type audienceList struct {
	id         int64
	audienceID int64
	name       string
	appID      string
	version    int
	members    map[string]struct{}
	createdAt  time.Time
	updatedAt  time.Time
}

// export copies the list for callers outside the lock.
func (l *audienceList) export() AudienceList {
	return AudienceList{
		ID:          l.id,
		AudienceID:  l.audienceID,
		Name:        l.name,
		AppID:       l.appID,
		Version:     l.version,
		RecordCount: len(l.members),
		CreatedAt:   l.createdAt,
		UpdatedAt:   l.updatedAt,
		Members:     slices.Sorted(maps.Keys(l.members)),
	}
}

// listsOfAppLocked returns the app's lists ordered by id.
func (s *Server) listsOfAppLocked(appID string) []*audienceList {
	var out []*audienceList
	for _, l := range s.lists {
		if l.appID == appID {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b *audienceList) int { return cmp.Compare(a.id, b.id) })
	return out
}

// processAudienceJob reads an audience file (JSON Lines of {"customer_id"})
// and returns the commit that creates or replaces the list when the job
// completes. The whole member set is built before the commit: a replace swaps
// the list in one step, never leaving it half-written.
func (s *Server) processAudienceJob(j *job, r io.Reader) (string, func() string) {
	members := map[string]struct{}{}
	err := eachJSONLine(r, func(batch []profileLine) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, pl := range batch {
			j.stats.total++
			if pl.err != "" {
				j.addError(pl.line, pl.customerID, pl.err)
				continue
			}
			j.stats.parsed++
			j.stats.successful++
			members[pl.customerID] = struct{}{}
		}
	}, parseAudienceLine)
	if err != nil {
		return err.Error(), nil
	}
	s.mu.Lock()
	valid := j.stats.successful
	s.mu.Unlock()
	if valid == 0 {
		return "the file has no valid lines", nil
	}
	return "", func() string { return s.commitAudienceLocked(j, members) }
}

// commitAudienceLocked creates or replaces the job's list.
func (s *Server) commitAudienceLocked(j *job, members map[string]struct{}) string {
	now := s.clock.Now()
	if j.kind == audienceCreateJob {
		s.lists[j.listID] = &audienceList{
			id:         j.listID,
			audienceID: j.audienceID,
			name:       j.audienceName,
			appID:      j.appID,
			version:    1,
			members:    members,
			createdAt:  now,
			updatedAt:  now,
		}
		return ""
	}
	l := s.lists[j.listID]
	if l == nil {
		return "the audience list was deleted while the job ran"
	}
	l.members = members
	l.version++
	l.updatedAt = now
	return ""
}

// parseAudienceLine validates one line of an audience file.
func parseAudienceLine(n int, line []byte) profileLine {
	var raw struct {
		CustomerID json.RawMessage `json:"customer_id"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return profileLine{line: n, err: "invalid JSON: " + err.Error()}
	}
	id, err := parseCustomerID(raw.CustomerID)
	if err != nil {
		return profileLine{line: n, err: err.Error()}
	}
	return profileLine{line: n, customerID: id}
}
