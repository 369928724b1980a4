package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/importfile"
	"github.com/localytics-operator/localytics-operator/internal/jitter"
	"github.com/localytics-operator/localytics-operator/internal/ledger"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/secrets"
	"github.com/localytics-operator/localytics-operator/internal/source"
)

// reconcileSource opens the file and validates it in one streaming pass,
// recording its digest, size, validation summary and the source's revision,
// unless the status already holds those for the current revision. A file
// that must not be uploaded stalls the import here, before any quota is
// spent. Once the file was uploaded it is never read again.
func (r *ProfileImportReconciler) reconcileSource(ctx context.Context, st *importScope) (ctrl.Result, error) {
	return ctrl.Result{}, r.validateSource(ctx, st)
}

func (r *ProfileImportReconciler) validateSource(ctx context.Context, st *importScope) error {
	pi := st.obj
	if pi.Status.ActivityID != "" {
		return nil
	}
	if deadline, carried := r.carriedUntil(pi); carried && st.now.Before(deadline) {
		// Its lines are in another import's upload: the status keeps
		// describing the file they came from until the outcome is known.
		return nil
	}
	if pi.Status.Phase == "" {
		pi.Status.Phase = importsv1alpha1.PhasePending
	}
	// An object store's stream can stall; the worker must not stall with it.
	readCtx, cancel := context.WithTimeout(ctx, sourceReadTimeout)
	defer cancel()
	sourceFailed := func(err error) error {
		if pi.Status.UploadIntent == nil {
			pi.Status.Phase = importsv1alpha1.PhasePending
		}
		return sourceFailure(err, r.SourceRecheck)
	}

	// A queued import is reconciled again and again while it waits for a
	// slot: a file already validated at the source's current revision is
	// not read again (for an object store, not downloaded again), unless
	// its cut into parts is for another upload size and none was sent.
	uploadSize := r.uploadSizeOf(ctx, pi)
	if known, ok := recordedReport(pi.Status); ok {
		revision, err := source.Revision(readCtx, r.APIReader, pi.Namespace, pi.Spec.Source, r.SourceOptions)
		if err != nil {
			return sourceFailed(err)
		}
		switch {
		case revision == pi.Status.SourceRevision && (partsStarted(pi) || partsCutFor(pi.Status, uploadSize)):
			st.report, st.revision = known, revision
			return r.judgeReport(st, "", false)
		case partsStarted(pi):
			// The parts sent were of the revision that is gone: the rest
			// cannot be cut from another file.
			pe := stalled(ReasonSourceChanged, nil,
				"the file changed after %d of its %d parts were uploaded; the rest of the file they were cut from is gone. "+
					"Restore that file, or create a new ProfileImport for the new one", pi.Status.Parts.Done, pi.Status.Parts.Total)
			if pi.Spec.Source.ObjectStore != nil {
				pe.recheck = r.SourceRecheck
			}
			return pe
		}
	}

	file, err := openWithin(readCtx, r.APIReader, pi.Namespace, pi.Spec.Source, r.SourceOptions, r.MaxFileBytes)
	if tooLarge, ok := isTooLarge(err); ok {
		return r.reject(st, tooLarge, false)
	}
	if err != nil {
		return sourceFailed(err)
	}
	defer func() { _ = file.Close() }()
	report, err := importfile.Validate(readCtx, file, importfile.Format(formatOf(pi)), importfile.CutInto(uploadSize, maxParts))
	if err != nil {
		return transient(ReasonSourceUnreadable, err, "%s could not be read; retrying", file.Description)
	}
	st.report, st.revision = report, file.Revision

	newFile := pi.Status.ContentDigest != report.Digest
	pi.Status.ContentDigest = report.Digest
	pi.Status.SourceRevision = file.Revision
	pi.Status.Lines = report.Lines
	pi.Status.Bytes = report.Bytes
	pi.Status.Validation = validationSummary(report)
	pi.Status.Parts = partsOf(report, uploadSize)
	return r.judgeReport(st, file.Description, newFile)
}

// reject stalls an import whose file must not be uploaded (phase Invalid,
// unless an upload of unknown outcome is being settled), with an event when
// the file is new or the import was not Invalid yet.
func (r *ProfileImportReconciler) reject(st *importScope, rejected *phaseError, newFile bool) error {
	pi := st.obj
	if pi.Spec.Source.ObjectStore != nil {
		// Fixed in the store, where no watch sees it; a look costs one
		// request for the object's ETag.
		rejected.recheck = r.SourceRecheck
	}
	if pi.Status.UploadIntent == nil {
		if newFile || st.base.Status.Phase != importsv1alpha1.PhaseInvalid {
			r.Recorder.Eventf(pi, nil, corev1.EventTypeWarning, EventRejected, "Validate", "%s", rejected.message)
		}
		pi.Status.Phase = importsv1alpha1.PhaseInvalid
	}
	return rejected
}

// recordedReport rebuilds the report of the validation the status records,
// if it records one with the revision it was of.
func recordedReport(status importsv1alpha1.ProfileImportStatus) (importfile.Report, bool) {
	v := status.Validation
	if status.SourceRevision == "" || status.ContentDigest == "" || v == nil {
		return importfile.Report{}, false
	}
	report := importfile.Report{
		Lines:        status.Lines,
		ValidLines:   v.ValidLines,
		InvalidLines: v.InvalidLines,
		Bytes:        status.Bytes,
		Digest:       status.ContentDigest,
		HasIncrement: v.HasIncrement,
	}
	for _, e := range v.Errors { // validationSummary put any field into the message
		report.Errors = append(report.Errors, importfile.LineError{Line: e.Line, Message: e.Message})
	}
	return report, true
}

