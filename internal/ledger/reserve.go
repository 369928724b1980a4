package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error
}

type uncached struct {
	client.Reader
	client.Client
}

func (u uncached) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return u.Reader.Get(ctx, key, obj, opts...)
}

func (u uncached) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return u.Reader.List(ctx, list, opts...)
}

// Uncached combines a reader that goes to the API server (a manager's
// GetAPIReader) with a client that creates ledgers and writes their status.
func Uncached(reader client.Reader, writer client.Client) Client {
	return uncached{Reader: reader, Client: writer}
}

// Book is the ledger one reservation is made in: the UploadLedger of the
// account's API key, and the budget the account declares for the key.
type Book struct {
	// Name is the UploadLedger's (NameOf the key's hash).
	Name string
	// Limit is the budget the reservation counts the key's slots against.
	Limit UploadLimit
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
	// Part is the part of a file uploaded in parts, from 0: each takes a
	// slot of its own.
	Part int32
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
		e.Attempt == s.Attempt &&
		e.Part == s.Part
}

// entry is the ledger entry of s, taken at t.
func (s Slot) entry(t time.Time) importsv1alpha1.UploadReservation {
	return importsv1alpha1.UploadReservation{
		Time:          EntryTime(t),
		ProfileImport: s.Owner,
		UID:           s.UID,
		ContentDigest: s.Digest,
		Attempt:       s.Attempt,
		Part:          s.Part,
	}
}

// Reservation is an upload slot held in a key's ledger.
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
	return "no profile upload slot of the API key is left in its window"
}

// IsNoSlot reports whether err is a *NoSlotError and returns it.
func IsNoSlot(err error) (*NoSlotError, bool) {
	var noSlot *NoSlotError
	ok := errors.As(err, &noSlot)
	return noSlot, ok
}

// Reserve takes the profile upload slot s in the ledger book, at now,
// for an upload that will be sent by sendBy (its deadline).
//
// It re-reads the ledger (creating it for a key's first upload), forgets
// the entries that left the window, and
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
// ledger is read again and the decision taken again.
func Reserve(ctx context.Context, c Client, book Book, s Slot, now, sendBy time.Time) (Reservation, error) {
	if s.Owner == "" {
		return Reservation{}, errors.New("ledger: a reservation needs an owner")
	}
	var res Reservation
	limit := book.Limit
	err := update(ctx, c, book, now, func(entries []importsv1alpha1.UploadReservation) ([]importsv1alpha1.UploadReservation, error) {
		if sendBy.Before(now) {
			sendBy = now
		}
		// The ledger keeps entries for the longest window of any account
		// of the key; this one counts those of its own window.
		in := Prune(entries, limit, now)
		if i := find(entries, s); i >= 0 {
			res = Reservation{Time: entries[i].Time.Time, Existing: true, Left: int32(max(limit.Count-len(in), 0))}
			if at := EntryTime(sendBy); at.After(entries[i].Time.Time) {
				entries[i].Time, res.Time = at, at.Time
				return entries, nil
			}
			return nil, nil
		}
		if len(in) >= limit.Count {
			return nil, &NoSlotError{NextSlot: limit.opens(in[len(in)-limit.Count].Time.Time)}
		}
		entry := s.entry(sendBy)
		res = Reservation{Time: entry.Time.Time, Left: int32(limit.Count - len(in) - 1)}
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
func RecordSent(ctx context.Context, c Client, book Book, s Slot, sentAt time.Time) (bool, error) {
	found := false
	err := update(ctx, c, book, sentAt, func(entries []importsv1alpha1.UploadReservation) ([]importsv1alpha1.UploadReservation, error) {
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
func Release(ctx context.Context, c Client, book Book, s Slot, now time.Time) (bool, error) {
	found := false
	err := update(ctx, c, book, now, func(entries []importsv1alpha1.UploadReservation) ([]importsv1alpha1.UploadReservation, error) {
		i := find(entries, s)
		if found = i >= 0; !found {
			return nil, nil
		}
		return append(entries[:i], entries[i+1:]...), nil
	})
	return found, err
}

// Carry adds to the ledger book the entries an account's status held
// before ledgers were kept per key (those still in the window, and not in
// the ledger already), so that an upgrade forgets no slot.
func Carry(ctx context.Context, c Client, book Book, entries []importsv1alpha1.UploadReservation, now time.Time) error {
	carried := Prune(entries, book.Limit, now)
	if len(carried) == 0 {
		return nil
	}
	return update(ctx, c, book, now, func(held []importsv1alpha1.UploadReservation) ([]importsv1alpha1.UploadReservation, error) {
		added := false
		for _, e := range carried {
			if find(held, slotOf(e)) < 0 {
				held, added = append(held, e), true
			}
		}
		if !added {
			return nil, nil
		}
		return held, nil
	})
}

// slotOf is the slot of an entry.
func slotOf(e importsv1alpha1.UploadReservation) Slot {
	return Slot{Owner: e.ProfileImport, UID: e.UID, Digest: e.ContentDigest, Attempt: e.Attempt}
}

// change decides on the pruned entries of a ledger. It returns the new
// entries to write, or nil to write nothing.
type change func(entries []importsv1alpha1.UploadReservation) ([]importsv1alpha1.UploadReservation, error)

// update reads the ledger, creating it if the key has none yet, applies a
// change to its pruned entries and writes its status with the
// resourceVersion it read, again from the start on a conflict.
func update(ctx context.Context, c Client, book Book, now time.Time, decide change) error {
	err := retryOnConflict(conflictBackoff, func() error {
		var l importsv1alpha1.UploadLedger
		err := c.Get(ctx, types.NamespacedName{Name: book.Name}, &l)
		if apierrors.IsNotFound(err) {
			l = importsv1alpha1.UploadLedger{ObjectMeta: metav1.ObjectMeta{Name: book.Name}}
			if err = c.Create(ctx, &l); apierrors.IsAlreadyExists(err) {
				// Another reserver created it first: read it again.
				return apierrors.NewConflict(importsv1alpha1.GroupVersion.WithResource("uploadledgers").GroupResource(), book.Name, err)
			}
		}
		if err != nil {
			return err
		}
		// Entries are kept for the longest window any account of the key
		// counts with, so that one that declares a shorter window does not
		// free the slots of the others.
		keep := book.Limit
		if r := l.Status.Retention; r != nil && r.Duration > keep.Window+keep.Margin {
			keep = UploadLimit{Count: keep.Count, Window: r.Duration}
		}
		entries, err := decide(Prune(l.Status.Entries, keep, now))
		if err != nil || entries == nil {
			return err
		}
		// The newest MaxProfileUploadsPerWindow decide for any count the CRD
		// allows; the ledger never holds more.
		sortEntries(entries)
		entries = entries[max(len(entries)-importsv1alpha1.MaxProfileUploadsPerWindow, 0):]
		applySummary(&l.Status, Summarize(entries, book.Limit, now))
		l.Status.Entries = entries
		l.Status.Retention = &metav1.Duration{Duration: keep.Window + keep.Margin}
		// Update, not a patch: it fails with a conflict when the ledger
		// changed since it was read, which is what serialises reservers.
		return c.Status().Update(ctx, &l)
	})
	if err != nil {
		if _, ok := IsNoSlot(err); ok {
			return err
		}
		return fmt.Errorf("ledger: updating the upload ledger %s: %w", book.Name, err)
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
