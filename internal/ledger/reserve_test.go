package ledger

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// These tests run Reserve against a real API server: the ledger's promise
// rests on its optimistic concurrency, which no fake reproduces.

var (
	restConfig *rest.Config
	scheme     = runtime.NewScheme()
)

func TestMain(m *testing.M) {
	os.Exit(runWithAPIServer(m))
}

func runWithAPIServer(m *testing.M) int {
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := importsv1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	env, err := testenv.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	restConfig, err = env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the API server:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	return m.Run()
}

// newClient returns a client of its own, as a separate replica would have.
func newClient(g Gomega) client.Client {
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	return c
}

// testLedger is the ledger of a key of its own, and a namespace for the
// imports that reserve from it.
type testLedger struct {
	Book
	Namespace string
}

var ledgerSeq atomic.Int64

// newAccount creates a namespace and names a ledger of a new key, with the
// given upload limit.
func newAccount(t *testing.T, g Gomega, c client.Client, limit UploadLimit) testLedger {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ledger-"}}
	g.Expect(c.Create(context.Background(), ns)).To(Succeed())
	limit.Margin = skewMargin(limit.Window)
	return testLedger{
		Book:      Book{Name: NameOf(HashOf(fmt.Sprintf("key-%s-%d", ns.Name, ledgerSeq.Add(1)))), Limit: limit},
		Namespace: ns.Name,
	}
}

func getAccount(g Gomega, c client.Client, key testLedger) *importsv1alpha1.UploadLedger {
	var l importsv1alpha1.UploadLedger
	g.Expect(c.Get(context.Background(), types.NamespacedName{Name: key.Name}, &l)).To(Succeed())
	return &l
}

func TestReserveRespectsTheCount(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c := newClient(g)
	key := newAccount(t, g, c, UploadLimit{Count: 3, Window: time.Hour})
	now := time.Now()

	for i := range 3 {
		res, err := Reserve(ctx, c, key.Book, Slot{Owner: fmt.Sprintf("%s/import-%d", key.Namespace, i), Digest: "sha256:file"}, now.Add(time.Duration(i)*time.Minute), now.Add(time.Duration(i)*time.Minute))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Existing).To(BeFalse())
		g.Expect(res.Left).To(BeEquivalentTo(2 - i))
	}
	_, err := Reserve(ctx, c, key.Book, Slot{Owner: key.Namespace + "/import-3", Digest: "sha256:file"}, now.Add(3*time.Minute), now.Add(3*time.Minute))
	noSlot, ok := IsNoSlot(err)
	g.Expect(ok).To(BeTrue(), "got %v", err)
	opens := now.Add(time.Hour + MaxSkewMargin)
	g.Expect(noSlot.NextSlot).To(BeTemporally("~", opens, time.Microsecond))
	g.Expect(noSlot.NextSlot).NotTo(BeTemporally("<", opens))

	account := getAccount(g, c, key)
	g.Expect(account.Status.Entries).To(HaveLen(3))
	g.Expect(*account.Status.UploadsLeft).To(BeEquivalentTo(0))
	g.Expect(account.Status.NextUploadSlot).NotTo(BeNil())
	g.Expect(account.Status.NextUploadSlot.Time).NotTo(BeTemporally("<", noSlot.NextSlot))
}

func TestReserveIsIdempotentPerOwnerAndDigest(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c := newClient(g)
	key := newAccount(t, g, c, UploadLimit{Count: 2, Window: time.Hour})
	now := time.Now()
	owner := key.Namespace + "/profiles"

	first, err := Reserve(ctx, c, key.Book, Slot{Owner: owner, Digest: "sha256:one"}, now, now)
	g.Expect(err).NotTo(HaveOccurred())
	// A reconcile retried after a crash asks again, later.
	again, err := Reserve(ctx, c, key.Book, Slot{Owner: owner, Digest: "sha256:one"}, now.Add(time.Minute), now.Add(time.Minute))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again.Existing).To(BeTrue())
	// Its upload was not sent yet: the slot now holds the later deadline.
	g.Expect(again.Time).To(BeTemporally("~", first.Time.Add(time.Minute), time.Microsecond))
	g.Expect(getAccount(g, c, key).Status.Entries).To(HaveLen(1))

	// The same owner with another file takes another slot.
	other, err := Reserve(ctx, c, key.Book, Slot{Owner: owner, Digest: "sha256:two"}, now.Add(2*time.Minute), now.Add(2*time.Minute))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(other.Existing).To(BeFalse())
	account := getAccount(g, c, key)
	g.Expect(account.Status.Entries).To(HaveLen(2))
	g.Expect(*account.Status.UploadsLeft).To(BeEquivalentTo(0))

	// With the window full, the holder of a slot still gets it back.
	again, err = Reserve(ctx, c, key.Book, Slot{Owner: owner, Digest: "sha256:one"}, now.Add(3*time.Minute), now.Add(3*time.Minute))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(again.Existing).To(BeTrue())
}