// judgeReport stalls an import whose file must not be uploaded, before any
// quota is spent, and records the events of a new file (described, for
// people, by description).
func (r *ProfileImportReconciler) judgeReport(st *importScope, description string, newFile bool) error {
	pi, report := st.obj, st.report
	rejected := tooLargeAfterReading(report.Bytes, r.MaxFileBytes)
	parts := pi.Status.Parts
	if partsStarted(pi) {
		parts = nil // cut and judged before its first part was sent
	}
	switch {
	case rejected != nil:
		// The other counts are of the part that was read.
	case report.InvalidLines > 0 && validationOf(pi) == importsv1alpha1.ValidationStrict:
		rejected = stalled(ReasonValidationFailed, nil,
			"%d of %d lines are invalid and spec.validation is Strict, so nothing was uploaded; the first: %s. "+
				"Fix the file, or set spec.validation to SkipInvalid to upload the valid lines",
			report.InvalidLines, report.Lines, firstError(report))
	case report.ValidLines == 0:
		rejected = stalled(ReasonNoValidLines, nil, "the file has no valid line to upload (%d lines, %d invalid)", report.Lines, report.InvalidLines)
	case parts != nil && parts.OversizedLine > 0:
		rejected = stalled(ReasonFileTooLarge, nil,
			"line %d is larger, with the file's header, than one upload may be (%d bytes, the account's spec.limits.maxUploadBytes); nothing was uploaded",
			parts.OversizedLine, parts.MaxBytes)
	case parts != nil && parts.Total > maxParts:
		rejected = stalled(ReasonFileTooLarge, nil,
			"the file takes %d uploads of at most %d bytes (the account's spec.limits.maxUploadBytes), more than the %d parts a file may be cut into; "+
				"nothing was uploaded. Split the file, or raise the account's maxUploadBytes",
			parts.Total, parts.MaxBytes, maxParts)
	}
	if rejected != nil {
		return r.reject(st, rejected, newFile)
	}
	if pi.Status.Phase == importsv1alpha1.PhaseInvalid {
		pi.Status.Phase = importsv1alpha1.PhasePending
	}
	if newFile {
		inPartsNote := ""
		if inParts(pi) {
			inPartsNote = fmt.Sprintf(", to upload in %d parts", pi.Status.Parts.Total)
		}
		r.Recorder.Eventf(pi, nil, corev1.EventTypeNormal, EventValidated, "Validate",
			"%s: %d valid lines, %d invalid, %d bytes, %s%s", description, report.ValidLines, report.InvalidLines, report.Bytes, report.Digest, inPartsNote)
	}
	return nil
}

// fileFailure classifies an upload that failed because its file did while
// it was sent; nil for any other failure (ErrInvalidRequest included, whose
// request never went out). A Strict import's line that is now invalid means
// the file changed under its pinned revision; anything else is the store
// failing mid-stream.
func fileFailure(err error, description string) *phaseError {
	var lineErr *importfile.LineError
	var fileErr *localytics.FileReadError
	switch {
	case errors.As(err, &lineErr):
		return transient(ReasonSourceChanged, err, "the file changed while it was uploaded; validating it again")
	case errors.As(err, &fileErr) && !errors.Is(err, localytics.ErrInvalidRequest):
		return transient(ReasonSourceUnreadable, err, "%s could not be read while it was uploaded; retrying", description)
	}
	return nil
}

// sourceFailure classifies a failure to open the source. What is wrong in an
// object store is fixed there, where no watch sees it: such a stall looks
// again every recheck.
func sourceFailure(err error, recheck time.Duration) error {
	if nf, ok := source.IsNotFound(err); ok {
		pe := stalled(ReasonSourceNotFound, err, "%s", nf.Error())
		if nf.Kind == source.KindObject { // outside the cluster
			pe.recheck = recheck
		}
		return pe
	}
	if u, ok := source.IsUnsupported(err); ok {
		return stalled(ReasonSourceUnsupported, err, "%s", u.Error())
	}
	if e, ok := source.IsInvalid(err); ok {
		return stalled(ReasonSourceInvalid, err, "%s", e.Error())
	}
	if e, ok := source.IsEndpointNotAllowed(err); ok {
		return stalled(ReasonSourceEndpointNotAllowed, err, "%s", e.Error())
	}
	if e, ok := secrets.IsNotLabelled(err); ok {
		// The label's change wakes the object through the Secret's watch.
		return stalled(ReasonSecretNotLabelled, err, "%s", e.Error())
	}
	if e, ok := source.IsAccessDenied(err); ok {
		pe := stalled(ReasonSourceAccessDenied, err, "%s", e.Error())
		pe.recheck = recheck
		return pe
	}
	if e, ok := source.IsUnavailable(err); ok {
		// The cause holds addresses and request ids: it goes to the log.
		return transient(ReasonSourceUnreadable, err, "%s could not be read; retrying", e.Description)
	}
	return err
}

