package ledger

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func entry(at time.Time, owner string) importsv1alpha1.UploadReservation {
	return importsv1alpha1.UploadReservation{Time: metav1.MicroTime{Time: at}, ProfileImport: owner, ContentDigest: "sha256:" + owner}
}

func TestSummarize(t *testing.T) {
	limit := UploadLimit{Count: 3, Window: time.Hour}
	cases := map[string]struct {
		entries   []importsv1alpha1.UploadReservation
		limit     UploadLimit
		now       time.Time
		owners    []string // of the entries kept, in order
		left      int32
		nextSlot  *time.Time
		refreshAt time.Time
	}{
		"an empty ledger leaves the whole budget and never refreshes": {
			limit: limit, now: t0, left: 3,
		},
		"entries inside the window count, oldest first whatever the stored order": {
			entries: []importsv1alpha1.UploadReservation{entry(t0.Add(-10*time.Minute), "b"), entry(t0.Add(-20*time.Minute), "a")},
			limit:   limit, now: t0, owners: []string{"a", "b"}, left: 1, refreshAt: t0.Add(40 * time.Minute),
		},
		"an entry exactly one window old has left it": {
			entries: []importsv1alpha1.UploadReservation{entry(t0.Add(-time.Hour), "old"), entry(t0.Add(-time.Minute), "new")},
			limit:   limit, now: t0, owners: []string{"new"}, left: 2, refreshAt: t0.Add(59 * time.Minute),
		},
		"an entry one nanosecond short of a window still counts": {
			entries: []importsv1alpha1.UploadReservation{entry(t0.Add(-time.Hour+time.Nanosecond), "a")},
			limit:   limit, now: t0, owners: []string{"a"}, left: 2, refreshAt: t0.Add(time.Nanosecond),
		},
		"a full window reports when its oldest entry leaves": {
			entries: []importsv1alpha1.UploadReservation{
				entry(t0.Add(-50*time.Minute), "a"), entry(t0.Add(-40*time.Minute), "b"), entry(t0.Add(-30*time.Minute), "c"),
			},
			limit: limit, now: t0, owners: []string{"a", "b", "c"}, left: 0,
			nextSlot: new(t0.Add(10 * time.Minute)), refreshAt: t0.Add(10 * time.Minute),
		},
		"the next slot is rounded up to the second, never down": {
			entries: []importsv1alpha1.UploadReservation{
				entry(t0.Add(-50*time.Minute+time.Microsecond), "a"), entry(t0.Add(-40*time.Minute), "b"), entry(t0.Add(-30*time.Minute), "c"),
			},
			limit: limit, now: t0, owners: []string{"a", "b", "c"}, left: 0,
			nextSlot: new(t0.Add(10*time.Minute + time.Second)), refreshAt: t0.Add(10*time.Minute + time.Microsecond),
		},
		"an entry stays a margin past its window, for replicas whose clocks run ahead": {
			entries: []importsv1alpha1.UploadReservation{entry(t0.Add(-time.Hour-20*time.Second), "a")},
			limit:   UploadLimit{Count: 1, Window: time.Hour, Margin: 30 * time.Second}, now: t0, owners: []string{"a"}, left: 0,
			nextSlot: new(t0.Add(10 * time.Second)), refreshAt: t0.Add(10 * time.Second),
		},
		"with more entries than a lowered limit, enough of them must leave": {
			entries: []importsv1alpha1.UploadReservation{
				entry(t0.Add(-50*time.Minute), "a"), entry(t0.Add(-40*time.Minute), "b"), entry(t0.Add(-30*time.Minute), "c"),
			},
			limit: UploadLimit{Count: 2, Window: time.Hour}, now: t0, owners: []string{"a", "b", "c"}, left: 0,
			nextSlot: new(t0.Add(20 * time.Minute)), refreshAt: t0.Add(10 * time.Minute),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := Summarize(tc.entries, tc.limit, tc.now)
			var owners []string
			for _, e := range s.InWindow {
				owners = append(owners, e.ProfileImport)
			}
			g.Expect(owners).To(Equal(tc.owners))
			g.Expect(s.Left).To(Equal(tc.left))
			if tc.nextSlot == nil {
				g.Expect(s.NextSlot).To(BeNil())
			} else {
				g.Expect(s.NextSlot).NotTo(BeNil())
				g.Expect(s.NextSlot.Time).To(BeTemporally("==", *tc.nextSlot))
			}
			g.Expect(s.Refresh).To(BeTemporally("==", tc.refreshAt))
		})
	}
}

func TestSummarizeDoesNotChangeItsInput(t *testing.T) {
	g := NewWithT(t)
	entries := []importsv1alpha1.UploadReservation{entry(t0.Add(-time.Minute), "b"), entry(t0.Add(-2*time.Hour), "a")}
	Summarize(entries, UploadLimit{Count: 1, Window: time.Hour}, t0)
	g.Expect(entries[0].ProfileImport).To(Equal("b"))
	g.Expect(entries).To(HaveLen(2))
}

