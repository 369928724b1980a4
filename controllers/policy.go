package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// The operator's timing and size policy, in one place. The API's own budgets
// and limits are internal/localytics's (DefaultLimits, DefaultMaxUploadBytes);
// what is here is how the controllers spend them.

// maxUploadBytes is the vendor's size limit of one upload: a larger file is
// refused before it spends an upload slot or an audience call.
const maxUploadBytes = localytics.DefaultMaxUploadBytes

const (
	// defaultBackoffBase and defaultBackoffMax bound the backoff after
	// transient failures.
	defaultBackoffBase = time.Second
	defaultBackoffMax  = 5 * time.Minute

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

// activityBackoff retries the write of an activity id just received: lost,
// the write it answers looks like one of unknown outcome, which costs calls
// to settle. About half a minute in all.
var activityBackoff = wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 9}
