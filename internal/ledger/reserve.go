package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/jitter"
)

// Client is what the ledger needs from the API server. Its reads must not
// come from an informer cache: a stale read only costs a conflict, but it
// costs it again on every retry until the cache catches up. In a manager,
// build one with Uncached(mgr.GetAPIReader(), mgr.GetClient()).
type Client interface {
	client.Reader
	client.StatusClient
}

type uncached struct {
	client.Reader
	client.StatusClient
}

// Uncached combines a reader that goes to the API server (a manager's
// GetAPIReader) with a client that writes the status subresource.
func Uncached(reader client.Reader, writer client.StatusClient) Client {
	return uncached{Reader: reader, StatusClient: writer}
}

// conflictBackoff spreads racing reservers out. Each round at least one of
// them wins, so the number of steps bounds how many reservers can race for
// the same account before one gives up with a conflict (which its reconciler
// then retries). Its waits are jittered by retryOnConflict.
var conflictBackoff = wait.Backoff{
	Duration: 5 * time.Millisecond,
	Factor:   1.5,
	Steps:    20,
	Cap:      time.Second,
}

// retryOnConflict is client-go's retry.RetryOnConflict, with the same steps,
// but each wait stretched by up to as much again at random (jitter.Up), which
// keeps the losers of a round from arriving together again. It returns fn's
// first error that is not a conflict, or its last conflict.
func retryOnConflict(backoff wait.Backoff, fn func() error) error {
	var err error
	for backoff.Steps > 0 {
		if err = fn(); !apierrors.IsConflict(err) {
			return err
		}
		if backoff.Steps == 1 {
			break
		}
		d := backoff.Step()
		time.Sleep(d + jitter.Up(d))
	}
	return err
}

// Slot names the upload a ledger entry is for: one attempt at uploading one
// file, by one ProfileImport object.
type Slot struct {
	// Owner is the namespace/name of the ProfileImport; required.
	Owner string
	// UID is the ProfileImport's UID. An import deleted and recreated under
	// the same name has another, and so takes a slot of its own.
	UID types.UID
	// Digest is the digest of the file.
	Digest string
	// Attempt counts the uploads of the file made after one of unknown
	// outcome: each takes a slot of its own, since the vendor counted the
	// upload whose answer was lost.
	Attempt int32
}

// HeldIn reports whether the ledger holds an entry of s.
func (s Slot) HeldIn(entries []importsv1alpha1.UploadReservation) bool {
	for _, e := range entries {
		if s.matches(e) {
			return true
		}
	}
	return false
}

// matches reports whether e is the entry of s. An entry without a UID was
// written before entries recorded it, and matches its owner by name alone.
func (s Slot) matches(e importsv1alpha1.UploadReservation) bool {
	return e.ProfileImport == s.Owner &&
		(e.UID == "" || e.UID == s.UID) &&
		e.ContentDigest == s.Digest &&
		e.Attempt == s.Attempt
}

// entry is the ledger entry of s, taken at t.
func (s Slot) entry(t time.Time) importsv1alpha1.UploadReservation {
	return importsv1alpha1.UploadReservation{
		Time:          EntryTime(t),
		ProfileImport: s.Owner,
		UID:           s.UID,
		ContentDigest: s.Digest,
		Attempt:       s.Attempt,
	}
}

// Reservation is an upload slot held in an account's ledger.
type Reservation struct {
	// Time is when the slot was taken (or, after RecordSent, when the upload
	// was sent); the slot opens again one window later.
	Time time.Time
	// Existing is true when the slot was already held, and no new one was
	// taken.
	Existing bool
	// Left is how many slots the window still allows after this one.
	Left int32
}

// NoSlotError says that every slot of the window is taken.
type NoSlotError struct {
	// NextSlot is when the next slot opens.
	NextSlot time.Time
}

func (e *NoSlotError) Error() string {
	// NextSlot stays out so that a condition message built from the error
	// stays the same while the caller waits.
	return "no profile upload slot is left in the account's window"
}

// IsNoSlot reports whether err is a *NoSlotError and returns it.
func IsNoSlot(err error) (*NoSlotError, bool) {
	var noSlot *NoSlotError
	ok := errors.As(err, &noSlot)
	return noSlot, ok
}

