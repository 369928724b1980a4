package controllers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/importfile"
	"github.com/localytics-operator/localytics-operator/internal/jitter"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/source"
)

// reconcileSource validates the list's source in one streaming pass (its
// digest, counts and first errors), unless the status holds the validation
// of its current revision. A bad line stalls the list before any call.
func (r *AudienceListReconciler) reconcileSource(ctx context.Context, s *listScope) (ctrl.Result, error) {
	al := s.obj
	readCtx, cancel := context.WithTimeout(ctx, sourceReadTimeout)
	defer cancel()
	revision, err := source.Revision(readCtx, r.APIReader, al.Namespace, al.Spec.Source, r.SourceOptions)
	if err != nil {
		return ctrl.Result{}, sourceFailure(err, r.SourceRecheck)
	}
	if revision != al.Status.SourceRevision || al.Status.Validation == nil {
		file, err := openWithin(readCtx, r.APIReader, al.Namespace, al.Spec.Source, r.SourceOptions, r.MaxFileBytes)
		if tooLarge, ok := isTooLarge(err); ok {
			return ctrl.Result{}, r.reject(s, tooLarge)
		}
		if err != nil {
			return ctrl.Result{}, sourceFailure(err, r.SourceRecheck)
		}
		defer func() { _ = file.Close() }()
		report, err := importfile.Validate(readCtx, file, listFormat(al))
		if err != nil {
			return ctrl.Result{}, transient(ReasonSourceUnreadable, err, "%s could not be read; retrying", file.Description)
		}
		al.Status.SourceRevision = file.Revision
		al.Status.SourceDigest = report.Digest
		al.Status.Lines = report.Lines
		al.Status.Bytes = report.Bytes
		al.Status.Validation = validationSummary(report)
		al.Status.Validation.DuplicateLines = report.DuplicateLines
		if report.InvalidLines == 0 && report.ValidLines > 0 && report.Bytes <= r.MaxFileBytes && report.Digest != al.Status.ContentDigest {
			r.Recorder.Eventf(al, nil, corev1.EventTypeNormal, EventValidated, "Validate",
				"%s: %d customer ids, %d duplicates, %d bytes, %s", file.Description, report.ValidLines, report.DuplicateLines, report.Bytes, report.Digest)
		}
	}
	if rejected := r.judgeSource(al); rejected != nil {
		return ctrl.Result{}, r.reject(s, rejected)
	}
	return ctrl.Result{}, nil
}

// reject stalls a list whose source must not be uploaded, with an event
// when the reason or the source's revision is new.
func (r *AudienceListReconciler) reject(s *listScope, rejected *phaseError) error {
	al := s.obj
	if al.Spec.Source.ObjectStore != nil {
		rejected.recheck = r.SourceRecheck // fixed in the store, where no watch sees it
	}
	if stallReason(s.base.Status.Conditions) != rejected.reason || s.base.Status.SourceRevision != al.Status.SourceRevision {
		r.Recorder.Eventf(al, nil, corev1.EventTypeWarning, EventRejected, "Validate", "%s", rejected.message)
	}
	return rejected
}

// judgeSource says why the validated source must not be uploaded, if it
// must not.
func (r *AudienceListReconciler) judgeSource(al *importsv1alpha1.AudienceList) *phaseError {
	v := al.Status.Validation
	if tooLarge := tooLargeAfterReading(al.Status.Bytes, r.MaxFileBytes); tooLarge != nil {
		return tooLarge // the other counts are of the part that was read
	}
	switch {
	case v.InvalidLines > 0:
		first := "none reported"
		if len(v.Errors) > 0 {
			first = "line " + strconv.FormatInt(v.Errors[0].Line, 10) + ": " + v.Errors[0].Message
		}
		return stalled(ReasonValidationFailed, nil, "%d of %d lines are invalid, so nothing was uploaded; the first: %s. Fix the file",
			v.InvalidLines, al.Status.Lines, first)
	case v.ValidLines == 0:
		return stalled(ReasonNoValidLines, nil, "the file has no customer id to upload (%d lines)", al.Status.Lines)
	}
	return nil
}