// reconcileAccount finds the account and its client. An import waits for
// an account that is not Ready yet, and stalls with an account that only a
// person can fix.
func (r *ProfileImportReconciler) reconcileAccount(ctx context.Context, st *importScope) (ctrl.Result, error) {
	if isTerminal(st.obj) {
		return ctrl.Result{}, nil
	}
	ready, err := r.accounts.resolve(ctx, st.obj.Namespace, st.obj.Spec.AccountRef.Name, st.now)
	if err != nil {
		return ctrl.Result{}, err
	}
	st.account, st.api, st.keyHash = ready.account, ready.api, ready.keyHash
	return ctrl.Result{}, nil
}

// uploadAttempt is one upload of a file: its number and the time recorded in
// its intent.
type uploadAttempt struct {
	// number is 0 for the first upload and one more for each retry after an
	// upload of unknown outcome. It is part of the ledger slot, so that a
	// retry takes a slot of its own (the vendor counted the lost upload).
	number    int32
	startedAt time.Time
	// previous is the intent of the attempt of unknown outcome this one
	// retries, restored if this one is refused.
	previous *importsv1alpha1.UploadIntent
	// consumesAnnotation says the retry was allowed by a person's
	// annotation, which is removed before the upload so that it is honoured
	// once.
	consumesAnnotation bool
}

// reconcileUpload uploads the file, at most once per digest: it reserves a
// slot in the account's ledger, records the intent, then sends the file and
// records the activity id.
func (r *ProfileImportReconciler) reconcileUpload(ctx context.Context, st *importScope) (ctrl.Result, error) {
	return ctrl.Result{}, r.upload(ctx, st)
}

