package sim

import (
	"crypto/rand"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Jobs follow the vendor's life cycle on the configured clock: Pending for
// PendingFor after acceptance, then Running for RunningFor, then Completed or
// Failed. A job's effects (profile changes, an audience list created or
// replaced) are applied exactly when its Running time is up, so whatever a
// client or test observes is consistent: a job reports Completed only once its
// changes are visible, and no change is visible earlier. Processing a large file
// takes real time; the job keeps reporting Running until it is done.
//
// Jobs are processed one at a time in acceptance order, as changes to the same
// profiles must apply in the order they were sent. With real time a worker
// goroutine processes each job when its time is up (and exits when the queue is
// empty). With a custom Clock nothing runs in the background: observing the
// simulator (a status call, inspection) processes the jobs whose time is up, so
// a fake clock decides alone what a test sees.

// jobKind tells which import a job performs.
type jobKind int

const (
	profileJob jobKind = iota
	audienceCreateJob
	audienceReplaceJob
)

// The vendor's job statuses.
const (
	statusPending   = "Pending"
	statusRunning   = "Running"
	statusCompleted = "Completed"
	statusFailed    = "Failed"
)

// errorLogCap bounds the error log kept per job; the counters stay exact.
const errorLogCap = 10_000

// LineError is one entry of a job's error log, as served at the error_log URL.
type LineError struct {
	Line       int    `json:"line"`
	CustomerID string `json:"customer_id"`
	Error      string `json:"error"`
}

// lineStats counts the lines of an import file. Blank lines are not counted.
type lineStats struct {
	total      int // lines (or CSV rows) carrying something
	parsed     int // lines that parsed into a well-formed record
	successful int // lines applied
}

func (st lineStats) failed() int { return st.total - st.successful }

// job is one accepted import. Fields above the marker are fixed at acceptance;
// the others are written by processing, under Server.mu.
type job struct {
	kind jobKind
	id   string // UUID activity id
	seq  int64  // numeric activity id (Variants.NumericIDs)
	key  string

	scope  Scope  // profile jobs
	format string // profile jobs: json or csv

	appID        string // audience jobs
	audienceName string // audience create
	listID       int64  // audience list created or replaced
	audienceID   int64

	acceptedAt time.Time
	runningAt  time.Time
	doneAt     time.Time
	bytes      int64
	injectFail bool

	// Written by processing.
	upload      *spool // nil once processed or discarded
	processed   bool
	processedAt time.Time
	failReason  string // non-empty when Failed
	stats       lineStats
	errors      []LineError
}

// statusAt is the job's vendor status at now.
func (j *job) statusAt(now time.Time) string {
	switch {
	case now.Before(j.runningAt):
		return statusPending
	case !j.processed || now.Before(j.doneAt):
		return statusRunning
	case j.failReason != "":
		return statusFailed
	default:
		return statusCompleted
	}
}

// updatedAt is when the job last changed status.
func (j *job) updatedAt(now time.Time) time.Time {
	switch j.statusAt(now) {
	case statusPending:
		return j.acceptedAt
	case statusRunning:
		return j.runningAt
	default:
		if j.processedAt.After(j.doneAt) {
			return j.processedAt
		}
		return j.doneAt
	}
}

// activityID is the id the client was given, as a JSON value.
func (j *job) activityID(v Variants) any {
	if v.NumericIDs {
		return j.seq
	}
	return j.id
}

// addError appends to the error log, up to errorLogCap entries.
func (j *job) addError(line int, customerID, msg string) {
	if len(j.errors) < errorLogCap {
		j.errors = append(j.errors, LineError{Line: line, CustomerID: customerID, Error: msg})
	}
}

func (j *job) discardUpload() {
	if j.upload != nil {
		j.upload.remove()
		j.upload = nil
	}
}

// acceptJobLocked registers a new job and queues it for processing. The
// activity id is known to the client in both of its forms.
func (s *Server) acceptJobLocked(j *job, upload *spool, now time.Time, pendingFor, runningFor time.Duration) {
	j.id = newUUID()
	j.seq = s.nextSeq
	s.nextSeq++
	j.acceptedAt = now
	j.runningAt = now.Add(pendingFor)
	j.doneAt = j.runningAt.Add(runningFor)
	j.upload = upload
	if upload != nil {
		j.bytes = upload.size
	}
	j.injectFail = s.takeFailJobLocked()
	s.jobs[j.id] = j
	s.jobs[strconv.FormatInt(j.seq, 10)] = j
	s.queue = append(s.queue, j)
	s.ensureWorkerLocked()
}

// processDue processes, in acceptance order, every queued job whose time is up.
// With wait false it gives way when another goroutine is already processing,
// so a status call never waits behind a large file: it reports Running instead.
func (s *Server) processDue(wait bool) {
	if wait {
		s.processMu.Lock()
	} else if !s.processMu.TryLock() {
		return
	}
	defer s.processMu.Unlock()
	for {
		now := s.clock.Now()
		s.mu.Lock()
		if len(s.queue) == 0 || now.Before(s.queue[0].doneAt) {
			s.mu.Unlock()
			return
		}
		j := s.queue[0]
		s.queue = s.queue[1:]
		upload := j.upload
		j.upload = nil
		s.mu.Unlock()

		s.process(j, upload)
		if upload != nil {
			upload.remove()
		}
	}
}

// process runs one job and publishes its outcome. The job's kind-specific
// processing returns a commit that runs under mu together with the
// publication, so no observer sees an effect without its Completed status.
func (s *Server) process(j *job, upload *spool) {
	var (
		r   io.Reader
		err error
	)
	if upload != nil {
		r, err = upload.reader()
	}
	var (
		fail   string
		commit func() string
	)
	defer func() {
		// A bug in processing must not leave the job Running forever.
		if p := recover(); p != nil {
			s.log.Error("processing a job panicked", "activity_id", j.id, "panic", p)
			s.publish(j, fmt.Sprintf("internal simulator error: %v", p), nil)
		}
	}()
	switch {
	case j.injectFail:
		fail = "injected failure"
	case upload == nil:
		fail = "the uploaded file was discarded"
	case err != nil:
		fail = "reading the uploaded file: " + err.Error()
	case j.kind == profileJob:
		fail = s.processProfileJob(j, r)
	default:
		fail, commit = s.processAudienceJob(j, r)
	}
	s.publish(j, fail, commit)
}

// publish records a processed job's outcome, running its commit first.
func (s *Server) publish(j *job, fail string, commit func() string) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.processed {
		return // published already, before a panic in its commit
	}
	if fail == "" && commit != nil {
		fail = commit()
	}
	if j.kind == audienceCreateJob {
		s.creating[j.appID]--
	}
	j.failReason = fail
	j.processed = true
	j.processedAt = now
}

