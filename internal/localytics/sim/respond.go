package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is a refusal with its HTTP status. Its text is the whole reply body,
// short text/plain, because the vendor's error bodies are undocumented and the
// client must never need to parse them (docs/localytics-api.md, "Budgets").
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// writeError answers with a short text/plain body.
func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if e.status == http.StatusRequestEntityTooLarge {
		// The client may still be sending the rest of a large file; closing
		// tells it not to reuse the connection.
		h.Set("Connection", "close")
	}
	w.WriteHeader(e.status)
	_, _ = fmt.Fprintln(w, e.msg)
}

// writeAPIJSON answers a vendor endpoint with JSON, unless the MalformedJSON
// fault is armed, in which case the body is cut in half: a proper prefix of a
// JSON object or array is never valid JSON.
func (s *Server) writeAPIJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "encoding reply: %v", err))
		return
	}
	if s.takeMalformedJSON() {
		body = body[:len(body)/2]
	}
	writeJSONBody(w, status, body)
}

// writeSimJSON answers a /_sim/ endpoint with 200: faults never apply there.
func writeSimJSON(w http.ResponseWriter, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "encoding reply: %v", err))
		return
	}
	writeJSONBody(w, http.StatusOK, append(body, '\n'))
}

func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
