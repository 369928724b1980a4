package controllers

import (
	"time"

	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// The operator's timing and size policy, in one place. The API's own budgets
// and limits are internal/localytics's (DefaultLimits, DefaultMaxUploadBytes);
// what is here is how the controllers spend them.

// maxUploadBytes is the vendor's size limit of one upload: a larger file is
// refused before it spends an upload slot or an audience call.
const maxUploadBytes = localytics.DefaultMaxUploadBytes

const (
	// maxParts bounds the parts a profile file is cut into (status.parts
	// keeps each one's start and job): at 10 uploads an hour, ten hours.
	maxParts = 100

	// maxImportFileBytes is the largest profile file accepted by default:
	// maxParts uploads of the vendor's size.
	maxImportFileBytes = maxParts * maxUploadBytes
)

const (
	// maxImportsPerUpload bounds the imports one upload carries: the
	// carrier writes each one's intent before the upload and its outcome
	// after, so it bounds the writes of one reconcile.
	maxImportsPerUpload = 500

	// memberWriters is how many of the imports of a shared upload the
	// carrier writes at once, before the upload and after it.
	memberWriters = 8

	// defaultQuietPeriod and defaultMaxGather bound the wait of an upload
	// for more imports to share it (spec.gathering of an account).
	defaultQuietPeriod = 10 * time.Second
	defaultMaxGather   = time.Minute

	// sharedJobTTL is how long the answers about a shared upload's job
	// (its status, its error log) are kept for the other imports it
	// carried, which ask about the same job.
	sharedJobTTL = 10 * time.Minute
)

const (
	// defaultBackoffBase and defaultBackoffMax bound the backoff after
	// transient failures.
	defaultBackoffBase = time.Second
	defaultBackoffMax  = 5 * time.Minute

	// nextPartRequeue is how soon an import whose part's job ended queues
	// for the next part.
	nextPartRequeue = 100 * time.Millisecond

	// conflictRequeue is how soon an object whose status patch met a
	// concurrent write (for an account, usually a reservation in its
	// ledger) is reconciled again.
	conflictRequeue = time.Second

	// accountWaitRequeue is a safety net for an object waiting for its
	// account to turn Ready: the account's watch normally wakes it first.
	accountWaitRequeue = time.Minute

	// defaultPollMin and defaultPollMax bound the interval between two
	// status requests for a job: soon after submission, then backing off.
	defaultPollMin = 5 * time.Second
	defaultPollMax = 3 * time.Minute

	// defaultSourceRecheck is how often an object stalled by its object
	// store looks again: that is fixed outside the cluster, where no watch
	// sees it.
	defaultSourceRecheck = 2 * time.Minute

	// sourceReadTimeout bounds the validation pass over a source.
	sourceReadTimeout = 10 * time.Minute

	// uploadTimeout bounds one upload. One that times out after the
	// request was sent has an unknown outcome, like a dropped connection.
	uploadTimeout = 10 * time.Minute

	// defaultDriftInterval is how often an AudienceList is compared with
	// what Localytics holds.
	defaultDriftInterval = 10 * time.Minute

	// defaultUnknownCreateWait is how long a list whose create's answer was
	// lost is looked for by name before it is created again: its list
	// appears only once its job completed, and jobs usually take less than
	// five minutes once running.
	defaultUnknownCreateWait = 10 * time.Minute

	// maxUnknownOutcomes is how many uploads of one file may end without an
	// answer before a person must allow another.
	maxUnknownOutcomes = 3

	// verifyTimeout bounds the probe of an account's credentials, retries
	// inside the client included.
	verifyTimeout = 30 * time.Second
)

// recordTimeout bounds the write of what a remote call answered (an
// activity id, the time an upload was sent), retried all along with
// recordBackoff: long enough for an API server's restart or a leader
// change, short enough to end within shutdownGrace.
const recordTimeout = 3 * time.Minute

// recordRetryMin and recordRetryMax space those retries: quickly at first,
// doubling up to every ten seconds.
const (
	recordRetryMin = 100 * time.Millisecond
	recordRetryMax = 10 * time.Second
)

// ShutdownGrace is how long the manager waits, once told to stop, for the
// writes already sent to end and be recorded: an upload's deadline and
// then its record's. The pod's terminationGracePeriodSeconds must be at
// least this (config/manager).
const ShutdownGrace = uploadTimeout + recordTimeout

// DefaultUploadTimeout is the bound of one upload when the manager's
// --upload-timeout is not set.
const DefaultUploadTimeout = uploadTimeout

// DefaultUnknownCreateWait is how long a lost create is looked for when the
// manager's --unknown-create-wait is not set.
const DefaultUnknownCreateWait = defaultUnknownCreateWait

// ShutdownGraceFor is ShutdownGrace for an upload timeout other than the
// default.
func ShutdownGraceFor(upload time.Duration) time.Duration {
	return orUploadTimeout(upload) + recordTimeout
}

// orUploadTimeout is the upload timeout of a reconciler: the default when
// unset.
func orUploadTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return uploadTimeout
	}
	return d
}

// pollBounds fills in the default poll bounds of a reconciler: PollMin when
// unset, and a PollMax no shorter than it.
func pollBounds(lo, hi time.Duration) (time.Duration, time.Duration) {
	if lo <= 0 {
		lo = defaultPollMin
	}
	if hi < lo {
		hi = max(defaultPollMax, lo)
	}
	return lo, hi
}