// reconcileAccount finds the account and its client.
func (r *AudienceListReconciler) reconcileAccount(ctx context.Context, s *listScope) (ctrl.Result, error) {
	ready, err := r.accounts.resolve(ctx, s.obj.Namespace, s.obj.Spec.AccountRef.Name, s.now)
	if err != nil {
		return ctrl.Result{}, err
	}
	s.account, s.api = ready.account, ready.api
	return ctrl.Result{}, nil
}

// reconcileJob follows the remote write in progress: it polls the job of a
// create or replace until it ends, and settles a write whose answer was lost.
func (r *AudienceListReconciler) reconcileJob(ctx context.Context, s *listScope) (ctrl.Result, error) {
	al := s.obj
	intent := al.Status.Intent
	switch {
	case intent == nil:
		return ctrl.Result{}, nil
	case intent.ActivityID != "":
		if intent.Operation == importsv1alpha1.OperationCreate {
			r.lists.noteCreating(s.app(), al.UID) // after a restart, say
		}
		return r.pollJob(ctx, s)
	case intent.Operation == importsv1alpha1.OperationCreate:
		return r.findLostCreate(ctx, s)
	}
	// A replace or a rename whose answer was lost: making it again does no
	// harm (the same content, the same name), so it is decided again.
	s.log.Info("the outcome of a remote write is unknown; deciding again", "operation", intent.Operation)
	al.Status.Intent = nil
	return ctrl.Result{}, nil
}

// pollJob asks for the state of the intent's job, within the audience
// budget, and records its end.
func (r *AudienceListReconciler) pollJob(ctx context.Context, s *listScope) (ctrl.Result, error) {
	al, intent := s.obj, s.obj.Status.Intent
	now := r.Clock.Now()
	if wait := intent.StartedAt.Add(r.PollMin).Sub(now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, errJobRunning
	}
	if wait := budgetWait(s.api, localytics.BudgetAudienceCalls, r.Clock); wait > 0 {
		return ctrl.Result{RequeueAfter: wait + jitter.Up(r.PollMin/4)}, errJobRunning
	}
	job, err := s.api.AudienceJobStatus(ctx, intent.ActivityID)
	if err != nil {
		if localytics.IsNotFound(err) {
			// The job is gone (purged, say): what it did is found out as for
			// a write whose answer was lost.
			s.log.Info("Localytics does not know the job of the list's write; finding out what it did", "activityID", intent.ActivityID)
			return ctrl.Result{RequeueAfter: r.PollMin}, r.forgetJob(s)
		}
		return ctrl.Result{}, err
	}
	if !job.Status.Terminal() {
		return ctrl.Result{RequeueAfter: pollInterval(intent.StartedAt.Time, now, r.PollMin, r.PollMax)}, errJobRunning
	}
	if job.Status == localytics.JobCompleted && intent.Operation == importsv1alpha1.OperationCreate && job.Stats.AudienceListID == "" {
		// Done, but without the id of its list: the list is found by name,
		// never created again.
		s.log.Info("the create's job completed without a list id; finding the list by name", "activityID", intent.ActivityID)
		return ctrl.Result{RequeueAfter: r.PollMin}, r.forgetJob(s)
	}
	al.Status.Statistics = &importsv1alpha1.AudienceListStatistics{
		TotalLines: job.Stats.TotalLines, SuccessfulLines: job.Stats.SuccessfulLines, FailedLines: job.Stats.FailedLines,
	}
	al.Status.Intent = nil
	if job.Status == localytics.JobFailed {
		if intent.Operation == importsv1alpha1.OperationCreate {
			r.lists.endCreate(s.app(), al.UID, nil)
		}
		al.Status.FailedDigest = intent.ContentDigest
		r.Recorder.Eventf(al, nil, corev1.EventTypeWarning, EventFailed, "Poll", "The Localytics job of the %s failed", operationNoun(intent.Operation))
		return ctrl.Result{}, jobFailed(job.ErrorReason)
	}
	al.Status.ContentDigest = intent.ContentDigest
	al.Status.FailedDigest = ""
	al.Status.RecordCount = job.Stats.SuccessfulLines
	if intent.Operation == importsv1alpha1.OperationCreate {
		al.Status.AudienceListID = job.Stats.AudienceListID
		al.Status.RemoteName = intent.Name
		al.Status.RemoteVersion = 1
		r.lists.endCreate(s.app(), al.UID, &localytics.AudienceList{
			ID: job.Stats.AudienceListID, Name: intent.Name, AppID: al.Spec.AppID, Version: 1, RecordCount: job.Stats.SuccessfulLines,
		})
		r.Recorder.Eventf(al, nil, corev1.EventTypeNormal, EventCreated, "Create",
			"Created audience list %s %q with %d customer ids", job.Stats.AudienceListID, intent.Name, job.Stats.SuccessfulLines)
		return ctrl.Result{}, nil
	}
	al.Status.RemoteVersion++ // the next drift check reads the real one
	r.Recorder.Eventf(al, nil, corev1.EventTypeNormal, EventReplaced, "Replace",
		"Replaced the content of audience list %s: %d customer ids", al.Status.AudienceListID, job.Stats.SuccessfulLines)
	return ctrl.Result{}, nil
}