func (r *ProfileImportReconciler) upload(ctx context.Context, st *importScope) error {
	pi := st.obj
	if pi.Status.ActivityID != "" {
		return nil
	}
	if rf := pi.Status.UploadRefusal; rf != nil {
		if rf.ContentDigest == st.report.Digest && rf.Generation == pi.Generation {
			return refusedUpload(int(rf.StatusCode)) // not sent again
		}
		pi.Status.UploadRefusal = nil // the file or the spec changed
	}
	if deadline, carried := r.carriedUntil(pi); carried && st.now.Before(deadline) {
		// The carrier writes the outcome here, and wakes this import.
		pi.Status.Phase = importsv1alpha1.PhaseUploading
		return waiting(ReasonSharedUpload, deadline, nil, "travelling in the upload of ProfileImport %q", pi.Status.SharedUpload.Carrier)
	}
	attempt, err := r.planUpload(ctx, st)
	if err != nil {
		return err
	}

	accountKey := client.ObjectKeyFromObject(st.account)
	if st.keyHash == "" || st.keyHash != st.account.Status.KeyHash {
		// The account controller records the ledger of the key it verified
		// (an account from before ledgers were kept per key carries its own
		// entries there first); until then, the turns counted on the
		// account's copy would be another key's.
		return transient(ReasonAccountNotReady, nil, "waiting for LocalyticsAccount %q to set up the upload ledger of its API key", st.account.Name)
	}
	book := ledger.Book{Name: ledger.NameOf(st.keyHash), Limit: ledger.UploadLimitOf(st.account.Spec.Limits)}
	slot := ledger.Slot{
		Owner:   client.ObjectKeyFromObject(pi).String(),
		UID:     pi.UID,
		Digest:  st.report.Digest,
		Attempt: attempt.number,
		Part:    partOf(pi),
	}
	ledgerClient := ledger.Uncached(r.APIReader, r.Client)
	now := r.Clock.Now()
	line, err := r.awaitTurn(ctx, st, slot, now)
	if err != nil {
		return err
	}
	var candidates []*importsv1alpha1.ProfileImport
	if line.carrier(pi) && attempt.previous == nil && packable(pi) {
		candidates = line.pack.imports[1:]
	}
	// Until it is recorded as sent, the slot holds the upload's deadline.
	reservation, err := ledger.Reserve(ctx, ledgerClient, book, slot, now, now.Add(r.UploadTimeout))
	// releaseSlot gives back a slot whose upload was never sent. A slot
	// held already may be that of an earlier send abandoned half-way, which
	// the vendor may have counted: it is kept.
	releaseSlot := func() {
		if reservation.Existing {
			return
		}
		releaseCtx, cancel := recordContext(ctx)
		defer cancel()
		if _, err := ledger.Release(releaseCtx, ledgerClient, book, slot, r.Clock.Now()); err != nil {
			st.log.Error(err, "releasing an unused upload slot")
		}
	}
	if err != nil {
		if noSlot, ok := ledger.IsNoSlot(err); ok {
			r.markQueued(st, noSlot.NextSlot, line.place)
			return waiting(ReasonQuotaExhausted, noSlot.NextSlot, err,
				"waiting for a profile upload slot of LocalyticsAccount %q: every slot of its window is taken; status.nextUploadSlot says when one opens",
				st.account.Name)
		}
		return err
	}
	// The ledger and this process's budget agree unless another process
	// uses the key without the ledger: the budget then says when to come.
	if wait := budgetWait(st.api, localytics.BudgetProfileUploads, r.Clock); wait > 0 {
		next := r.Clock.Now().Add(wait)
		r.markQueued(st, next, line.place)
		return waiting(ReasonRateLimited, next, nil, "waiting for the profile upload budget of LocalyticsAccount %q", st.account.Name)
	}

	// The file is opened only with a slot in hand, so that imports waiting
	// for one do not read it; a store that fails, or a file that changed,
	// gives the slot back, since nothing was sent. The deadline covers the
	// whole upload, which the manager's stop does not cut short.
	uploadCtx, send, cancel := sendContext(ctx, r.UploadTimeout)
	defer cancel()
	file, err := source.Open(uploadCtx, r.APIReader, pi.Namespace, pi.Spec.Source, r.SourceOptions)
	if err != nil {
		releaseSlot()
		return sourceFailure(err, r.SourceRecheck)
	}
	defer func() { _ = file.Close() }()
	if file.Revision != st.revision {
		releaseSlot()
		return transient(ReasonSourceChanged, nil, "%s changed while it was validated; validating it again", file.Description)
	}
	if err := send(); err != nil {
		releaseSlot()
		return err
	}

	// The intent is written before anything is sent: if this process stops
	// before it records the activity id, the next reconcile knows that the
	// outcome is unknown. The optimistic lock makes sure the decision to
	// upload was taken on the latest version of the import.
	pi.Status.UploadIntent = &importsv1alpha1.UploadIntent{
		ContentDigest: st.report.Digest,
		StartedAt:     metav1.Time{Time: attempt.startedAt},
		Attempt:       attempt.number,
		Part:          partOf(pi),
	}
	pi.Status.SharedUpload = nil
	if len(candidates) > 0 {
		pi.Status.SharedUpload = &importsv1alpha1.SharedUpload{Carrier: pi.Name, FirstLine: 1, Lines: st.report.ValidLines}
	}
	pi.Status.Phase = importsv1alpha1.PhaseUploading
	pi.Status.NextUploadSlot, pi.Status.QueuePosition = nil, 0
	if err := st.saveStatus(ctx, true); err != nil {
		releaseSlot()
		return err
	}
	if attempt.consumesAnnotation {
		delete(pi.Annotations, importsv1alpha1.AnnotationRetryUnknownUpload)
		if err := st.saveMetadata(ctx); err != nil {
			// Not sent: the next reconcile finds the intent and decides again.
			return err
		}
	}
	// Each import the upload carries holds its intent before anything is
	// sent, as this one does.
	members := r.claimMembers(uploadCtx, pi, candidates)
	if len(members) == 0 {
		pi.Status.SharedUpload = nil
	}

	// The digest is reconcileSource's, of this very revision: the upload
	// checks every line again (and drops invalid ones in SkipInvalid mode)
	// but does not hash the bytes again.
	opts := []importfile.ReaderOption{importfile.WithoutDigest()}
	if inParts(pi) {
		opts = append(opts, importfile.Records(partRecords(pi.Status.Parts)))
	}
	content := importfile.NewReader(file, importfile.Format(formatOf(pi)), importfile.Mode(validationOf(pi)), opts...)
	body := &packBody{ctx: uploadCtx, r: r, first: content, members: members}
	defer func() { _ = body.Close() }()
	activityID, err := st.api.UploadProfiles(uploadCtx, localytics.ProfileUpload{
		Scope:  scopeOf(pi),
		Format: localytics.ProfileFormat(formatOf(pi)),
		File:   localytics.UploadFile{Content: body},
	})
	// What the answer says is recorded on one context of its own, whatever
	// becomes of the reconcile's: see saveResult.
	recordCtx, cancelRecord := recordContext(ctx)
	defer cancelRecord()
	out := outbound{attempt: attempt, slot: slot, accountKey: accountKey, book: book, ledgerClient: ledgerClient, members: members,
		content: content, description: file.Description, releaseSlot: releaseSlot, sentAt: r.Clock.Now()}
	return r.recordAnswer(recordCtx, st, out, activityID, err)
}

// awaitTurn puts the import in its account's line and says whether its
// upload may go now: uploads take the slots in the order of their first
// import, and the imports of one scope travel together in line order
// (uploadpack.go). One whose upload's turn has not come waits for it without
// trying the ledger; one that travels in another's upload waits for it; a
// carrier whose turn came gathers first. A slot held already (a reconcile
// cut short after the reservation) is the carrier's, and goes now.
func (r *ProfileImportReconciler) awaitTurn(ctx context.Context, st *importScope, slot ledger.Slot, now time.Time) (lineUp, error) {
	pi := st.obj
	limit := ledger.UploadLimitOf(st.account.Spec.Limits)
	line, imports, err := r.lineUpOf(ctx, pi, uploadBytesOf(st.account.Spec.Limits))
	if err != nil || slot.HeldIn(ledger.Prune(st.account.Status.UploadLedger, limit, now)) {
		return line, err
	}
	if turn := ledger.Turn(st.account.Status.UploadLedger, limit, now, line.turn); turn.After(now) {
		r.markQueued(st, turn, line.place)
		return line, waiting(ReasonQuotaExhausted, turn, nil,
			"waiting for a profile upload slot of LocalyticsAccount %q: %d imports are before this one in line; status.nextUploadSlot says when its turn comes",
			st.account.Name, line.place)
	}
	if !line.carrier(pi) {
		_, maxWait := gatheringOf(st.account.Spec.Gathering)
		r.markQueued(st, now, line.place)
		return line, waiting(ReasonQuotaExhausted, now.Add(maxWait+r.UploadTimeout), nil,
			"waiting to travel in the upload of ProfileImport %q, which has its turn", line.pack.imports[0].Name)
	}
	if until := gatherUntil(pi, imports, st.account.Spec.Gathering); until.After(now) {
		r.markGathering(st, until, line.place)
		return line, waiting(ReasonGathering, until, nil,
			"gathering the imports of its scope that arrive within the quiet period, to send them in one upload; "+
				"status.nextUploadSlot says when it is sent")
	}
	return line, nil
}