func TestEntryTime(t *testing.T) {
	cases := map[string]struct {
		in, want time.Time
	}{
		"a whole microsecond stays":             {in: t0.Add(5 * time.Microsecond), want: t0.Add(5 * time.Microsecond)},
		"a nanosecond past rounds up":           {in: t0.Add(5*time.Microsecond + time.Nanosecond), want: t0.Add(6 * time.Microsecond)},
		"just below a microsecond rounds up":    {in: t0.Add(6*time.Microsecond - time.Nanosecond), want: t0.Add(6 * time.Microsecond)},
		"another zone is stored in UTC as well": {in: t0.In(time.FixedZone("X", 3600)), want: t0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := EntryTime(tc.in)
			g.Expect(got.Time).To(BeTemporally("==", tc.want))
			g.Expect(got.Location()).To(Equal(time.UTC))
			// What is stored is what is read back: no precision is lost.
			raw, err := got.MarshalJSON()
			g.Expect(err).NotTo(HaveOccurred())
			var back metav1.MicroTime
			g.Expect(back.UnmarshalJSON(raw)).To(Succeed())
			g.Expect(back.Time).To(BeTemporally("==", got.Time))
			g.Expect(back.Time).NotTo(BeTemporally("<", tc.in))
		})
	}
}

func TestUploadLimitOf(t *testing.T) {
	cases := map[string]struct {
		limits importsv1alpha1.AccountLimits
		want   UploadLimit
	}{
		"unset takes the vendor default": {want: DefaultUploadLimit},
		"a set limit is used": {
			limits: importsv1alpha1.AccountLimits{ProfileUploads: &importsv1alpha1.RateLimit{Count: 3, Window: metav1.Duration{Duration: 2 * time.Second}}},
			want:   UploadLimit{Count: 3, Window: 2 * time.Second, Margin: 20 * time.Millisecond},
		},
		"an invalid limit falls back to the default rather than allowing everything": {
			limits: importsv1alpha1.AccountLimits{ProfileUploads: &importsv1alpha1.RateLimit{Count: 0, Window: metav1.Duration{Duration: time.Second}}},
			want:   DefaultUploadLimit,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(UploadLimitOf(tc.limits)).To(Equal(tc.want))
		})
	}
}

func TestApplySummaryKeepsTheStatusConsistent(t *testing.T) {
	g := NewWithT(t)
	limit := UploadLimit{Count: 2, Window: time.Hour}
	status := importsv1alpha1.LocalyticsAccountStatus{UploadLedger: []importsv1alpha1.UploadReservation{
		entry(t0.Add(-2*time.Hour), "gone"), entry(t0.Add(-30*time.Minute), "a"), entry(t0.Add(-10*time.Minute), "b"),
	}}
	ApplySummary(&status, Summarize(status.UploadLedger, limit, t0))
	g.Expect(status.UploadLedger).To(HaveLen(2))
	g.Expect(*status.UploadsLeft).To(BeEquivalentTo(0))
	g.Expect(status.NextUploadSlot.Time).To(BeTemporally("==", t0.Add(30*time.Minute)))

	ApplySummary(&status, Summarize(status.UploadLedger, limit, t0.Add(45*time.Minute)))
	g.Expect(status.UploadLedger).To(HaveLen(1))
	g.Expect(*status.UploadsLeft).To(BeEquivalentTo(1))
	g.Expect(status.NextUploadSlot).To(BeNil())

	ApplySummary(&status, Summarize(status.UploadLedger, limit, t0.Add(2*time.Hour)))
	g.Expect(status.UploadLedger).To(BeNil())
	g.Expect(*status.UploadsLeft).To(BeEquivalentTo(2))
}

func TestTurn(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	limit := UploadLimit{Count: 2, Window: time.Hour, Margin: 30 * time.Second}
	at := func(d time.Duration) importsv1alpha1.UploadReservation {
		return importsv1alpha1.UploadReservation{ProfileImport: "ns/x", Time: metav1.NewMicroTime(now.Add(d))}
	}
	opens := func(d time.Duration) time.Time { return now.Add(d + time.Hour + 30*time.Second) }

	// One slot held 10 minutes ago, one free.
	entries := []importsv1alpha1.UploadReservation{at(-10 * time.Minute)}
	for k, want := range []time.Time{
		now,                      // the free slot
		opens(-10 * time.Minute), // the held one, when it opens
		opens(0),                 // the first waiter's slot, a window later
		opens(-10*time.Minute + time.Hour + 30*time.Second), // the second's
	} {
		if got := Turn(entries, limit, now, k); !got.Equal(want) {
			t.Errorf("place %d: turn at %s, want %s", k, got, want)
		}
	}

	// A lowered limit: three held for two; the oldest two must leave before
	// the first waiter's turn.
	entries = []importsv1alpha1.UploadReservation{at(-30 * time.Minute), at(-20 * time.Minute), at(-10 * time.Minute)}
	if got, want := Turn(entries, limit, now, 0), opens(-20*time.Minute); !got.Equal(want) {
		t.Errorf("over a lowered limit, the first turn is at %s, want %s", got, want)
	}
	if got, want := Turn(entries, limit, now, 1), opens(-10*time.Minute); !got.Equal(want) {
		t.Errorf("over a lowered limit, the second turn is at %s, want %s", got, want)
	}
}
