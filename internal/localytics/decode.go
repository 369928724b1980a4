package localytics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The vendor's responses are loosely specified (docs/localytics-api.md, "Tolerate"). The
// rule here: a value we report (a counter, an id, a time) is accepted in every
// representation that carries it (number, numeric string, several time
// layouts) and refused when it carries none, so that a changed contract shows
// up as a DecodeError instead of a silent zero; free text (error_log,
// error_reason) and the informational target scope are taken as they come.
// What ends up in an object's status is bounded (ids.go): an activity id out
// of bounds is refused, an audience list id too, an error_log URL dropped.

// flexInt is a counter or number the API sends as a JSON number, a numeric
// string ("500"), or null.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	v, err := parseFlexInt(b)
	if err != nil {
		return err
	}
	*n = flexInt(v)
	return nil
}

func parseFlexInt(b []byte) (int64, error) {
	s, isString, err := scalarText(b)
	if err != nil {
		return 0, err
	}
	if s == "" {
		return 0, nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	// 99.0 and "1e3" are integers written as floats.
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		if isString {
			return 0, fmt.Errorf("%q is not an integer", s)
		}
		return 0, fmt.Errorf("%s is not an integer", s)
	}
	return int64(f), nil
}

// flexString is an id the API sends as a string or a number (34351 or
// "34351"); null is the empty string.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	v, isString, err := scalarText(b)
	if err != nil {
		return err
	}
	if !isString && v != "" {
		// Normalise 3.4351e4 and 34351.0 to 34351 so ids compare equal
		// whichever way they were written.
		if i, err := parseFlexInt(b); err == nil {
			v = strconv.FormatInt(i, 10)
		}
	}
	*s = flexString(v)
	return nil
}

// flexText is free text: a string, null, or anything else kept as compact
// JSON, because a message is worth showing whatever its shape.
type flexText string

func (t *flexText) UnmarshalJSON(b []byte) error {
	if v, _, err := scalarText(b); err == nil {
		*t = flexText(v)
		return nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		return err
	}
	*t = flexText(compact.String())
	return nil
}

// flexTime is a timestamp in any of timeLayouts, or Unix seconds (or
// milliseconds) as a number or numeric string; null and "" are the zero time.
type flexTime time.Time

// timeLayouts are the timestamp shapes seen or plausible: the vendor's own
// zone-less "2017-08-15T18:30:08" (read as UTC), RFC 3339, the same with a
// space, and HTTP dates. Go accepts fractional seconds after the seconds field
// even when a layout does not show them.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05 -0700 MST",
	time.RFC1123,
	time.RFC1123Z,
	time.RFC850,
	time.ANSIC,
	"2006-01-02",
}

func (t *flexTime) UnmarshalJSON(b []byte) error {
	s, isString, err := scalarText(b)
	if err != nil {
		return err
	}
	if s == "" {
		*t = flexTime{}
		return nil
	}
	if epoch, err := parseFlexInt(b); err == nil {
		*t = flexTime(fromEpoch(epoch))
		return nil
	}
	if !isString {
		return fmt.Errorf("%s is not a time", s)
	}
	for _, layout := range timeLayouts {
		if parsed, err := time.Parse(layout, s); err == nil {
			*t = flexTime(parsed.UTC())
			return nil
		}
	}
	return fmt.Errorf("%q is not a time in any known layout", s)
}

// fromEpoch reads Unix seconds, or milliseconds when the number is too large
// to be seconds of this era.
func fromEpoch(n int64) time.Time {
	const maxSeconds = 1e11 // year 5138
	if n > maxSeconds || n < -maxSeconds {
		return time.UnixMilli(n).UTC()
	}
	return time.Unix(n, 0).UTC()
}