// carriedUntil tells an import that travels in another import's upload
// whose outcome is not written yet, and until when that upload may still
// be under way: its intent was written after the body's deadline started,
// and the carrier writes the outcomes within recordTimeout after it.
// Past it, the outcome is unknown, and the import decides for itself.
func (r *ProfileImportReconciler) carriedUntil(pi *importsv1alpha1.ProfileImport) (time.Time, bool) {
	intent, shared := pi.Status.UploadIntent, pi.Status.SharedUpload
	if intent == nil || shared == nil || shared.Carrier == pi.Name || intent.EndedAt != nil {
		return time.Time{}, false
	}
	return intent.StartedAt.Add(r.UploadTimeout + recordTimeout), true
}

// outbound is an upload that was sent: what recording its answer needs.
type outbound struct {
	attempt      uploadAttempt
	slot         ledger.Slot
	accountKey   types.NamespacedName
	book         ledger.Book
	ledgerClient ledger.Client
	// members are the imports it carried besides the carrier.
	members     []*importsv1alpha1.ProfileImport
	content     *importfile.Reader
	description string
	releaseSlot func()
	sentAt      time.Time
}

// recordAnswer records what Localytics answered to an upload (err its
// failure) on the carrier and on every import it carried. recordCtx is the
// upload's record context.
func (r *ProfileImportReconciler) recordAnswer(recordCtx context.Context, st *importScope, out outbound, activityID string, err error) error {
	pi := st.obj
	switch {
	case err == nil:
		recordUpload(out.accountKey.String(), uploadAccepted)
		pi.Status.ActivityID = activityID
		pi.Status.SubmittedAt = &metav1.Time{Time: out.sentAt}
		pi.Status.UploadIntent = nil
		pi.Status.Phase = importsv1alpha1.PhaseProcessing
		if pi.Status.SharedUpload != nil {
			pi.Status.SharedUpload.Imports = int32(1 + len(out.members))
		}
		st.log.Info("uploaded", "activityID", activityID, "digest", st.report.Digest, "lines", st.report.ValidLines, "imports", 1+len(out.members))
		saveErr := st.saveResult(recordCtx, "activityID", activityID)
		r.settleMembers(recordCtx, pi, out.members, sent(activityID, out.sentAt, firstLines(st.report.ValidLines, out.members)))
		if saveErr != nil {
			return saveErr
		}
		r.recordSent(recordCtx, st, out.ledgerClient, out.book, out.slot, out.sentAt)
		if len(out.members) > 0 {
			r.Recorder.Eventf(pi, nil, corev1.EventTypeNormal, EventUploaded, "Upload",
				"Uploaded %d lines to Localytics with %d other imports; activity %s", out.content.Report().ValidLines, len(out.members), activityID)
			return nil
		}
		if inParts(pi) {
			r.Recorder.Eventf(pi, nil, corev1.EventTypeNormal, EventUploaded, "Upload",
				"Uploaded part %d of %d to Localytics; activity %s", pi.Status.Parts.Done+1, pi.Status.Parts.Total, activityID)
			return nil
		}
		r.Recorder.Eventf(pi, nil, corev1.EventTypeNormal, EventUploaded, "Upload",
			"Uploaded %d lines to Localytics; activity %s", out.content.Report().ValidLines, activityID)
		return nil

	case localytics.IsUnknownOutcome(err):
		recordUpload(out.accountKey.String(), uploadUnknown)
		pi.Status.UploadIntent.EndedAt = &metav1.Time{Time: out.sentAt}
		// Recorded at once: lost, a retry would wait for the upload's deadline.
		_ = st.saveResult(recordCtx, "outcome", "unknown", "digest", st.report.Digest)
		r.settleMembers(recordCtx, pi, out.members, lost(out.sentAt))
		// The vendor counted the upload, whatever happened to the answer.
		r.recordSent(recordCtx, st, out.ledgerClient, out.book, out.slot, out.sentAt)
		st.log.Info("upload of unknown outcome", "digest", st.report.Digest, "error", err.Error())
		r.Recorder.Eventf(pi, nil, corev1.EventTypeWarning, ReasonUploadOutcomeUnknown, "Upload",
			"The connection was lost after the file was sent: Localytics may or may not have accepted it")
		if st.report.HasIncrement {
			return stalled(ReasonUploadOutcomeUnknown, err, "%s", unknownOutcomeMessage)
		}
		return transient(ReasonUploadOutcomeUnknown, err,
			"the outcome of the upload is unknown; the file has no increment changes, so it is uploaded again")

	default:
		// Nothing was accepted: the server refused the file, or it was
		// never sent. The intent of an earlier attempt of unknown outcome
		// stays, so that what is known about it is not forgotten.
		recordUpload(out.accountKey.String(), uploadRefused)
		pi.Status.UploadIntent, pi.Status.SharedUpload = out.attempt.previous, nil
		if out.attempt.previous == nil {
			pi.Status.Phase = importsv1alpha1.PhaseQueued
		}
		if failure := fileFailure(err, out.description); failure != nil {
			// The request was abandoned before its body was complete. The
			// slot stays taken, in case the vendor counted the request
			// anyway; the imports it carried wait in line again.
			r.settleMembers(recordCtx, pi, out.members, notSent)
			return failure
		}
		if code, refused := refusal(err); refused {
			// The slot stays taken: the vendor may count a refused upload.
			pi.Status.UploadRefusal = &importsv1alpha1.UploadRefusal{
				ContentDigest: st.report.Digest, Generation: pi.Generation, StatusCode: int32(code),
			}
			// Recorded at once: lost, the refused file would be sent again.
			_ = st.saveResult(recordCtx, "refusal", code, "digest", st.report.Digest)
			r.settleMembers(recordCtx, pi, out.members, refusedWith(code))
			return refusedUpload(code)
		}
		r.settleMembers(recordCtx, pi, out.members, notSent)
		switch {
		case errors.Is(err, localytics.ErrInvalidRequest):
			// Refused before it was sent: the slot is free again.
			out.releaseSlot()
			if localytics.IsFileTooLarge(err) {
				return stalled(ReasonFileTooLarge, err, "Localytics refuses files over %d bytes", maxUploadBytes)
			}
			return stalled(ReasonUploadRefused, err, "the upload cannot be made: %v", err)
		}
		return err
	}
}