// A slot is held by one ProfileImport object, for one file and one attempt:
// an import recreated under the same name is another object, and a retry
// after an upload of unknown outcome is another upload for the vendor.
func TestReserveMatchesTheSlotHeld(t *testing.T) {
	const owner = "ns/profiles"
	cases := map[string]struct {
		held         importsv1alpha1.UploadReservation
		slot         Slot
		wantExisting bool
	}{
		"the same object, file and attempt get the slot they hold": {
			held:         importsv1alpha1.UploadReservation{ProfileImport: owner, UID: "uid-1", ContentDigest: "sha256:one"},
			slot:         Slot{Owner: owner, UID: "uid-1", Digest: "sha256:one"},
			wantExisting: true,
		},
		"an import recreated under the same name takes a new slot": {
			held: importsv1alpha1.UploadReservation{ProfileImport: owner, UID: "uid-1", ContentDigest: "sha256:one"},
			slot: Slot{Owner: owner, UID: "uid-2", Digest: "sha256:one"},
		},
		"a retry after an unknown outcome takes a new slot": {
			held: importsv1alpha1.UploadReservation{ProfileImport: owner, UID: "uid-1", ContentDigest: "sha256:one"},
			slot: Slot{Owner: owner, UID: "uid-1", Digest: "sha256:one", Attempt: 1},
		},
		"the same retry asked again gets its slot": {
			held:         importsv1alpha1.UploadReservation{ProfileImport: owner, UID: "uid-1", ContentDigest: "sha256:one", Attempt: 1},
			slot:         Slot{Owner: owner, UID: "uid-1", Digest: "sha256:one", Attempt: 1},
			wantExisting: true,
		},
		"another file takes a new slot": {
			held: importsv1alpha1.UploadReservation{ProfileImport: owner, UID: "uid-1", ContentDigest: "sha256:one"},
			slot: Slot{Owner: owner, UID: "uid-1", Digest: "sha256:two"},
		},
		"another name with the same file takes a new slot": {
			held: importsv1alpha1.UploadReservation{ProfileImport: owner, UID: "uid-1", ContentDigest: "sha256:one"},
			slot: Slot{Owner: "ns/other", UID: "uid-1", Digest: "sha256:one"},
		},
		"an entry written without a uid matches its owner by name": {
			held:         importsv1alpha1.UploadReservation{ProfileImport: owner, ContentDigest: "sha256:one"},
			slot:         Slot{Owner: owner, UID: "uid-1", Digest: "sha256:one"},
			wantExisting: true,
		},
		"an entry written without a uid still needs the same attempt": {
			held: importsv1alpha1.UploadReservation{ProfileImport: owner, ContentDigest: "sha256:one"},
			slot: Slot{Owner: owner, UID: "uid-1", Digest: "sha256:one", Attempt: 1},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			c := newClient(g)
			key := newAccount(t, g, c, UploadLimit{Count: 3, Window: time.Hour})
			now := time.Now()
			account := &importsv1alpha1.UploadLedger{ObjectMeta: metav1.ObjectMeta{Name: key.Name}}
			g.Expect(c.Create(ctx, account)).To(Succeed())
			held := tc.held
			held.Time = EntryTime(now)
			account.Status.Entries = []importsv1alpha1.UploadReservation{held}
			g.Expect(c.Status().Update(ctx, account)).To(Succeed())

			res, err := Reserve(ctx, c, key.Book, tc.slot, now.Add(time.Minute), now.Add(time.Minute))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Existing).To(Equal(tc.wantExisting))
			ledger := getAccount(g, c, key).Status.Entries
			if tc.wantExisting {
				// Stamped again with the later deadline of the upload not sent yet.
				g.Expect(res.Time).To(BeTemporally("~", now.Add(time.Minute), time.Microsecond))
				g.Expect(ledger).To(HaveLen(1))
				return
			}
			g.Expect(ledger).To(HaveLen(2))
			g.Expect(ledger[1]).To(And(
				HaveField("ProfileImport", tc.slot.Owner),
				HaveField("UID", tc.slot.UID),
				HaveField("ContentDigest", tc.slot.Digest),
				HaveField("Attempt", tc.slot.Attempt),
			))
		})
	}
}

