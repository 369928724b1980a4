package sim

import (
	"net/http"
	"time"
)

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// Faults returns the faults still armed (counters count down as they fire).
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetRetryAfter switches the Retry-After header of 429 replies on or off.
func (s *Server) SetRetryAfter(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = on
}

// SetVariants switches the tolerated response variants at run time.
func (s *Server) SetVariants(v Variants) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.variants = v
}

func (s *Server) currentVariants() Variants {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.variants
}

// injectFrontFaults applies the faults that strike before a request is looked
// at: the delay, then the 5xx rate. It reports whether it answered the request.
// A 5xx here changes no state and spends no budget, like a failing gateway.
func (s *Server) injectFrontFaults(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	delay := s.faults.Delay
	fail := s.faults.ServerErrorRate > 0 && s.rng.Float64() < s.faults.ServerErrorRate
	status := http.StatusInternalServerError
	if s.rng.IntN(2) == 1 {
		status = http.StatusServiceUnavailable
	}
	refuse := 0
	switch infoFrom(r.Context()).endpoint {
	case EndpointProfileUpload, EndpointAudienceCreate, EndpointAudienceUpdate:
		if s.faults.RefuseUploads > 0 {
			s.faults.RefuseUploads--
			refuse = s.faults.RefuseStatus
			if refuse == 0 {
				refuse = http.StatusBadRequest
			}
		}
	}
	s.mu.Unlock()
	if refuse != 0 {
		writeError(w, errorf(refuse, "%s (injected refusal)", http.StatusText(refuse)))
		return true
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	if fail {
		writeError(w, errorf(status, "%s (injected)", http.StatusText(status)))
		return true
	}
	return false
}

// takeMalformedJSON reports whether the next JSON reply must be malformed.
func (s *Server) takeMalformedJSON() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.MalformedJSON > 0 {
		s.faults.MalformedJSON--
		return true
	}
	return false
}

// takeDropLocked reports whether the upload just accepted must lose its reply.
func (s *Server) takeDropLocked() bool {
	if s.faults.DropAfterAccept > 0 {
		s.faults.DropAfterAccept--
		return true
	}
	return false
}

// takeFailJobLocked reports whether the job just accepted must end Failed.
func (s *Server) takeFailJobLocked() bool {
	if s.faults.FailJobs > 0 {
		s.faults.FailJobs--
		return true
	}
	return false
}

// dropConnection closes the client's connection without a reply, so the
// client sees a network error although its upload was accepted.
func dropConnection(w http.ResponseWriter, r *http.Request) {
	infoFrom(r.Context()).dropped = true
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 cannot be hijacked; aborting the handler resets the stream,
		// which the client also sees as a network error.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