// refusedUpload is the stall of an import whose upload Localytics refused.
func refusedUpload(code int) *phaseError {
	if code == http.StatusRequestEntityTooLarge {
		return stalled(ReasonFileTooLarge, nil, "Localytics refused the file as too large (413); it is not sent again until the file changes")
	}
	return stalled(ReasonUploadRefused, nil, "Localytics refused the upload (%d %s); it is not sent again until the file or the spec changes",
		code, http.StatusText(code))
}

// planUpload decides how the next upload is made: the first attempt, or a
// retry after an attempt whose outcome is unknown (an intent recorded but no
// activity id: this process or an earlier one lost the answer). A file with
// increment changes is retried only when a person allowed it.
func (r *ProfileImportReconciler) planUpload(ctx context.Context, st *importScope) (uploadAttempt, error) {
	pi := st.obj
	intent := pi.Status.UploadIntent
	if intent == nil {
		return uploadAttempt{startedAt: st.now}, nil
	}
	// The cache may lag behind this reconciler's own writes: what looks
	// like an intent without an activity id may be the step before one.
	// Decide only on what the API server holds.
	fresh := &importsv1alpha1.ProfileImport{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pi), fresh); err != nil {
		return uploadAttempt{}, err
	}
	if fresh.ResourceVersion != pi.ResourceVersion {
		return uploadAttempt{}, errStaleCache
	}
	// A file that changed since the lost upload may hold anything.
	risky := st.report.HasIncrement || intent.ContentDigest != st.report.Digest
	allowed := pi.Annotations[importsv1alpha1.AnnotationRetryUnknownUpload] == "true"
	pi.Status.Phase = importsv1alpha1.PhaseUploading
	if risky && !allowed {
		return uploadAttempt{}, stalled(ReasonUploadOutcomeUnknown, nil, "%s", unknownOutcomeMessage)
	}
	lost := intent.Attempt + 1
	capped := lost >= maxUnknownOutcomes
	if capped && !allowed {
		// Something keeps losing the answers: retrying on would spend the
		// budget on uploads that may all have been applied.
		return uploadAttempt{}, stalled(ReasonUploadOutcomeUnknown, nil,
			"%d uploads of this file had an unknown outcome (the answer was lost each time); it is not uploaded again "+
				"until a person sets the annotation %s: \"true\" (honoured once); the events and the account's ledger hold the attempts",
			lost, importsv1alpha1.AnnotationRetryUnknownUpload)
	}
	if inFlightUntil := intent.StartedAt.Add(r.UploadTimeout); intent.EndedAt == nil && st.now.Before(inFlightUntil) {
		// The operator stopped while it was sending: another process (the
		// previous leader) may still be sending it.
		return uploadAttempt{}, waiting(ReasonUploadOutcomeUnknown, inFlightUntil, nil,
			"an earlier upload of this file may still be in flight (the operator stopped while sending it); "+
				"it is uploaded again once that upload's deadline passed")
	}
	r.Recorder.Eventf(pi, nil, corev1.EventTypeNormal, EventRetryingUpload, "Upload",
		"Uploading again a file whose earlier upload has an unknown outcome (%s)", retryWhy(risky || capped))
	return uploadAttempt{
		// Asked again before its intent is written (this process stopped
		// in between), the retry gets the same number, and so the same slot.
		number:             intent.Attempt + 1,
		startedAt:          st.now,
		previous:           intent.DeepCopy(),
		consumesAnnotation: risky || capped,
	}, nil
}

func retryWhy(risky bool) string {
	if risky {
		return "allowed by the annotation " + importsv1alpha1.AnnotationRetryUnknownUpload
	}
	return "the file has no increment changes"
}