func TestReserveAfterTheWindowExpires(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c := newClient(g)
	key := newAccount(t, g, c, UploadLimit{Count: 1, Window: time.Hour})
	now := time.Now()

	first, err := Reserve(ctx, c, key.Book, Slot{Owner: key.Namespace + "/a", Digest: "sha256:a"}, now, now)
	g.Expect(err).NotTo(HaveOccurred())

	_, err = Reserve(ctx, c, key.Book, Slot{Owner: key.Namespace + "/b", Digest: "sha256:b"}, first.Time.Add(time.Hour+MaxSkewMargin-time.Microsecond), first.Time.Add(time.Hour+MaxSkewMargin-time.Microsecond))
	_, ok := IsNoSlot(err)
	g.Expect(ok).To(BeTrue(), "a microsecond before the window and its margin end the slot is still taken: %v", err)

	res, err := Reserve(ctx, c, key.Book, Slot{Owner: key.Namespace + "/b", Digest: "sha256:b"}, first.Time.Add(time.Hour+MaxSkewMargin), first.Time.Add(time.Hour+MaxSkewMargin))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Existing).To(BeFalse())
	account := getAccount(g, c, key)
	g.Expect(account.Status.Entries).To(HaveLen(1), "the expired entry was pruned")
	g.Expect(account.Status.Entries[0].ProfileImport).To(Equal(key.Namespace + "/b"))
}

func TestReleaseAndRecordSent(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c := newClient(g)
	key := newAccount(t, g, c, UploadLimit{Count: 1, Window: time.Hour})
	now := time.Now()
	owner := key.Namespace + "/a"
	deadline := now.Add(10 * time.Minute)

	_, err := Reserve(ctx, c, key.Book, Slot{Owner: owner, Digest: "sha256:a"}, now, deadline)
	g.Expect(err).NotTo(HaveOccurred())
	// Before its upload is recorded as sent, the slot counts from the
	// upload's deadline: a RecordSent lost in a crash frees it late, never early.
	_, err = Reserve(ctx, c, key.Book, Slot{Owner: key.Namespace + "/b", Digest: "sha256:b"}, now.Add(time.Hour+time.Minute), now.Add(time.Hour+time.Minute))
	noSlot, ok := IsNoSlot(err)
	g.Expect(ok).To(BeTrue(), "the unsent slot counts from its deadline: %v", err)
	g.Expect(noSlot.NextSlot).NotTo(BeTemporally("<", deadline.Add(time.Hour+MaxSkewMargin)))

	sent, err := RecordSent(ctx, c, key.Book, Slot{Owner: owner, Digest: "sha256:a"}, now.Add(3*time.Second))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sent).To(BeTrue())
	_, err = Reserve(ctx, c, key.Book, Slot{Owner: key.Namespace + "/b", Digest: "sha256:b"}, now.Add(time.Hour+time.Second), now.Add(time.Hour+time.Second))
	noSlot, ok = IsNoSlot(err)
	g.Expect(ok).To(BeTrue(), "the slot counts from the time it was sent: %v", err)
	g.Expect(noSlot.NextSlot).NotTo(BeTemporally("<", now.Add(time.Hour+3*time.Second+MaxSkewMargin)))
	g.Expect(noSlot.NextSlot).To(BeTemporally("<", deadline.Add(time.Hour)), "and no longer from the deadline")

	released, err := Release(ctx, c, key.Book, Slot{Owner: owner, Digest: "sha256:a"}, now.Add(5*time.Second))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(released).To(BeTrue())
	account := getAccount(g, c, key)
	g.Expect(account.Status.Entries).To(BeEmpty())
	g.Expect(*account.Status.UploadsLeft).To(BeEquivalentTo(1))
	g.Expect(account.Status.NextUploadSlot).To(BeNil())

	released, err = Release(ctx, c, key.Book, Slot{Owner: owner, Digest: "sha256:a"}, now.Add(6*time.Second))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(released).To(BeFalse())
}

