package ledger

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// DefaultUploadLimit is the vendor's profile upload budget, used when an
// account's spec names none (the CRD defaults it, so only objects written
// before the default existed lack it).
var DefaultUploadLimit = UploadLimit{Count: 10, Window: time.Hour, Margin: skewMargin(time.Hour)}

// MaxSkewMargin is how much longer than its window an entry is kept, at
// most: the replicas that write a ledger read their own clocks, and one
// whose clock runs ahead would otherwise free a slot before the vendor
// does. The margin is also never more than a hundredth of the window, so
// that short windows (sandboxes, tests) are not dominated by it.
const MaxSkewMargin = 30 * time.Second

// UploadLimit allows Count uploads in any sliding window of length Window.
type UploadLimit struct {
	Count  int
	Window time.Duration
	// Margin is added to Window before an entry leaves the ledger; see
	// MaxSkewMargin.
	Margin time.Duration
}

// skewMargin is the margin of a window.
func skewMargin(window time.Duration) time.Duration { return min(MaxSkewMargin, window/100) }

// UploadLimitOf returns the profile upload budget of an account's limits,
// DefaultUploadLimit when unset or invalid.
func UploadLimitOf(limits importsv1alpha1.AccountLimits) UploadLimit {
	l := limits.ProfileUploads
	if l == nil || l.Count < 1 || l.Window.Duration <= 0 {
		return DefaultUploadLimit
	}
	// A count over the CRD's maximum (an object stored before it existed)
	// counts as the maximum, so that the ledger never holds more entries
	// than status.uploadLedger may.
	count := min(l.Count, importsv1alpha1.MaxProfileUploadsPerWindow)
	return UploadLimit{Count: int(count), Window: l.Window.Duration, Margin: skewMargin(l.Window.Duration)}
}

// opens is when the slot of an entry stamped t opens again.
func (l UploadLimit) opens(t time.Time) time.Time { return t.Add(l.Window + l.Margin) }

// Summary is what a ledger says about the budget at one instant.
type Summary struct {
	// InWindow are the entries still inside the window, oldest first.
	InWindow []importsv1alpha1.UploadReservation
	// Left is how many uploads the window still allows; never negative.
	Left int32
	// NextSlot is when a slot opens, set only while none is left. It is
	// rounded up to the second because status.nextUploadSlot is stored with
	// second precision, and a slot must never appear to open early.
	NextSlot *metav1.Time
	// Refresh is when the summary next changes by itself (the oldest entry
	// leaves the window); zero for an empty ledger. The account controller
	// requeues for it so that the printed numbers stay true.
	Refresh time.Time
}

// Summarize computes the budget from a ledger and a limit at now. Entries
// count until their time plus the window and its margin, exclusive: the
// slot of an entry stamped t opens at exactly t+Window+Margin.
func Summarize(entries []importsv1alpha1.UploadReservation, limit UploadLimit, now time.Time) Summary {
	in := Prune(entries, limit, now)
	s := Summary{InWindow: in, Left: int32(max(limit.Count-len(in), 0))}
	if len(in) > 0 {
		s.Refresh = limit.opens(in[0].Time.Time)
	}
	if s.Left == 0 {
		// With more entries than the limit (it was lowered), enough of them
		// must leave for one slot to open.
		opens := limit.opens(in[len(in)-limit.Count].Time.Time)
		s.NextSlot = &metav1.Time{Time: ceilTo(opens, time.Second)}
	}
	return s
}

// Turn is when the waiter at place k of an account's queue (0 the first) can
// have a slot, if each waiter before it takes one as soon as it opens: now
// for the first Left, then as the held slots open, oldest first, then a
// window (and its margin) after the waiter Count places earlier. Rounded up
// to the second, as Summary.NextSlot is.
func Turn(entries []importsv1alpha1.UploadReservation, limit UploadLimit, now time.Time, k int) time.Time {
	in := Prune(entries, limit, now)
	free := max(limit.Count-len(in), 0)
	if k < free {
		return now
	}
	return ceilTo(turnAt(in, limit, now, k-free), time.Second)
}

// turnAt is when the j-th slot to open does, held slots in (pruned) first.
func turnAt(in []importsv1alpha1.UploadReservation, limit UploadLimit, now time.Time, j int) time.Time {
	if j < 0 {
		return now // a free slot, taken at once
	}
	// With more entries than the limit (it was lowered), the oldest must
	// leave before any slot opens.
	if held := max(len(in)-limit.Count, 0) + j; held < len(in) {
		return limit.opens(in[held].Time.Time)
	}
	// A slot taken by the waiter Count places earlier, a window later.
	return limit.opens(turnAt(in, limit, now, j-limit.Count))
}

// Prune returns the entries of the ledger still inside the window at now,
// sorted oldest first, in a new slice.
func Prune(entries []importsv1alpha1.UploadReservation, limit UploadLimit, now time.Time) []importsv1alpha1.UploadReservation {
	out := make([]importsv1alpha1.UploadReservation, 0, len(entries))
	for _, e := range entries {
		if limit.opens(e.Time.Time).After(now) {
			out = append(out, *e.DeepCopy())
		}
	}
	sortEntries(out)
	return out
}

// ApplySummary writes the pruned ledger and the numbers derived from it into
// an account's status, so that uploadLedger, uploadsLeft and nextUploadSlot
// always agree.
func ApplySummary(status *importsv1alpha1.LocalyticsAccountStatus, s Summary) {
	s.writeTo(&status.UploadLedger, &status.UploadsLeft, &status.NextUploadSlot)
}

// applySummary is ApplySummary for the key's ledger itself.
func applySummary(status *importsv1alpha1.UploadLedgerStatus, s Summary) {
	s.writeTo(&status.Entries, &status.UploadsLeft, &status.NextUploadSlot)
}

func (s Summary) writeTo(entries *[]importsv1alpha1.UploadReservation, left **int32, next **metav1.Time) {
	*entries = s.InWindow
	if len(*entries) == 0 {
		*entries = nil
	}
	n := s.Left
	*left, *next = &n, s.NextSlot
}

// hashKey keys the hash that names a key's ledger, so that the name is of
// no use against another system that hashes API keys.
const hashKey = "imports.localytics.dev/upload-ledger"

// HashOf is the keyed hash of an API key that names its ledger: the key
// itself is never stored.
func HashOf(apiKey string) string {
	mac := hmac.New(sha256.New, []byte(hashKey))
	mac.Write([]byte(apiKey))
	return hex.EncodeToString(mac.Sum(nil))[:40]
}

// NameOf is the name of the UploadLedger of the key whose HashOf is hash.
func NameOf(hash string) string { return importsv1alpha1.UploadLedgerNamePrefix + hash }

func sortEntries(entries []importsv1alpha1.UploadReservation) {
	slices.SortStableFunc(entries, func(a, b importsv1alpha1.UploadReservation) int {
		return a.Time.Compare(b.Time.Time)
	})
}

// EntryTime is the time an entry records for an event at t: t rounded up to
// the microsecond, the precision metav1.MicroTime keeps. Rounding down would
// make the slot open up to a microsecond early.
func EntryTime(t time.Time) metav1.MicroTime {
	return metav1.MicroTime{Time: ceilTo(t, time.Microsecond).UTC()}
}

// ceilTo rounds t up to a multiple of d (time.Truncate rounds down).
func ceilTo(t time.Time, d time.Duration) time.Time {
	down := t.Truncate(d)
	if down.Equal(t) {
		return down
	}
	return down.Add(d)
}