// forgetJob settles a write whose job cannot tell what it did: a create is
// then looked for by name (from now on, for UnknownCreateWait), anything
// else is decided again.
func (r *AudienceListReconciler) forgetJob(s *listScope) error {
	intent := s.obj.Status.Intent
	if intent.Operation != importsv1alpha1.OperationCreate {
		s.obj.Status.Intent = nil
		return nil
	}
	intent.ActivityID = ""
	intent.StartedAt = metav1.NewTime(r.Clock.Now())
	return waiting(ReasonCreateOutcomeUnknown, time.Time{}, nil,
		"the outcome of the create of this list is unknown; looking for a list named %q before creating it again", intent.Name)
}

// errJobRunning ends a reconcile whose list waits for its job: the later
// phases have nothing to do until it ends.
var errJobRunning = waiting(ReasonJobProcessing, time.Time{}, nil, "Localytics is processing the list's upload")

// findLostCreate settles a create whose answer was lost: the list may exist.
// It is looked for by name, and adopted if found; only once it could not be
// found for UnknownCreateWait (its job may still be pending) is it created
// again.
func (r *AudienceListReconciler) findLostCreate(ctx context.Context, s *listScope) (ctrl.Result, error) {
	al, intent := s.obj, s.obj.Status.Intent
	r.lists.noteCreating(s.app(), al.UID)
	now := r.Clock.Now()
	listing, err := r.lists.listing(ctx, s.app(), s.api, r.PollMin, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	var candidates []localytics.AudienceList
	for _, l := range listing.named(intent.Name) {
		// A list of that name made before this create is someone else's.
		if l.CreatedAt.IsZero() || !l.CreatedAt.Before(intent.StartedAt.Add(-createdAtSkew)) {
			candidates = append(candidates, l)
		}
	}
	l, ok, err := r.unclaimed(ctx, al, candidates)
	if err != nil {
		return ctrl.Result{}, err
	}
	if ok {
		al.Status.Intent = nil
		// Its job may not have finished, or may have been another's: the
		// content is made certain with a replace.
		takeList(al, l)
		r.lists.endCreate(s.app(), al.UID, &l)
		r.Recorder.Eventf(al, nil, corev1.EventTypeNormal, EventCreated, "Create",
			"Found audience list %s %q, whose create's answer was lost", l.ID, l.Name)
		return ctrl.Result{}, nil
	}
	if deadline := intent.StartedAt.Add(r.UnknownCreateWait); now.Before(deadline) {
		next := now.Add(pollInterval(intent.StartedAt.Time, now, r.PollMin, r.PollMax))
		if deadline.Before(next) {
			next = deadline
		}
		return ctrl.Result{}, waiting(ReasonCreateOutcomeUnknown, next, nil,
			"the answer to the create of this list was lost; looking for a list named %q before creating it again", intent.Name)
	}
	s.log.Info("a create of unknown outcome made no list; creating again", "name", intent.Name)
	r.lists.endCreate(s.app(), al.UID, nil)
	al.Status.Intent = nil
	return ctrl.Result{}, nil
}

// createdAtSkew allows for the vendor's clock being behind ours when a list
// found by name is judged by its creation time.
const createdAtSkew = 5 * time.Minute

// unclaimed returns the first of the lists that no other AudienceList of the
// namespace manages.
func (r *AudienceListReconciler) unclaimed(ctx context.Context, al *importsv1alpha1.AudienceList,
	lists []localytics.AudienceList) (localytics.AudienceList, bool, error) {
	var others importsv1alpha1.AudienceListList
	if err := r.List(ctx, &others, client.InNamespace(al.Namespace)); err != nil {
		return localytics.AudienceList{}, false, err
	}
	for _, l := range lists {
		claimed := false
		for i := range others.Items {
			o := &others.Items[i]
			claimed = claimed || (o.UID != al.UID && o.Spec.AppID == al.Spec.AppID && o.Status.AudienceListID == l.ID)
		}
		if !claimed {
			return l, true, nil
		}
	}
	return localytics.AudienceList{}, false, nil
}

// reconcileDrift compares the list with what Localytics holds, once per
// DriftInterval, with the app's shared listing: a list deleted outside the
// cluster is created again from its source, one renamed is renamed back.
func (r *AudienceListReconciler) reconcileDrift(ctx context.Context, s *listScope) (ctrl.Result, error) {
	al := s.obj
	if al.Status.AudienceListID == "" {
		return ctrl.Result{}, nil
	}
	now := r.Clock.Now()
	if last := al.Status.LastDriftCheck; last != nil && now.Sub(last.Time) < r.DriftInterval {
		return ctrl.Result{RequeueAfter: r.DriftInterval - now.Sub(last.Time) + jitter.Up(r.DriftInterval/10)}, nil
	}
	listing, err := r.lists.listing(ctx, s.app(), s.api, r.DriftInterval, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	checked := metav1.NewTime(listing.fetchedAt)
	al.Status.LastDriftCheck = &checked
	next := ctrl.Result{RequeueAfter: max(listing.fetchedAt.Add(r.DriftInterval).Sub(now), time.Second) + jitter.Up(r.DriftInterval/10)}
	remote, ok := listing.find(al.Status.AudienceListID)
	if !ok && listing.fetchedAt.Before(now) {
		// Deleted outside is decided on a listing of this very moment only.
		if listing, err = r.lists.listing(ctx, s.app(), s.api, 0, now); err != nil {
			return ctrl.Result{}, err
		}
		remote, ok = listing.find(al.Status.AudienceListID)
	}
	if !ok {
		r.Recorder.Eventf(al, nil, corev1.EventTypeWarning, EventDeletedOutside, "Drift",
			"Audience list %s was deleted outside the cluster; creating it again from the source", al.Status.AudienceListID)
		al.Status.AudienceListID, al.Status.RemoteName, al.Status.RemoteVersion = "", "", 0
		al.Status.ContentDigest, al.Status.RecordCount, al.Status.LastDriftCheck = "", 0, nil
		return ctrl.Result{}, nil
	}
	if remote.Name != al.Status.RemoteName {
		r.Recorder.Eventf(al, nil, corev1.EventTypeWarning, EventRenamedOutside, "Drift",
			"Audience list %s was renamed to %q outside the cluster; renaming it back to %q", remote.ID, remote.Name, al.Spec.AudienceName)
	}
	al.Status.RemoteName = remote.Name
	al.Status.RemoteVersion = remote.Version
	al.Status.RecordCount = remote.RecordCount
	return next, nil
}

// reconcileCreate makes the list: it adopts spec.audienceListID, or creates
// one (A1) if the app has room under the account's cap.
func (r *AudienceListReconciler) reconcileCreate(ctx context.Context, s *listScope) (ctrl.Result, error) {
	al := s.obj
	if al.Status.AudienceListID != "" || al.Status.Intent != nil {
		return ctrl.Result{}, nil
	}
	if al.Spec.AudienceListID != "" {
		return r.adopt(ctx, s)
	}
	if err := failedBefore(s); err != nil {
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	if _, err := r.lists.listing(ctx, s.app(), s.api, r.DriftInterval, now); err != nil {
		return ctrl.Result{}, err
	}
	limit := int(s.account.Spec.Limits.AudienceListsPerApp)
	if limit <= 0 {
		limit = importsv1alpha1.DefaultAudienceListsPerApp
	}
	if inUse, ok := r.lists.reserveCreate(s.app(), al.UID, limit); !ok {
		if stallOrWaitReason(s.base.Status.Conditions) != ReasonListLimitReached {
			r.Recorder.Eventf(al, nil, corev1.EventTypeWarning, EventLimitReached, "Create",
				"App %s holds %d audience lists, the limit of LocalyticsAccount %q (spec.limits.audienceListsPerApp)", al.Spec.AppID, inUse, s.account.Name)
		}
		return ctrl.Result{}, waiting(ReasonListLimitReached, now.Add(r.DriftInterval), nil,
			"app %s holds %d audience lists, the limit of %d of LocalyticsAccount %q (spec.limits.audienceListsPerApp); "+
				"the list is created when one is deleted", al.Spec.AppID, inUse, limit, s.account.Name)
	}
	return r.upload(ctx, s, importsv1alpha1.OperationCreate)
}

// adopt takes over the existing list spec.audienceListID names; from then on
// it is renamed and replaced like a list the operator created.
func (r *AudienceListReconciler) adopt(ctx context.Context, s *listScope) (ctrl.Result, error) {
	al := s.obj
	now := r.Clock.Now()
	listing, err := r.lists.listing(ctx, s.app(), s.api, r.DriftInterval, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	l, ok := listing.find(al.Spec.AudienceListID)
	if !ok && listing.fetchedAt.Before(now) {
		if listing, err = r.lists.listing(ctx, s.app(), s.api, 0, now); err != nil {
			return ctrl.Result{}, err
		}
		l, ok = listing.find(al.Spec.AudienceListID)
	}
	if !ok {
		pe := stalled(ReasonAudienceListNotFound, nil, "app %s has no audience list %s to adopt (spec.audienceListID)", al.Spec.AppID, al.Spec.AudienceListID)
		pe.recheck = r.DriftInterval
		return ctrl.Result{}, pe
	}
	if _, free, err := r.unclaimed(ctx, al, []localytics.AudienceList{l}); err != nil {
		return ctrl.Result{}, err
	} else if !free {
		return ctrl.Result{}, stalled(ReasonAudienceListClaimed, nil,
			"audience list %s is managed by another AudienceList of this namespace; two cannot manage one list", l.ID)
	}
	takeList(al, l) // its content is unknown: replaced with the source
	checked := metav1.NewTime(listing.fetchedAt)
	al.Status.LastDriftCheck = &checked
	r.Recorder.Eventf(al, nil, corev1.EventTypeNormal, EventAdopted, "Adopt", "Adopted audience list %s %q", l.ID, l.Name)
	return ctrl.Result{}, nil
}

// takeList makes l the list of al, as Localytics shows it; its content is
// unknown, so it is replaced with the source.
func takeList(al *importsv1alpha1.AudienceList, l localytics.AudienceList) {
	al.Status.AudienceListID = l.ID
	al.Status.RemoteName = l.Name
	al.Status.RemoteVersion = l.Version
	al.Status.RecordCount = l.RecordCount
	al.Status.ContentDigest = ""
}

// failedBefore stalls a list whose source failed in a Localytics job, or
// was refused, until the source changes: with the stall it had then.
func failedBefore(s *listScope) error {
	al := s.obj
	if al.Status.FailedDigest == "" || al.Status.FailedDigest != al.Status.SourceDigest {
		return nil
	}
	if c := meta.FindStatusCondition(s.base.Status.Conditions, importsv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		switch c.Reason {
		case ReasonJobFailed, ReasonUploadRefused, ReasonFileTooLarge:
			return stalled(c.Reason, nil, "%s", c.Message)
		}
	}
	return jobFailed("")
}

// reconcileContent replaces the list's content (A3) when the source's
// digest is not the one last uploaded.
func (r *AudienceListReconciler) reconcileContent(ctx context.Context, s *listScope) (ctrl.Result, error) {
	al := s.obj
	if al.Status.AudienceListID == "" || al.Status.Intent != nil || al.Status.ContentDigest == al.Status.SourceDigest {
		return ctrl.Result{}, nil
	}
	if err := failedBefore(s); err != nil {
		return ctrl.Result{}, err
	}
	return r.upload(ctx, s, importsv1alpha1.OperationReplace)
}

// upload creates or replaces the list with the source: it records the
// intent, opens the file (the revision validated), sends it and records the
// job's activity id.
func (r *AudienceListReconciler) upload(ctx context.Context, s *listScope, op importsv1alpha1.AudienceListOperation) (ctrl.Result, error) {
	al := s.obj
	giveBack := func() {
		if op == importsv1alpha1.OperationCreate {
			r.lists.endCreate(s.app(), al.UID, nil)
		}
	}
	if wait := budgetWait(s.api, localytics.BudgetAudienceCalls, r.Clock); wait > 0 {
		giveBack()
		return ctrl.Result{}, waiting(ReasonRateLimited, r.Clock.Now().Add(wait), nil,
			"waiting for the audience call budget of LocalyticsAccount %q", s.account.Name)
	}
	al.Status.Intent = &importsv1alpha1.AudienceListIntent{
		Operation: op, ContentDigest: al.Status.SourceDigest, StartedAt: metav1.NewTime(r.Clock.Now()),
	}
	if op == importsv1alpha1.OperationCreate {
		al.Status.Intent.Name = al.Spec.AudienceName
	}

	uploadCtx, send, cancel := sendContext(ctx, r.UploadTimeout)
	defer cancel()
	file, err := source.Open(uploadCtx, r.APIReader, al.Namespace, al.Spec.Source, r.SourceOptions)
	if err != nil {
		giveBack()
		al.Status.Intent = nil
		return ctrl.Result{}, sourceFailure(err, r.SourceRecheck)
	}
	defer func() { _ = file.Close() }()
	if file.Revision != al.Status.SourceRevision {
		giveBack()
		al.Status.Intent = nil
		return ctrl.Result{}, transient(ReasonSourceChanged, nil, "%s changed while it was validated; validating it again", file.Description)
	}
	// Written before anything is sent: a process that stops before it
	// hears back then knows that the outcome is unknown.
	if err := send(); err != nil {
		giveBack()
		al.Status.Intent = nil
		return ctrl.Result{}, err
	}
	if err := s.saveStatus(ctx, true); err != nil {
		giveBack()
		al.Status.Intent = nil // not sent
		return ctrl.Result{}, err
	}

	content := importfile.NewReader(file, listFormat(al), importfile.Strict, importfile.WithoutDigest())
	upload := localytics.UploadFile{Content: content}
	var activityID string
	if op == importsv1alpha1.OperationCreate {
		activityID, err = s.api.CreateAudienceList(uploadCtx, localytics.AudienceListCreate{AppID: al.Spec.AppID, Name: al.Spec.AudienceName, File: upload})
	} else {
		activityID, err = s.api.ReplaceAudienceList(uploadCtx, localytics.AudienceListReplace{
			AppID: al.Spec.AppID, AudienceListID: al.Status.AudienceListID, File: upload})
	}
	// What the answer says is recorded on one context of its own, whatever
	// becomes of the reconcile's: see saveResult.
	recordCtx, cancelRecord := recordContext(ctx)
	defer cancelRecord()
	switch {
	case err == nil:
		al.Status.Intent.ActivityID = activityID
		al.Status.LastActivityID = activityID
		s.log.Info("uploaded", "operation", op, "activityID", activityID, "digest", al.Status.SourceDigest)
		if err := s.saveResult(recordCtx, "activityID", activityID); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: r.PollMin}, nil
	case localytics.IsUnknownOutcome(err):
		// The intent stays: the next reconcile settles it. A create's list
		// is looked for from now on: the upload itself may have taken long.
		al.Status.Intent.StartedAt = metav1.NewTime(r.Clock.Now())
		// Recorded at once: lost, a restart would look for the list from
		// before the upload, and might create it again too soon.
		_ = s.saveResult(recordCtx, "outcome", "unknown", "operation", op)
		r.Recorder.Eventf(al, nil, corev1.EventTypeWarning, EventOutcomeUnknown, "Upload",
			"The connection was lost after the file was sent: Localytics may or may not have accepted the %s", operationNoun(op))
		return ctrl.Result{}, transient(ReasonUploadOutcomeUnknown, err, "the outcome of the %s is unknown; finding out", operationNoun(op))
	}
	// Nothing was accepted.
	giveBack()
	al.Status.Intent = nil
	if failure := fileFailure(err, file.Description); failure != nil {
		return ctrl.Result{}, failure
	}
	if localytics.IsNotFound(err) && op == importsv1alpha1.OperationReplace {
		return ctrl.Result{}, r.goneOutside(s)
	}
	if isListLimitError(err) {
		return ctrl.Result{}, waiting(ReasonListLimitReached, r.Clock.Now().Add(r.DriftInterval), err,
			"Localytics refused to create the list: app %s holds as many audience lists as it may", al.Spec.AppID)
	}
	if errors.Is(err, localytics.ErrInvalidRequest) {
		if localytics.IsFileTooLarge(err) {
			return ctrl.Result{}, stalled(ReasonFileTooLarge, err, "Localytics refuses files over %d bytes", maxUploadBytes)
		}
		return ctrl.Result{}, stalled(ReasonUploadRefused, err, "the upload cannot be made: %v", err)
	}
	if code, refused := refusal(err); refused {
		// Sending the same file again would be refused again: it is not
		// sent until the source changes.
		al.Status.FailedDigest = al.Status.SourceDigest
		// Recorded at once: lost, the refused file would be sent again.
		_ = s.saveResult(recordCtx, "refusal", code, "operation", op)
		reason := ReasonUploadRefused
		if code == http.StatusRequestEntityTooLarge {
			reason = ReasonFileTooLarge
		}
		return ctrl.Result{}, stalled(reason, err,
			"Localytics refused the %s (%d %s); the source is not sent again until it changes", operationNoun(op), code, http.StatusText(code))
	}
	return ctrl.Result{}, err
}

// goneOutside forgets a list that Localytics no longer knows, so that it is
// created again from the source.
func (r *AudienceListReconciler) goneOutside(s *listScope) error {
	al := s.obj
	r.Recorder.Eventf(al, nil, corev1.EventTypeWarning, EventDeletedOutside, "Drift",
		"Audience list %s was deleted outside the cluster; creating it again from the source", al.Status.AudienceListID)
	r.lists.deleted(s.app(), al.Status.AudienceListID)
	al.Status.AudienceListID, al.Status.RemoteName, al.Status.RemoteVersion = "", "", 0
	al.Status.ContentDigest, al.Status.RecordCount, al.Status.LastDriftCheck = "", 0, nil
	return transient(ReasonJobProcessing, nil, "the list was deleted outside the cluster; creating it again")
}

// reconcileName renames the list (A4) when its remote name is not
// spec.audienceName.
func (r *AudienceListReconciler) reconcileName(ctx context.Context, s *listScope) (ctrl.Result, error) {
	al := s.obj
	if al.Status.AudienceListID == "" || al.Status.Intent != nil || al.Status.RemoteName == al.Spec.AudienceName {
		return ctrl.Result{}, nil
	}
	al.Status.Intent = &importsv1alpha1.AudienceListIntent{
		Operation: importsv1alpha1.OperationRename, Name: al.Spec.AudienceName, StartedAt: metav1.NewTime(r.Clock.Now()),
	}
	if err := s.saveStatus(ctx, true); err != nil {
		al.Status.Intent = nil // not sent
		return ctrl.Result{}, err
	}
	err := s.api.RenameAudienceList(ctx, al.Status.AudienceListID, al.Spec.AudienceName)
	al.Status.Intent = nil
	switch {
	case err == nil:
		previous := al.Status.RemoteName
		al.Status.RemoteName = al.Spec.AudienceName
		r.lists.renamed(s.app(), al.Status.AudienceListID, al.Spec.AudienceName)
		r.Recorder.Eventf(al, nil, corev1.EventTypeNormal, EventRenamed, "Rename",
			"Renamed audience list %s from %q to %q", al.Status.AudienceListID, previous, al.Spec.AudienceName)
		return ctrl.Result{}, nil
	case localytics.IsNotFound(err):
		return ctrl.Result{}, r.goneOutside(s)
	}
	return ctrl.Result{}, err
}

// reconcileDelete deletes the remote list (A5) of a deleted AudienceList,
// unless its deletionPolicy is Orphan; the frame then removes the finalizer.
// A list that cannot be deleted keeps the object, with a condition that says
// why and how to let it go.
func (r *AudienceListReconciler) reconcileDelete(ctx context.Context, s *listScope) (ctrl.Result, error) {
	al := s.obj
	if al.Spec.DeletionPolicy == importsv1alpha1.DeletionPolicyOrphan {
		if al.Status.AudienceListID != "" {
			r.Recorder.Eventf(al, nil, corev1.EventTypeNormal, EventOrphaned, "Delete",
				"Left audience list %s in Localytics (deletionPolicy Orphan)", al.Status.AudienceListID)
		}
		r.lists.endCreate(s.app(), al.UID, nil)
		return ctrl.Result{}, nil
	}
	if al.Status.AudienceListID == "" && al.Status.Intent == nil {
		r.lists.endCreate(s.app(), al.UID, nil)
		return ctrl.Result{}, nil // nothing was made in Localytics
	}
	if _, err := r.reconcileAccount(ctx, s); err != nil {
		return ctrl.Result{}, deleteBlocked(al, err)
	}
	// A create in flight ends first, so that its list is known and deleted;
	// a replace or a rename in flight does not matter any more.
	if al.Status.Intent != nil && al.Status.Intent.Operation != importsv1alpha1.OperationCreate {
		al.Status.Intent = nil
	}
	if result, err := r.reconcileJob(ctx, s); err != nil || al.Status.Intent != nil {
		return result, deleteBlocked(al, err)
	}
	if id := al.Status.AudienceListID; id != "" {
		err := s.api.DeleteAudienceList(ctx, id)
		if err != nil && !localytics.IsNotFound(err) { // a 404: gone already
			return ctrl.Result{}, deleteBlocked(al, err)
		}
		r.lists.deleted(s.app(), id)
		r.Recorder.Eventf(al, nil, corev1.EventTypeNormal, EventDeleted, "Delete", "Deleted audience list %s in Localytics", id)
		al.Status.AudienceListID = ""
	}
	r.lists.endCreate(s.app(), al.UID, nil)
	return ctrl.Result{}, nil
}

// deleteBlocked turns the failure of a delete that only a person can fix
// into a stall that says how to let the object go.
func deleteBlocked(al *importsv1alpha1.AudienceList, err error) error {
	if err == nil {
		return nil
	}
	pe := classify(err)
	if pe.kind != failureStalled {
		return err
	}
	return stalled(ReasonDeleteBlocked, err,
		"audience list %s cannot be deleted in Localytics: %s. To release this AudienceList and leave the list in Localytics, set spec.deletionPolicy to Orphan",
		listDescription(al), pe.message)
}

func listDescription(al *importsv1alpha1.AudienceList) string {
	if al.Status.AudienceListID != "" {
		return al.Status.AudienceListID
	}
	return strconv.Quote(al.Spec.AudienceName)
}
