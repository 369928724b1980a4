package controllers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/importfile"
	"github.com/localytics-operator/localytics-operator/internal/source"
)

// Packing: the imports of one account and scope waiting in line travel in
// as few uploads as fit under the account's maxUploadBytes. The first import
// of a pack, its carrier, takes the slot; it writes an intent on each import
// it carries before the upload, so that at-most-once holds per import as
// when it travels alone, then sends their files as one body, in line order,
// and writes the outcome back to each. Each import then follows the job on
// its own, its statistics counted from its own lines (see sharedjobs.go).
//
// Only JSON Lines files are joined: each valid line is one line of the body,
// so an import's lines are a range of the body's and the error log's line
// numbers find their import. CSV files travel alone: joining them needs the
// same header, and converting them to JSON Lines would change how Localytics
// types their values.

// packable tells an import that may travel with others: JSON, packing not
// Never, validated at its revision, and not retrying an upload of unknown
// outcome (a retry travels alone, in a slot of its own).
func packable(pi *importsv1alpha1.ProfileImport) bool {
	return pi.Spec.Packing != importsv1alpha1.PackingNever && formatOf(pi) == importsv1alpha1.ProfileFormatJSON && pi.Status.Parts == nil &&
		pi.Status.UploadIntent == nil && pi.Status.ContentDigest != "" && pi.Status.SourceRevision != "" &&
		pi.Status.Validation != nil
}

// scopeKey names the account and scope whose imports may share an upload.
type scopeKey struct {
	account string
	org     int64
	app     string
}

func scopeKeyOf(pi *importsv1alpha1.ProfileImport) scopeKey {
	s := scopeOf(pi)
	return scopeKey{account: pi.Spec.AccountRef.Name, org: s.OrgID, app: s.AppID}
}

// pack is one upload to come: the imports it carries, in line order, the
// first its carrier.
type pack struct {
	imports []*importsv1alpha1.ProfileImport
	bytes   int64
}

// packsOf cuts a line (in line order) into the uploads it makes: each
// packable import joins the latest pack of its scope while that has room
// (capBytes, maxImportsPerUpload), else starts the next; any other import
// is a pack of its own. The packs are in the order of their first import,
// which is the order they take the slots in.
func packsOf(line []*importsv1alpha1.ProfileImport, capBytes int64) []pack {
	var packs []pack
	open := map[scopeKey]int{}
	for _, pi := range line {
		if !packable(pi) {
			packs = append(packs, pack{imports: []*importsv1alpha1.ProfileImport{pi}, bytes: pi.Status.Bytes})
			continue
		}
		k := scopeKeyOf(pi)
		if i, ok := open[k]; ok && len(packs[i].imports) < maxImportsPerUpload && packs[i].bytes+bodyBytes(pi) <= capBytes {
			packs[i].imports = append(packs[i].imports, pi)
			packs[i].bytes += bodyBytes(pi)
			continue
		}
		open[k] = len(packs)
		packs = append(packs, pack{imports: []*importsv1alpha1.ProfileImport{pi}, bytes: bodyBytes(pi)})
	}
	return packs
}

// bodyBytes bounds what an import's file adds to a body.
func bodyBytes(pi *importsv1alpha1.ProfileImport) int64 { return bodyBound(pi.Status.Bytes) }

// bodyBound bounds what a file of size bytes adds to a body: its bytes, and
// the line break the Reader ends a last line without one with.
func bodyBound(size int64) int64 { return size + 1 }

// lineUp is where an import stands in its account's line: its place among
// the imports (0 the first), the index of the upload that will carry it,
// and that upload.
type lineUp struct {
	place int
	turn  int
	pack  pack
}

// carrier tells whether the import is the first of its upload, the one that
// takes the slot.
func (l lineUp) carrier(pi *importsv1alpha1.ProfileImport) bool {
	return len(l.pack.imports) > 0 && l.pack.imports[0].UID == pi.UID
}