// A key's first reservation creates its ledger; the entries an account
// held before ledgers were kept per key are carried in, once.
func TestTheLedgerOfANewKey(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c := newClient(g)
	key := newAccount(t, g, c, UploadLimit{Count: 3, Window: time.Hour})
	now := time.Now()
	_, err := Reserve(ctx, c, key.Book, Slot{Owner: key.Namespace + "/a", Digest: "sha256:a"}, now, now)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(getAccount(g, c, key).Status.Entries).To(HaveLen(1))

	legacy := []importsv1alpha1.UploadReservation{
		{Time: EntryTime(now), ProfileImport: key.Namespace + "/a", ContentDigest: "sha256:a"},                        // held already
		{Time: EntryTime(now.Add(-time.Minute)), ProfileImport: key.Namespace + "/old", ContentDigest: "sha256:old"},  // carried
		{Time: EntryTime(now.Add(-2 * time.Hour)), ProfileImport: key.Namespace + "/gone", ContentDigest: "sha256:g"}, // out of the window
	}
	g.Expect(Carry(ctx, c, key.Book, legacy, now)).To(Succeed())
	g.Expect(Carry(ctx, c, key.Book, legacy, now)).To(Succeed())
	l := getAccount(g, c, key)
	g.Expect(l.Status.Entries).To(HaveLen(2))
	g.Expect(*l.Status.UploadsLeft).To(BeEquivalentTo(1))
	g.Expect(HashOf("one key")).NotTo(ContainSubstring("one key"))
	g.Expect(HashOf("one key")).To(HaveLen(40))
}

// Twenty reservers, each with a client of its own as separate replicas would
// have, race for ten slots: exactly ten win, the others learn when the next
// slot opens, and the ledger holds exactly the winners.
func TestConcurrentReserversNeverExceedTheLimit(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	admin := newClient(g)
	key := newAccount(t, g, admin, UploadLimit{Count: 10, Window: time.Hour})
	now := time.Now()

	const reservers = 20
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		mu       sync.Mutex
		won      []string
		noSlot   int
		failures []error
	)
	for i := range reservers {
		c := newClient(g)
		owner := fmt.Sprintf("%s/import-%02d", key.Namespace, i)
		wg.Go(func() {
			<-start
			_, err := Reserve(ctx, c, key.Book, Slot{Owner: owner, Digest: "sha256:" + owner}, now, now)
			mu.Lock()
			defer mu.Unlock()
			if _, ok := IsNoSlot(err); ok {
				noSlot++
				return
			}
			if err != nil {
				failures = append(failures, err)
				return
			}
			won = append(won, owner)
		})
	}
	close(start)
	wg.Wait()

	g.Expect(failures).To(BeEmpty())
	g.Expect(won).To(HaveLen(10))
	g.Expect(noSlot).To(Equal(10))
	account := getAccount(g, admin, key)
	var holders []string
	for _, e := range account.Status.Entries {
		holders = append(holders, e.ProfileImport)
	}
	g.Expect(holders).To(ConsistOf(won))
	g.Expect(*account.Status.UploadsLeft).To(BeEquivalentTo(0))
}

// Two accounts of one key that declare different windows: the one with the
// shorter window never frees the slots the other counts.
func TestAShorterWindowKeepsTheLongerOnesSlots(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	c := newClient(g)
	hourly := newAccount(t, g, c, UploadLimit{Count: 2, Window: time.Hour})
	brief := Book{Name: hourly.Name, Limit: UploadLimit{Count: 2, Window: time.Second, Margin: skewMargin(time.Second)}}
	now := time.Now()
	for i, book := range []Book{hourly.Book, hourly.Book} {
		_, err := Reserve(ctx, c, book, Slot{Owner: fmt.Sprintf("%s/a%d", hourly.Namespace, i), Digest: "sha256:a"}, now, now)
		g.Expect(err).NotTo(HaveOccurred())
	}
	// A minute later the brief account sees a free window, and reserves...
	later := now.Add(time.Minute)
	_, err := Reserve(ctx, c, brief, Slot{Owner: hourly.Namespace + "/b", Digest: "sha256:b"}, later, later)
	g.Expect(err).NotTo(HaveOccurred())
	// ...without dropping the hourly account's slots, which it still counts.
	g.Expect(getAccount(g, c, hourly).Status.Entries).To(HaveLen(3))
	_, err = Reserve(ctx, c, hourly.Book, Slot{Owner: hourly.Namespace + "/a9", Digest: "sha256:a"}, later, later)
	_, full := IsNoSlot(err)
	g.Expect(full).To(BeTrue(), "the hourly account's window is full: %v", err)
}