// scalarText returns the text of a JSON string (trimmed), number, or null
// (""), and refuses booleans, objects and arrays.
func scalarText(b []byte) (text string, isString bool, err error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return "", false, nil
	}
	switch c := b[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", false, err
		}
		return strings.TrimSpace(s), true, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return string(b), false, nil
	default:
		return "", false, fmt.Errorf("expected a string or a number, got %s", kindOfJSON(c))
	}
}

func kindOfJSON(first byte) string {
	switch first {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	default:
		return "invalid JSON"
	}
}

// JobStatus is the state of an import job. Only these four values are ever
// returned: the API's status is matched in any letter case, and a value the
// client does not know is read as JobPending, so that a new intermediate
// state never looks like a failure.
type JobStatus string

// The four job states of docs/localytics-api.md; a job moves Pending → Running →
// Failed or Completed.
const (
	JobPending   JobStatus = "Pending"
	JobRunning   JobStatus = "Running"
	JobFailed    JobStatus = "Failed"
	JobCompleted JobStatus = "Completed"
)

// Terminal reports whether the job will not change any more.
func (s JobStatus) Terminal() bool { return s == JobFailed || s == JobCompleted }

func parseJobStatus(raw string) JobStatus {
	raw = strings.TrimSpace(raw)
	for _, known := range []JobStatus{JobPending, JobRunning, JobFailed, JobCompleted} {
		if strings.EqualFold(raw, string(known)) {
			return known
		}
	}
	return JobPending
}

// Scope is what a profile import applies to: an organisation or one app,
// never both.
type Scope struct {
	// OrgID is the organisation id, zero when the scope is an app.
	OrgID int64
	// AppID is the app id, empty when the scope is an organisation.
	AppID string
}

// IsZero reports whether neither id is set.
func (s Scope) IsZero() bool { return s.OrgID == 0 && s.AppID == "" }

func (s Scope) validate() error {
	switch {
	case s.OrgID != 0 && s.AppID != "":
		return fmt.Errorf("%w: scope has both an org id and an app id", ErrInvalidRequest)
	case s.IsZero():
		return fmt.Errorf("%w: scope has neither an org id nor an app id", ErrInvalidRequest)
	case s.OrgID < 0:
		return fmt.Errorf("%w: org id %d is negative", ErrInvalidRequest, s.OrgID)
	}
	return nil
}

// ProfileJob is the state of a profile import (P2).
type ProfileJob struct {
	// Status is one of the four JobStatus values.
	Status JobStatus
	// RawStatus is the status exactly as the API sent it, for logs when it is
	// not one of the four.
	RawStatus string
	// ErrorLogURL lists the rows that failed; empty until the job is terminal.
	ErrorLogURL string
	// Target is the scope the API reports, read from "target" or, as the
	// vendor's page misspells it, "scopet"; zero when neither was sent.
	Target Scope
	// Stats are zero until the API reports upload_statistics.
	Stats ProfileStats
}

// ProfileStats are the counters of a profile import.
type ProfileStats struct {
	Successful int64 // successful_imports
	Parsed     int64 // parsed_imports
	Failed     int64 // failed_imports
	Total      int64 // total_number_of_imports
}

// AudienceJob is the state of an audience list import (A2).
type AudienceJob struct {
	// Status is one of the four JobStatus values.
	Status JobStatus
	// RawStatus is the status exactly as the API sent it.
	RawStatus string
	// ErrorReason says why a Failed job failed.
	ErrorReason string
	// AppID is the API's app_uuid.
	AppID string
	// CreatedAt and UpdatedAt are zero when not sent.
	CreatedAt, UpdatedAt time.Time
	// Stats are zero until the API reports upload_statistics.
	Stats AudienceStats
}

// AudienceStats are the counters and ids of a finished audience import; the
// vendor sends all of them as strings.
type AudienceStats struct {
	TotalLines      int64
	FailedLines     int64
	SuccessfulLines int64
	AudienceID      string
	AudienceListID  string
}

