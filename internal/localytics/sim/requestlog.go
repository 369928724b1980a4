package sim

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// requestInfo collects what the handlers learn about a request for its log
// record. Only the key id is ever stored, never the secret.
type requestInfo struct {
	key      string
	endpoint Endpoint
	dropped  bool
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
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

// logged runs next and writes one record for the request: method, path (never
// the query), status, duration and the key id once authenticated.
func (s *Server) logged(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	start := time.Now()
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
		if ri.dropped || p != nil {
			attrs = append(attrs, slog.Bool("dropped", true))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		if p != nil {
			if err, ok := p.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
				s.log.Error("handler panicked", "panic", p)
			}
			panic(p)
		}
	}()
	next(rec, r)
}
