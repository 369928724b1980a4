package controllers

import (
	"context"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// sharedJobs keeps what Localytics answered about the jobs of shared
// uploads, for the imports an upload carried: each follows the job on its
// own, but one status request per poll and one read of the error log serve
// them all, so that a hundred imports in one upload cost the status budget
// what one does. Imports that ask at the same moment wait for one answer.
type sharedJobs struct {
	flight singleflight.Group
	mu     sync.Mutex
	jobs   map[string]jobAnswer
	logs   map[string]errorLog
}

type jobAnswer struct {
	job localytics.ProfileJob
	at  time.Time
}

// errorLog is the failed lines an error log lists, sorted, or why it could
// not be read.
type errorLog struct {
	lines     []int64
	truncated bool
	err       error
	at        time.Time
}

// failedLogRetry is how long a failure to read an error log is remembered:
// the imports of the upload retrying on their own backoffs do not each
// download it again.
const failedLogRetry = 10 * time.Second

// job returns the state of the job, asked of api unless an answer younger
// than maxAge (or a final one) is kept.
func (s *sharedJobs) job(ctx context.Context, api localytics.Interface, activityID string, maxAge time.Duration, now time.Time) (localytics.ProfileJob, error) {
	s.mu.Lock()
	a, ok := s.jobs[activityID]
	s.mu.Unlock()
	if ok && (a.job.Status.Terminal() || now.Sub(a.at) < maxAge) {
		return a.job, nil
	}
	v, err, _ := s.flight.Do("job/"+activityID, func() (any, error) {
		job, err := api.ProfileJobStatus(ctx, activityID)
		if err == nil {
			s.keep(func() { s.jobs[activityID] = jobAnswer{job: job, at: now} }, now)
		}
		return job, err
	})
	return v.(localytics.ProfileJob), err
}

// failedLines returns the lines the job's error log lists, read once.
func (s *sharedJobs) failedLines(ctx context.Context, api localytics.Interface, activityID, url string, now time.Time) errorLog {
	s.mu.Lock()
	l, ok := s.logs[activityID]
	s.mu.Unlock()
	if ok && (l.err == nil || now.Sub(l.at) < failedLogRetry) {
		return l
	}
	v, _, _ := s.flight.Do("log/"+activityID, func() (any, error) {
		lines, truncated, err := api.FailedLines(ctx, url)
		l := errorLog{lines: lines, truncated: truncated, err: err, at: now}
		s.keep(func() { s.logs[activityID] = l }, now)
		return l, nil
	})
	return v.(errorLog)
}

// keep stores an answer (with mu held) and drops those older than
// sharedJobTTL: by then every import of the upload has read them.
func (s *sharedJobs) keep(store func(), now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobs == nil {
		s.jobs, s.logs = map[string]jobAnswer{}, map[string]errorLog{}
	}
	store()
	for id, a := range s.jobs {
		if now.Sub(a.at) > sharedJobTTL {
			delete(s.jobs, id)
		}
	}
	for id, l := range s.logs {
		if now.Sub(l.at) > sharedJobTTL {
			delete(s.logs, id)
		}
	}
}

// within counts the failed lines in [first, first+n).
func (l errorLog) within(first, n int64) int64 {
	from := sort.Search(len(l.lines), func(i int) bool { return l.lines[i] >= first })
	to := sort.Search(len(l.lines), func(i int) bool { return l.lines[i] >= first+n })
	return int64(to - from)
}

// sharedStatistics are an import's own counts in the job of a shared
// upload: its lines, less those the error log lists in its range.
func sharedStatistics(shared *importsv1alpha1.SharedUpload, log errorLog) *importsv1alpha1.ProfileImportStatistics {
	failed := log.within(shared.FirstLine, shared.Lines)
	return &importsv1alpha1.ProfileImportStatistics{
		Total:      shared.Lines,
		Failed:     failed,
		Parsed:     shared.Lines - failed,
		Successful: shared.Lines - failed,
	}
}