// AudienceList is one audience list of an app (A6).
type AudienceList struct {
	ID          string
	Name        string
	AppID       string
	Version     int64
	RecordCount int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Wire shapes. encoding/json matches keys case-insensitively and ignores
// unknown ones, which covers "extra fields".

type wireActivity struct {
	ActivityID flexString `json:"activity_id"`
}

type wireProfileJob struct {
	Status   flexString        `json:"status"`
	ErrorLog flexText          `json:"error_log"`
	Target   wireScope         `json:"target"`
	Scopet   wireScope         `json:"scopet"`
	Stats    *wireProfileStats `json:"upload_statistics"`
}

type wireProfileStats struct {
	Successful flexInt `json:"successful_imports"`
	Parsed     flexInt `json:"parsed_imports"`
	Failed     flexInt `json:"failed_imports"`
	Total      flexInt `json:"total_number_of_imports"`
}

// wireScope is lenient: the target is informational (the caller knows the
// scope it uploaded to), so a shape the client does not understand is
// ignored rather than failing the status poll.
type wireScope struct{ Scope }

func (w *wireScope) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		return nil
	}
	for name, raw := range fields {
		switch strings.ToLower(name) {
		case "org_id":
			if v, err := parseFlexInt(raw); err == nil {
				w.OrgID = v
			}
		case fieldAppID:
			var v flexString
			if v.UnmarshalJSON(raw) == nil {
				w.AppID = string(v)
			}
		}
	}
	return nil
}

type wireAudienceJob struct {
	Status      flexString         `json:"status"`
	ErrorReason flexText           `json:"error_reason"`
	AppUUID     flexString         `json:"app_uuid"`
	CreatedAt   flexTime           `json:"created_at"`
	UpdatedAt   flexTime           `json:"updated_at"`
	Stats       *wireAudienceStats `json:"upload_statistics"`
}

type wireAudienceStats struct {
	TotalLines      flexInt    `json:"total_lines"`
	FailedLines     flexInt    `json:"failed_lines"`
	SuccessfulLines flexInt    `json:"successful_lines"`
	AudienceID      flexString `json:"audience_id"`
	AudienceListID  flexString `json:"audience_list_id"`
}

type wireAudienceList struct {
	ID          *flexString `json:"id"`
	Name        flexText    `json:"name"`
	AppID       flexString  `json:"app_id"`
	Version     flexInt     `json:"version"`
	RecordCount flexInt     `json:"record_count"`
	CreatedAt   flexTime    `json:"created_at"`
	UpdatedAt   flexTime    `json:"updated_at"`
}

// decodeActivityID reads the {"activity_id": ...} answer of P1, A1 and A3,
// and refuses an id that is empty, too long or oddly made (see
// checkActivityID) before anyone stores it.
func decodeActivityID(body []byte) (string, error) {
	var w wireActivity
	if err := unmarshalObject(body, &w); err != nil {
		return "", err
	}
	if err := checkActivityID(string(w.ActivityID)); err != nil {
		return "", err
	}
	return string(w.ActivityID), nil
}

// decodeProfileJob reads a P2 job object.
func decodeProfileJob(body []byte) (ProfileJob, error) {
	var w wireProfileJob
	if err := unmarshalObject(body, &w); err != nil {
		return ProfileJob{}, err
	}
	job := ProfileJob{
		Status:      parseJobStatus(string(w.Status)),
		RawStatus:   string(w.Status),
		ErrorLogURL: string(w.ErrorLog),
		Target:      w.Target.Scope,
	}
	if len(job.ErrorLogURL) > MaxErrorLogURLLength {
		// The status cannot hold it, and a cut URL leads nowhere; the job's
		// state and counts matter more than the pointer to its errors.
		job.ErrorLogURL = ""
	}
	if job.Target.IsZero() {
		job.Target = w.Scopet.Scope
	}
	if s := w.Stats; s != nil {
		job.Stats = ProfileStats{
			Successful: int64(s.Successful),
			Parsed:     int64(s.Parsed),
			Failed:     int64(s.Failed),
			Total:      int64(s.Total),
		}
	}
	return job, nil
}

