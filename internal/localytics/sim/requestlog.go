package sim

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// requestInfo collects what the handlers learn about a request for its log
// record and its call record. Only the key id is ever stored, never the secret.
type requestInfo struct {
	key      string
	endpoint Endpoint
	app      string
	dropped  bool
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// noteApp records the app a request names, for its call record. Handlers call
// it as soon as they know the app, so that a refused call still names it.
func noteApp(r *http.Request, app string) {
	if app = strings.TrimSpace(app); app != "" {
		infoFrom(r.Context()).app = app
	}
}

// maxCallRecords bounds the call records: the demo's simulator runs for days,
// and tests look at the newest calls. About 100 bytes each, so 10 MB at most.
const maxCallRecords = 100_000

// callLog keeps the newest calls in a ring: once full, each call overwrites
// the oldest.
type callLog struct {
	recs  []CallRecord
	start int // index of the oldest record once the ring is full
}

func (l *callLog) add(c CallRecord, limit int) {
	if len(l.recs) < limit {
		l.recs = append(l.recs, c)
		return
	}
	if limit <= 0 {
		return
	}
	l.recs[l.start] = c
	l.start = (l.start + 1) % len(l.recs)
}

// records returns a copy, oldest first.
func (l *callLog) records() []CallRecord {
	return slices.Concat(l.recs[l.start:], l.recs[:l.start])
}

// recordCall keeps the call record of a finished request to a vendor endpoint.
func (s *Server) recordCall(c CallRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls.add(c, s.maxCalls)
}

// statusRecorder remembers the status written through it. It unwraps so that
// http.ResponseController can reach the connection for the drop fault.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack is forwarded explicitly because some code asserts http.Hijacker
// directly instead of going through http.ResponseController.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// logged runs next and writes one log record for the request: method, path
// (never the query), status, duration and the key id once authenticated. A
// request to a vendor endpoint also gets a call record (see Calls).
func (s *Server) logged(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	start := time.Now()
	arrival := s.clock.Now()
	ri := &requestInfo{}
	rec := &statusRecorder{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
	defer func() {
		p := recover()
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)),
			slog.Int64("bytes_out", rec.bytes),
		}
		if ri.key != "" {
			attrs = append(attrs, slog.String("key", ri.key))
		}
		if ri.endpoint != "" {
			attrs = append(attrs, slog.String("endpoint", string(ri.endpoint)))
		}
		if ri.app != "" {
			attrs = append(attrs, slog.String("app_id", ri.app))
		}
		dropped := ri.dropped || p != nil
		if dropped {
			attrs = append(attrs, slog.Bool("dropped", true))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		if ri.endpoint != "" {
			s.recordCall(CallRecord{
				Time: arrival, Key: ri.key, Endpoint: ri.endpoint, AppID: ri.app, Status: rec.status, Dropped: dropped,
				UserAgent: r.UserAgent(),
			})
		}
		if p != nil {
			if err, ok := p.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
				s.log.Error("handler panicked", "panic", p)
			}
			panic(p)
		}
	}()
	next(rec, r)
}