// recordSent stamps the slot with the time the upload was answered, so that
// it opens again when the vendor's does. A failure only leaves the slot
// stamped with the upload's deadline, so that it opens late, never early.
// ctx is the upload's record context.
func (r *ProfileImportReconciler) recordSent(ctx context.Context, st *importScope, c ledger.Client, book ledger.Book,
	slot ledger.Slot, sentAt time.Time) {
	if _, err := ledger.RecordSent(ctx, c, book, slot, sentAt); err != nil {
		st.log.Error(err, "recording the upload time in the ledger")
	}
}

// markQueued shows that the import waits for an upload slot.
func (r *ProfileImportReconciler) markQueued(st *importScope, next time.Time, place int) {
	pi := st.obj
	slot := metav1.NewTime(ceilSecond(next))
	if st.base.Status.Phase != importsv1alpha1.PhaseQueued || st.base.Status.NextUploadSlot == nil {
		r.Recorder.Eventf(pi, nil, corev1.EventTypeNormal, EventQueued, "Reserve",
			"Waiting for an upload slot of LocalyticsAccount %q; the next opens at %s", st.account.Name, slot.UTC().Format(time.RFC3339))
	}
	if pi.Status.UploadIntent == nil {
		pi.Status.Phase = importsv1alpha1.PhaseQueued
	}
	pi.Status.NextUploadSlot = &slot
	pi.Status.QueuePosition = 0
	if place >= 0 {
		pi.Status.QueuePosition = int32(place) + 1
	}
}

// markGathering shows that the import's upload has its turn and waits
// until until for more imports to share it.
func (r *ProfileImportReconciler) markGathering(st *importScope, until time.Time, place int) {
	r.markQueued(st, until, place)
	st.obj.Status.Phase = importsv1alpha1.PhaseGathering
}

// reconcilePoll asks Localytics for the state of the job, within the
// status budget, until it ends. A job is first asked about PollMin after its
// upload.
func (r *ProfileImportReconciler) reconcilePoll(ctx context.Context, st *importScope) (ctrl.Result, error) {
	pi := st.obj
	if pi.Status.ActivityID == "" || isTerminal(pi) {
		return ctrl.Result{}, nil
	}
	pi.Status.Phase = importsv1alpha1.PhaseProcessing
	now := r.Clock.Now() // the upload, in this reconcile, may have taken long
	if sent := pi.Status.SubmittedAt; sent != nil && now.Sub(sent.Time) < r.PollMin {
		return ctrl.Result{RequeueAfter: r.PollMin - now.Sub(sent.Time)}, nil
	}
	if wait := budgetWait(st.api, localytics.BudgetProfileStatus, r.Clock); wait > 0 {
		return ctrl.Result{RequeueAfter: wait + jitter.Up(r.PollMin/4)}, nil
	}
	shared := pi.Status.SharedUpload
	if shared != nil && shared.Imports < 2 {
		shared = nil // it travelled alone after all
	}
	var job localytics.ProfileJob
	var err error
	if shared != nil {
		// The imports of the upload ask about one job: one answer, kept
		// for half a poll interval, serves them all.
		job, err = r.jobs.job(ctx, st.api, pi.Status.ActivityID, r.pollInterval(pi, st.now)/2, now)
	} else {
		job, err = st.api.ProfileJobStatus(ctx, pi.Status.ActivityID)
	}
	if err != nil {
		if localytics.IsNotFound(err) {
			return ctrl.Result{}, stalled(ReasonJobNotFound, err, "Localytics does not know the job of this import (status.activityID)")
		}
		return ctrl.Result{}, err
	}
	if !job.Status.Terminal() {
		return ctrl.Result{RequeueAfter: r.pollInterval(pi, st.now)}, nil
	}
	if inParts(pi) {
		return r.finishPart(st, job)
	}
	pi.Status.Statistics = statisticsOf(job.Stats)
	unattributed := int64(0)
	if shared != nil {
		// The job's counts are of the whole body: this import's are its
		// own lines', less those the error log lists in their range.
		var failed errorLog
		if job.Stats.Failed > 0 {
			failed = r.jobs.failedLines(ctx, st.api, pi.Status.ActivityID, job.ErrorLogURL, now)
			if failed.err != nil && !errors.Is(failed.err, localytics.ErrErrorLogNotAllowed) && !errors.Is(failed.err, localytics.ErrErrorLogUnreadable) {
				return ctrl.Result{}, transient(ReasonAPIUnavailable, failed.err,
					"the job of the upload this import shared ended with %d failed lines, and its error log, which says whose they are, could not be read; retrying",
					job.Stats.Failed)
			}
			// A log that is missing, refused or cut short names fewer
			// lines than failed: the rest cannot be told apart.
			unattributed = max(job.Stats.Failed-int64(len(failed.lines)), 0)
		}
		pi.Status.Statistics = sharedStatistics(shared, failed)
	}
	pi.Status.ErrorLogURL = job.ErrorLogURL
	pi.Status.CompletedAt = &metav1.Time{Time: st.now}
	if job.Status == localytics.JobFailed {
		pi.Status.Phase = importsv1alpha1.PhaseFailed
		r.Recorder.Eventf(pi, nil, corev1.EventTypeWarning, EventFailed, "Poll", "The Localytics job failed; see status.errorLogURL")
		return ctrl.Result{}, errJobFailed
	}
	pi.Status.Phase = importsv1alpha1.PhaseCompleted
	if unattributed > 0 {
		r.Recorder.Eventf(pi, nil, corev1.EventTypeWarning, EventFailedLinesUnattributed, "Poll",
			"%d failed lines of the upload this import shared are not in its error log (missing, refused or cut short): "+
				"they may be this import's or another's, and are not counted in status.statistics", unattributed)
	}
	r.Recorder.Eventf(pi, nil, corev1.EventTypeNormal, EventCompleted, "Poll",
		"Localytics imported %d profiles of %d lines, %d failed", pi.Status.Statistics.Successful, pi.Status.Statistics.Total, pi.Status.Statistics.Failed)
	return ctrl.Result{}, nil
}