// decodeAudienceJob reads an A2 job object.
func decodeAudienceJob(body []byte) (AudienceJob, error) {
	var w wireAudienceJob
	if err := unmarshalObject(body, &w); err != nil {
		return AudienceJob{}, err
	}
	job := AudienceJob{
		Status:      parseJobStatus(string(w.Status)),
		RawStatus:   string(w.Status),
		ErrorReason: string(w.ErrorReason),
		AppID:       string(w.AppUUID),
		CreatedAt:   time.Time(w.CreatedAt),
		UpdatedAt:   time.Time(w.UpdatedAt),
	}
	if s := w.Stats; s != nil {
		if err := checkAudienceListID(string(s.AudienceListID)); err != nil {
			return AudienceJob{}, err
		}
		job.Stats = AudienceStats{
			TotalLines:      int64(s.TotalLines),
			FailedLines:     int64(s.FailedLines),
			SuccessfulLines: int64(s.SuccessfulLines),
			AudienceID:      string(s.AudienceID),
			AudienceListID:  string(s.AudienceListID),
		}
	}
	return job, nil
}

// decodeAudienceLists reads the A6 array. A list without an id is an error,
// not skipped: the operator detects drift from this answer, and a list it
// cannot see would look deleted and be created a second time.
func decodeAudienceLists(body []byte) ([]AudienceList, error) {
	var wire []wireAudienceList
	if err := unmarshalJSON(body, &wire); err != nil {
		return nil, err
	}
	lists := make([]AudienceList, 0, len(wire))
	for i, w := range wire {
		if w.ID == nil || *w.ID == "" {
			return nil, fmt.Errorf("audience list %d has no id", i)
		}
		if err := checkAudienceListID(string(*w.ID)); err != nil {
			return nil, fmt.Errorf("audience list %d: %w", i, err)
		}
		lists = append(lists, AudienceList{
			ID:          string(*w.ID),
			Name:        string(w.Name),
			AppID:       string(w.AppID),
			Version:     int64(w.Version),
			RecordCount: int64(w.RecordCount),
			CreatedAt:   time.Time(w.CreatedAt),
			UpdatedAt:   time.Time(w.UpdatedAt),
		})
	}
	return lists, nil
}

// unmarshalObject decodes a JSON object; a bare null or any other value is
// not a job or an activity.
func unmarshalObject(body []byte, v any) error {
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(body, utf8BOM))
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("the body is not a JSON object")
	}
	return unmarshalJSON(body, v)
}

var utf8BOM = []byte("\xef\xbb\xbf")

// unmarshalJSON is json.Unmarshal that also accepts a byte-order mark and
// trailing commas, as in the vendor's own sample response
// ("total_number_of_imports": 100, }).
func unmarshalJSON(body []byte, v any) error {
	body = bytes.TrimPrefix(body, utf8BOM)
	err := json.Unmarshal(body, v)
	var syntaxErr *json.SyntaxError
	if err == nil || !errors.As(err, &syntaxErr) {
		return err
	}
	fixed, changed := stripTrailingCommas(body)
	if !changed {
		return err
	}
	// json.Unmarshal checks the whole input before storing anything, so v is
	// untouched by the first attempt.
	if json.Unmarshal(fixed, v) != nil {
		return err
	}
	return nil
}

// stripTrailingCommas drops each comma, outside strings, that is followed
// (after white space) by a closing bracket or brace.
func stripTrailingCommas(b []byte) ([]byte, bool) {
	out := make([]byte, 0, len(b))
	inString, escaped, changed := false, false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			out = append(out, c)
			continue
		}
		if c == '"' {
			inString = true
		}
		if c == ',' {
			j := i + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
				j++
			}
			if j < len(b) && (b[j] == '}' || b[j] == ']') {
				changed = true
				continue
			}
		}
		out = append(out, c)
	}
	return out, changed
}