// Reserve takes the profile upload slot s in the ledger of account, at now,
// for an upload that will be sent by sendBy (its deadline).
//
// It re-reads the account, forgets the entries that left the window, and
//   - returns the slot if it is already held: a reconcile retried after a
//     crash must not take a second slot for the same upload;
//   - otherwise takes a new slot if the window allows one;
//   - otherwise returns a *NoSlotError with the time the next slot opens.
//
// Until RecordSent stamps it with the time the upload was sent, a slot is
// stamped sendBy, the latest time the vendor can count its upload: if
// RecordSent never comes (this process stopped, or the write failed), the
// slot opens late rather than early. A slot held already is stamped again
// when sendBy is later: its upload was not sent yet.
//
// Every write carries the resourceVersion that was read; on a conflict the
// account is read again and the decision taken again.
func Reserve(ctx context.Context, c Client, account types.NamespacedName, s Slot, now, sendBy time.Time) (Reservation, error) {
	if s.Owner == "" {
		return Reservation{}, errors.New("ledger: a reservation needs an owner")
	}
	var res Reservation
	err := update(ctx, c, account, now, func(entries []importsv1alpha1.UploadReservation, limit UploadLimit) ([]importsv1alpha1.UploadReservation, error) {
		if sendBy.Before(now) {
			sendBy = now
		}
		if i := find(entries, s); i >= 0 {
			res = Reservation{Time: entries[i].Time.Time, Existing: true, Left: int32(max(limit.Count-len(entries), 0))}
			if at := EntryTime(sendBy); at.After(entries[i].Time.Time) {
				entries[i].Time, res.Time = at, at.Time
				return entries, nil
			}
			return nil, nil
		}
		if len(entries) >= limit.Count {
			return nil, &NoSlotError{NextSlot: limit.opens(entries[len(entries)-limit.Count].Time.Time)}
		}
		entry := s.entry(sendBy)
		res = Reservation{Time: entry.Time.Time, Left: int32(limit.Count - len(entries) - 1)}
		return append(entries, entry), nil
	})
	if err != nil {
		return Reservation{}, err
	}
	return res, nil
}

// RecordSent stamps the slot s with sentAt, the time its upload was
// answered (or failed): the vendor counted it on arrival, before that. It
// replaces the pessimistic stamp of Reserve, so that the slot opens as soon
// as the vendor's does, and no sooner. It returns false when the slot is not
// held (it left the window, or was released).
func RecordSent(ctx context.Context, c Client, account types.NamespacedName, s Slot, sentAt time.Time) (bool, error) {
	found := false
	err := update(ctx, c, account, sentAt, func(entries []importsv1alpha1.UploadReservation, _ UploadLimit) ([]importsv1alpha1.UploadReservation, error) {
		i := find(entries, s)
		found = i >= 0
		at := EntryTime(sentAt)
		if !found || at.Equal(&entries[i].Time) {
			return nil, nil
		}
		entries[i].Time = at
		return entries, nil
	})
	return found, err
}

// Release gives back the slot s, for an upload that was
// never sent (it was refused before its body went out). It returns false when
// there was no such slot. Never release a slot whose upload may have reached
// the vendor: the vendor counts it whatever happened to the answer.
func Release(ctx context.Context, c Client, account types.NamespacedName, s Slot, now time.Time) (bool, error) {
	found := false
	err := update(ctx, c, account, now, func(entries []importsv1alpha1.UploadReservation, _ UploadLimit) ([]importsv1alpha1.UploadReservation, error) {
		i := find(entries, s)
		if found = i >= 0; !found {
			return nil, nil
		}
		return append(entries[:i], entries[i+1:]...), nil
	})
	return found, err
}

// change decides on the pruned entries of a ledger. It returns the new
// entries to write, or nil to write nothing.
type change func(entries []importsv1alpha1.UploadReservation, limit UploadLimit) ([]importsv1alpha1.UploadReservation, error)

// update reads the account, applies a change to its pruned ledger and
// writes the status with the resourceVersion it read, again from the
// start on a conflict.
func update(ctx context.Context, c Client, key types.NamespacedName, now time.Time, decide change) error {
	err := retryOnConflict(conflictBackoff, func() error {
		var account importsv1alpha1.LocalyticsAccount
		if err := c.Get(ctx, key, &account); err != nil {
			return err
		}
		limit := UploadLimitOf(account.Spec.Limits)
		entries, err := decide(Prune(account.Status.UploadLedger, limit, now), limit)
		if err != nil || entries == nil {
			return err
		}
		ApplySummary(&account.Status, Summarize(entries, limit, now))
		// Update, not a patch: it fails with a conflict when the account
		// changed since it was read, which is what serialises reservers.
		return c.Status().Update(ctx, &account)
	})
	if err != nil {
		if _, ok := IsNoSlot(err); ok {
			return err
		}
		return fmt.Errorf("ledger: updating the upload ledger of account %s: %w", key, err)
	}
	return nil
}

// find returns the index of the entry of s, or -1.
func find(entries []importsv1alpha1.UploadReservation, s Slot) int {
	for i, e := range entries {
		if s.matches(e) {
			return i
		}
	}
	return -1
}