// finishPart records the end of the job of a part: the import queues for
// the next part, or ends with the last (or a failed) one.
func (r *ProfileImportReconciler) finishPart(st *importScope, job localytics.ProfileJob) (ctrl.Result, error) {
	pi := st.obj
	part, total := pi.Status.Parts.Done+1, pi.Status.Parts.Total
	if finishPart(pi, job) {
		r.Recorder.Eventf(pi, nil, corev1.EventTypeNormal, EventPartCompleted, "Poll",
			"The Localytics job of part %d of %d completed: %d profiles imported of %d lines, %d failed; the next part queues for its slot",
			part, total, job.Stats.Successful, job.Stats.Total, job.Stats.Failed)
		pi.Status.ActivityID, pi.Status.SubmittedAt = "", nil
		pi.Status.Phase = importsv1alpha1.PhaseQueued
		return ctrl.Result{RequeueAfter: nextPartRequeue}, nil
	}
	pi.Status.CompletedAt = &metav1.Time{Time: st.now}
	if job.Status == localytics.JobFailed {
		pi.Status.Phase = importsv1alpha1.PhaseFailed
		r.Recorder.Eventf(pi, nil, corev1.EventTypeWarning, EventFailed, "Poll",
			"The Localytics job of part %d of %d failed, and the parts after it are not sent; see status.errorLogURL", part, total)
		return ctrl.Result{}, errJobFailed
	}
	pi.Status.Phase = importsv1alpha1.PhaseCompleted
	r.Recorder.Eventf(pi, nil, corev1.EventTypeNormal, EventCompleted, "Poll",
		"Localytics imported %d profiles of %d lines in %d parts, %d failed",
		pi.Status.Statistics.Successful, pi.Status.Statistics.Total, total, pi.Status.Statistics.Failed)
	return ctrl.Result{}, nil
}

// errJobFailed is the stall of an import whose job failed: nothing is left
// to do but to read its error log.
var errJobFailed = stalled(ReasonJobFailed, nil, "the Localytics job failed; its error log is at status.errorLogURL")

// reconcileTerminal keeps the conditions of an import whose job ended: it is
// Ready once Completed, stalled once Failed, whatever its generation.
func (r *ProfileImportReconciler) reconcileTerminal(_ context.Context, st *importScope) (ctrl.Result, error) {
	if isTerminal(st.obj) && st.obj.Status.Phase == importsv1alpha1.PhaseFailed {
		return ctrl.Result{}, errJobFailed
	}
	return ctrl.Result{}, nil
}

// pollInterval is the wait before the next status request for the
// import's job (see the function pollInterval).
func (r *ProfileImportReconciler) pollInterval(pi *importsv1alpha1.ProfileImport, now time.Time) time.Duration {
	started := now
	if pi.Status.SubmittedAt != nil {
		started = pi.Status.SubmittedAt.Time
	}
	return pollInterval(started, now, r.PollMin, r.PollMax)
}

func ceilSecond(t time.Time) time.Time {
	if down := t.Truncate(time.Second); !down.Equal(t) {
		return down.Add(time.Second)
	}
	return t
}

func formatOf(pi *importsv1alpha1.ProfileImport) importsv1alpha1.ProfileFormat {
	if pi.Spec.Format == "" {
		return importsv1alpha1.ProfileFormatJSON
	}
	return pi.Spec.Format
}

func validationOf(pi *importsv1alpha1.ProfileImport) importsv1alpha1.ValidationMode {
	if pi.Spec.Validation == "" {
		return importsv1alpha1.ValidationStrict
	}
	return pi.Spec.Validation
}

func scopeOf(pi *importsv1alpha1.ProfileImport) localytics.Scope {
	if pi.Spec.OrgID != nil {
		return localytics.Scope{OrgID: *pi.Spec.OrgID}
	}
	return localytics.Scope{AppID: pi.Spec.AppID}
}

// validationSummary is the status form of a validation report.
func validationSummary(report importfile.Report) *importsv1alpha1.ValidationSummary {
	summary := &importsv1alpha1.ValidationSummary{
		ValidLines:   report.ValidLines,
		InvalidLines: report.InvalidLines,
		HasIncrement: report.HasIncrement,
	}
	for i := range report.Errors {
		if i == importfile.MaxReportedErrors {
			break
		}
		e := report.Errors[i]
		message := e.Message
		if e.Field != "" {
			message = e.Field + ": " + message
		}
		summary.Errors = append(summary.Errors, importsv1alpha1.LineError{Line: e.Line, Message: message})
	}
	return summary
}

// firstError describes the first invalid line of a report.
func firstError(report importfile.Report) string {
	if len(report.Errors) == 0 {
		return "none reported"
	}
	return report.Errors[0].Error()
}
