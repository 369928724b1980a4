package controllers

import (
	"context"
	"math"
	"strconv"

	"k8s.io/apimachinery/pkg/types"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/importfile"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// Files larger than one upload go up in parts. The validation pass cuts
// the file into runs of whole lines under the account's maxUploadBytes
// (importfile.CutInto), and status.parts keeps the cut. Each part is then an
// upload of its own, with its own slot and its own intent (UploadIntent.Part,
// ledger.Slot.Part), sent after the previous part's job ended. When a part's
// job ends, its activity id moves into status.parts.jobs and the import
// queues for the next part: status.activityID is always the part under way,
// so that the rules of one upload (at most once, unknown outcomes) hold for
// each part as they are.

// inParts tells an import whose file goes up in more than one part.
func inParts(pi *importsv1alpha1.ProfileImport) bool {
	return pi.Status.Parts != nil && pi.Status.Parts.Total > 1
}

// partsStarted tells an import that sent a part already, or is sending
// one: its cut is kept, and its file must not change.
func partsStarted(pi *importsv1alpha1.ProfileImport) bool {
	return inParts(pi) && (pi.Status.Parts.Done > 0 || pi.Status.UploadIntent != nil || pi.Status.ActivityID != "")
}

// partsCutFor tells whether the recorded validation cut the file for an
// upload size of maxBytes: a file without parts fits it whole.
func partsCutFor(status importsv1alpha1.ProfileImportStatus, maxBytes int64) bool {
	if status.Parts == nil {
		return bodyBound(status.Bytes) <= maxBytes
	}
	return status.Parts.MaxBytes == maxBytes
}

// partsOf is the status of a file cut as report says, for an upload size
// of maxBytes: nil when it fits whole.
func partsOf(report importfile.Report, maxBytes int64) *importsv1alpha1.UploadParts {
	cut := report.Parts
	if cut.Count <= 1 && bodyBound(report.Bytes) <= maxBytes {
		return nil
	}
	parts := &importsv1alpha1.UploadParts{
		Total:         int32(min(max(cut.Count, 1), math.MaxInt32)),
		MaxBytes:      maxBytes,
		Starts:        cut.Starts,
		OversizedLine: cut.OversizedLine,
	}
	parts.Progress = progressOf(parts)
	return parts
}

func progressOf(parts *importsv1alpha1.UploadParts) string {
	return strconv.Itoa(int(parts.Done)) + "/" + strconv.Itoa(int(parts.Total))
}

// partRecords are the records (from 1; to 0 for the end) of the part under
// way, for importfile.Records.
func partRecords(parts *importsv1alpha1.UploadParts) (from, to int64) {
	from, i := 1, int(parts.Done)
	if i > 0 && i <= len(parts.Starts) {
		from = parts.Starts[i-1]
	}
	if i < len(parts.Starts) {
		to = parts.Starts[i] - 1
	}
	return from, to
}

// partOf is the part under way, from 0; 0 for an import without parts.
func partOf(pi *importsv1alpha1.ProfileImport) int32 {
	if !inParts(pi) {
		return 0
	}
	return pi.Status.Parts.Done
}

// finishPart records the end of the part under way's job, and tells
// whether more parts are left to send. The import's statistics are then
// the parts' sum.
func finishPart(pi *importsv1alpha1.ProfileImport, job localytics.ProfileJob) (more bool) {
	parts := pi.Status.Parts
	parts.Jobs = append(parts.Jobs, importsv1alpha1.PartJob{
		ActivityID:  pi.Status.ActivityID,
		ErrorLogURL: job.ErrorLogURL,
		Statistics:  *statisticsOf(job.Stats),
	})
	parts.Done++
	parts.Progress = progressOf(parts)
	sum := &importsv1alpha1.ProfileImportStatistics{}
	for _, j := range parts.Jobs {
		sum.Successful += j.Statistics.Successful
		sum.Parsed += j.Statistics.Parsed
		sum.Failed += j.Statistics.Failed
		sum.Total += j.Statistics.Total
	}
	pi.Status.Statistics = sum
	if job.ErrorLogURL != "" {
		pi.Status.ErrorLogURL = job.ErrorLogURL // the newest; each part's is in parts.jobs
	}
	return job.Status != localytics.JobFailed && parts.Done < parts.Total
}

func statisticsOf(s localytics.ProfileStats) *importsv1alpha1.ProfileImportStatistics {
	return &importsv1alpha1.ProfileImportStatistics{Successful: s.Successful, Parsed: s.Parsed, Failed: s.Failed, Total: s.Total}
}

// uploadSizeOf is the upload size of the account an import names, for
// cutting its file. When the account cannot be read (its own status says
// why) it is the size of the recorded cut, so that the file is not read
// again for it, or the default.
func (r *ProfileImportReconciler) uploadSizeOf(ctx context.Context, pi *importsv1alpha1.ProfileImport) int64 {
	account := &importsv1alpha1.LocalyticsAccount{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: pi.Namespace, Name: pi.Spec.AccountRef.Name}, account); err != nil {
		if pi.Status.Parts != nil {
			return pi.Status.Parts.MaxBytes
		}
		return maxUploadBytes
	}
	return uploadBytesOf(account.Spec.Limits)
}