// lineUpOf puts pi in its account's line as the cache holds it, counting pi
// as waiting whatever its cached copy says.
func (r *ProfileImportReconciler) lineUpOf(ctx context.Context, pi *importsv1alpha1.ProfileImport, capBytes int64) (
	lineUp, []*importsv1alpha1.ProfileImport, error,
) {
	imports, err := r.importsOfAccountInCache(ctx, pi.Namespace, pi.Spec.AccountRef.Name)
	if err != nil {
		return lineUp{}, nil, err
	}
	line := []*importsv1alpha1.ProfileImport{pi}
	for _, other := range imports {
		if other.UID != pi.UID && waitsForSlot(other) {
			line = append(line, other)
		}
	}
	slices.SortFunc(line, inLineOrder)
	l := lineUp{place: slices.IndexFunc(line, func(o *importsv1alpha1.ProfileImport) bool { return o.UID == pi.UID })}
	for i, p := range packsOf(line, capBytes) {
		if slices.ContainsFunc(p.imports, func(o *importsv1alpha1.ProfileImport) bool { return o.UID == pi.UID }) {
			l.turn, l.pack = i, p
			break
		}
	}
	return l, imports, nil
}

// gatherUntil is when the upload pi carries stops waiting for more imports
// of its scope: a quiet period after the newest one that has not uploaded
// yet, but no later than the most after pi's creation. Zero for an import
// that travels alone, which gathers nothing.
func gatherUntil(pi *importsv1alpha1.ProfileImport, imports []*importsv1alpha1.ProfileImport, gathering importsv1alpha1.Gathering) time.Time {
	quiet, maxWait := gatheringOf(gathering)
	if quiet <= 0 || !packable(pi) {
		return time.Time{}
	}
	newest := pi.CreationTimestamp.Time
	k := scopeKeyOf(pi)
	for _, o := range imports {
		if o.CreationTimestamp.After(newest) && scopeKeyOf(o) == k && notUploaded(o, true) && o.Status.UploadIntent == nil &&
			o.DeletionTimestamp.IsZero() && o.Spec.Packing != importsv1alpha1.PackingNever && formatOf(o) == importsv1alpha1.ProfileFormatJSON &&
			o.Status.Parts == nil {
			newest = o.CreationTimestamp.Time
		}
	}
	return minTime(newest.Add(quiet), pi.CreationTimestamp.Add(maxWait))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// claimMembers writes the intent of the carrier's upload on each import it
// can carry and returns those it wrote it on, in line order: an import that
// changed since the cache saw it (it uploaded, its file changed, it is
// being deleted) is left out. Each write carries the resourceVersion its
// decision was taken on, so that an import's own reconcile and the carrier
// never both send it. ctx is the upload's, whose deadline has started.
func (r *ProfileImportReconciler) claimMembers(ctx context.Context, carrier *importsv1alpha1.ProfileImport,
	candidates []*importsv1alpha1.ProfileImport) []*importsv1alpha1.ProfileImport {
	claimed := make([]*importsv1alpha1.ProfileImport, len(candidates))
	var g errgroup.Group
	g.SetLimit(memberWriters)
	for i, cached := range candidates {
		g.Go(func() error {
			claimed[i] = r.claim(ctx, carrier, cached)
			return nil
		})
	}
	_ = g.Wait()
	return slices.DeleteFunc(claimed, func(pi *importsv1alpha1.ProfileImport) bool { return pi == nil })
}

// firstLines are where the lines of each import of a body start, the
// members' after the carrier's first lines.
func firstLines(carrierLines int64, members []*importsv1alpha1.ProfileImport) map[types.UID]int64 {
	first := make(map[types.UID]int64, len(members))
	next := carrierLines + 1
	for _, m := range members {
		first[m.UID] = next
		next += m.Status.SharedUpload.Lines
	}
	return first
}

// claim writes the upload's intent on one import, decided on the cache's
// copy and, if that was behind, once more on the API server's. Nil when the
// import cannot travel in this upload.
func (r *ProfileImportReconciler) claim(ctx context.Context, carrier, cached *importsv1alpha1.ProfileImport) *importsv1alpha1.ProfileImport {
	// A file that changed since it was validated would end the body
	// half-way: it waits for its own turn, validated again.
	if revision, err := source.Revision(ctx, r.APIReader, cached.Namespace, cached.Spec.Source, r.SourceOptions); err != nil ||
		revision != cached.Status.SourceRevision {
		return nil
	}
	pi := cached.DeepCopy()
	for range 2 {
		if !claimable(carrier, cached, pi) {
			return nil
		}
		base := pi.DeepCopy()
		// Stamped after the upload's deadline started (see carriedUntil).
		pi.Status.UploadIntent = &importsv1alpha1.UploadIntent{ContentDigest: pi.Status.ContentDigest, StartedAt: metav1.NewTime(r.Clock.Now())}
		pi.Status.SharedUpload = &importsv1alpha1.SharedUpload{Carrier: carrier.Name, Lines: pi.Status.Validation.ValidLines}
		pi.Status.Phase = importsv1alpha1.PhaseUploading
		pi.Status.NextUploadSlot, pi.Status.QueuePosition = nil, 0
		err := r.Status().Patch(ctx, pi, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		if err == nil {
			return pi
		}
		if !apierrors.IsConflict(err) {
			return nil
		}
		// The cache was behind, or the import changed: decide again.
		pi = &importsv1alpha1.ProfileImport{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cached), pi); err != nil {
			return nil
		}
	}
	return nil
}

// claimable tells whether fresh, the API server's copy of cached, may still
// travel in carrier's upload: the import the cache put in the pack, still
// in line with the file, the spec and the account it was validated with.
func claimable(carrier, cached, fresh *importsv1alpha1.ProfileImport) bool {
	return fresh.UID == cached.UID && packable(fresh) && waitsForSlot(fresh) && fresh.Status.UploadRefusal == nil &&
		fresh.Generation == cached.Generation &&
		fresh.Status.ContentDigest == cached.Status.ContentDigest && fresh.Status.SourceRevision == cached.Status.SourceRevision &&
		scopeKeyOf(fresh) == scopeKeyOf(carrier)
}

// settleMembers writes what became of the upload on each import it carried
// (change, given the import as the API server holds it), and
// wakes each to go on from there. The write is made with the optimistic
// lock on the import's latest version, only while it still holds this
// upload's intent, and retried like saveResult's: lost, the import would
// take the upload for one of unknown outcome.
func (r *ProfileImportReconciler) settleMembers(ctx context.Context, carrier *importsv1alpha1.ProfileImport, members []*importsv1alpha1.ProfileImport,
	change func(*importsv1alpha1.ProfileImport)) {
	var g errgroup.Group
	g.SetLimit(memberWriters)
	for _, m := range members {
		g.Go(func() error {
			r.settle(ctx, carrier, m, change)
			return nil
		})
	}
	_ = g.Wait()
}

func (r *ProfileImportReconciler) settle(ctx context.Context, carrier, claimed *importsv1alpha1.ProfileImport,
	change func(*importsv1alpha1.ProfileImport)) {
	key := client.ObjectKeyFromObject(claimed)
	intent := claimed.Status.UploadIntent
	// First on the copy the claim wrote: unless the import changed since,
	// that saves a read.
	fresh := claimed.DeepCopy()
	err := retryRecord(ctx, func() error {
		if fresh == nil {
			fresh = &importsv1alpha1.ProfileImport{}
			if err := r.APIReader.Get(ctx, key, fresh); err != nil {
				return err
			}
		}
		current := fresh
		fresh = nil // read again on any retry
		if current.UID != claimed.UID || current.Status.UploadIntent == nil || current.Status.SharedUpload == nil ||
			current.Status.SharedUpload.Carrier != carrier.Name || !current.Status.UploadIntent.StartedAt.Equal(&intent.StartedAt) {
			return nil // no longer this upload's
		}
		base := current.DeepCopy()
		change(current)
		return r.Status().Patch(ctx, current, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil && !apierrors.IsNotFound(err) {
		ctrl.LoggerFrom(ctx).Info("the outcome of a shared upload could not be recorded on an import it carried",
			"profileImport", key.String(), "error", err.Error())
	}
	r.frame.wake(key)
}

// retryRecord runs write until it succeeds, is refused, or ctx ends: a
// conflict reads again at once, an unreachable API server is waited for.
func retryRecord(ctx context.Context, write func() error) error {
	delay := recordRetryMin
	for {
		err := write()
		switch {
		case err == nil:
			return nil
		case apierrors.IsConflict(err):
			continue
		case !mayPassSoon(err):
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, recordRetryMax)
	}
}

// sent marks an import as carried by an upload Localytics accepted, with
// its lines in the body.
func sent(activityID string, at time.Time, first map[types.UID]int64) func(*importsv1alpha1.ProfileImport) {
	return func(pi *importsv1alpha1.ProfileImport) {
		pi.Status.ActivityID = activityID
		pi.Status.SubmittedAt = &metav1.Time{Time: at}
		pi.Status.UploadIntent = nil
		pi.Status.Phase = importsv1alpha1.PhaseProcessing
		pi.Status.SharedUpload.FirstLine = first[pi.UID]
		pi.Status.SharedUpload.Imports = int32(len(first) + 1)
	}
}

// lost marks an import as carried by an upload of unknown outcome: it
// decides for itself whether to upload again (planUpload).
func lost(at time.Time) func(*importsv1alpha1.ProfileImport) {
	return func(pi *importsv1alpha1.ProfileImport) {
		pi.Status.UploadIntent.EndedAt = &metav1.Time{Time: at}
	}
}

// notSent gives an import back its place in line: its upload was never
// sent (or never complete), so nothing of it reached Localytics.
func notSent(pi *importsv1alpha1.ProfileImport) {
	pi.Status.UploadIntent, pi.Status.SharedUpload = nil, nil
	pi.Status.Phase = importsv1alpha1.PhaseQueued
}

// refusedWith records on an import that Localytics refused the upload that
// carried it: it is not sent again until its file or its spec changes.
func refusedWith(code int) func(*importsv1alpha1.ProfileImport) {
	return func(pi *importsv1alpha1.ProfileImport) {
		pi.Status.UploadRefusal = &importsv1alpha1.UploadRefusal{
			ContentDigest: pi.Status.ContentDigest, Generation: pi.Generation, StatusCode: int32(code),
		}
		pi.Status.UploadIntent, pi.Status.SharedUpload = nil, nil
		pi.Status.Phase = importsv1alpha1.PhaseQueued
	}
}

// packBody is the body of an upload: the carrier's file, then each member's,
// each checked again as it streams (importfile.Reader). A member's file is
// opened only when its turn in the body comes, and must still be the
// revision that was validated; anything else ends the body with an error,
// which abandons the upload before it is complete.
type packBody struct {
	ctx     context.Context
	r       *ProfileImportReconciler
	first   io.Reader
	members []*importsv1alpha1.ProfileImport
	next    int
	cur     io.Reader
	file    *source.File
	err     error
}

func (b *packBody) Read(p []byte) (int, error) {
	for b.err == nil {
		if b.cur == nil {
			if b.first != nil {
				b.cur, b.first = b.first, nil
			} else if b.err = b.openNext(); b.err != nil {
				break
			}
		}
		n, err := b.cur.Read(p)
		if errors.Is(err, io.EOF) {
			b.closeFile()
			b.cur = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, b.err
}

// openNext opens the next member's file, io.EOF after the last.
func (b *packBody) openNext() error {
	if b.next == len(b.members) {
		return io.EOF
	}
	pi := b.members[b.next]
	b.next++
	file, err := source.Open(b.ctx, b.r.APIReader, pi.Namespace, pi.Spec.Source, b.r.SourceOptions)
	if err != nil {
		return fmt.Errorf("ProfileImport %s: %w", pi.Name, err)
	}
	if file.Revision != pi.Status.SourceRevision {
		_ = file.Close()
		return fmt.Errorf("ProfileImport %s: %s changed after it was validated", pi.Name, file.Description)
	}
	b.file = file
	b.cur = importfile.NewReader(file, importfile.FormatProfileJSON, importfile.Mode(validationOf(pi)), importfile.WithoutDigest())
	return nil
}

func (b *packBody) closeFile() {
	if b.file != nil {
		_ = b.file.Close()
		b.file = nil
	}
}

// Close closes the member's file being read, if any.
func (b *packBody) Close() error {
	b.closeFile()
	return nil
}