// ensureWorkerLocked starts the real-time worker when jobs are queued.
func (s *Server) ensureWorkerLocked() {
	if !s.realTime || s.worker || s.closed {
		return
	}
	s.worker = true
	go s.work()
}

// work processes jobs as their time comes, sleeping in between, and exits when
// nothing is queued so that an idle simulator runs no goroutine.
func (s *Server) work() {
	for {
		s.processDue(true)
		s.mu.Lock()
		if len(s.queue) == 0 || s.closed {
			s.worker = false
			s.mu.Unlock()
			return
		}
		next := s.queue[0].doneAt
		s.mu.Unlock()
		t := time.NewTimer(time.Until(next))
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
			s.mu.Lock()
			s.worker = false
			s.mu.Unlock()
			return
		}
	}
}

// lookupJobLocked finds a job of the given kinds by either form of its id.
func (s *Server) lookupJobLocked(id string, kinds ...jobKind) *job {
	j := s.jobs[strings.ToLower(id)]
	if j == nil {
		return nil
	}
	for _, k := range kinds {
		if j.kind == k {
			return j
		}
	}
	return nil
}

// statusWord renders a status as the variants ask.
func statusWord(status string, v Variants) string {
	if v.LowerCaseStatus {
		return strings.ToLower(status)
	}
	return status
}

// counter renders a count or id as a JSON number, or as a numeric string when
// asString is set: the vendor mixes both, and clients must read either.
func counter(n int64, asString bool) any {
	if asString {
		return strconv.FormatInt(n, 10)
	}
	return n
}

// newUUID returns a random (version 4) UUID, the shape of the vendor's
// activity ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
