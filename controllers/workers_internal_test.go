package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// sharesAt is a namespaceShares of 8 workers on a clock the test moves,
// with helpers to start reconciles and end them after a given time.
type sharesAt struct {
	*namespaceShares
	t     time.Time
	gives map[types.NamespacedName]func()
}

func newSharesAt() *sharesAt {
	s := &sharesAt{namespaceShares: newNamespaceShares(8), t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		gives: map[types.NamespacedName]func(){}}
	s.now = func() time.Time { return s.t }
	return s
}

func (s *sharesAt) start(ns string, i int) bool {
	req := types.NamespacedName{Namespace: ns, Name: fmt.Sprint(i)}
	give, ok := s.take(req)
	if ok {
		s.gives[req] = give
	}
	return ok
}

// end ends the reconcile of ns/i after it took took.
func (s *sharesAt) end(ns string, i int, took time.Duration) {
	s.t = s.t.Add(took)
	req := types.NamespacedName{Namespace: ns, Name: fmt.Sprint(i)}
	s.gives[req]()
	delete(s.gives, req)
}

// wokenIn drains the wake channel, counting the requests per namespace.
func (s *sharesAt) wokenIn() map[string]int {
	n := map[string]int{}
	for len(s.wake) > 0 {
		n[(<-s.wake).Object.GetNamespace()]++
	}
	return n
}

func TestNamespaceShares(t *testing.T) {
	g := NewWithT(t)
	s := newSharesAt() // two per namespace
	slow := 5 * time.Second
	g.Expect(s.start("a", 1)).To(BeTrue())
	g.Expect(s.start("a", 2)).To(BeTrue())
	g.Expect(s.start("a", 3)).To(BeFalse(), "a namespace of unknown pace holds a quarter of the workers at most")
	g.Expect(s.start("a", 4)).To(BeFalse())
	g.Expect(s.start("a", 3)).To(BeFalse(), "turned away again, it keeps its place")
	g.Expect(s.start("b", 1)).To(BeTrue(), "another namespace is not held back")
	g.Expect(s.wake).To(BeEmpty())

	s.end("a", 1, slow)
	g.Expect(s.wake).To(Receive(HaveField("Object.GetName()", "3")), "the request that waited longest is woken")
	g.Expect(s.wake).To(BeEmpty(), "a slow namespace borrows nothing")
	g.Expect(s.start("a", 3)).To(BeTrue(), "and takes the share given back")
	s.end("a", 2, slow)
	g.Expect(s.wake).To(Receive(HaveField("Object.GetName()", "4")))
	g.Expect(s.start("a", 4)).To(BeTrue())
	s.end("a", 3, slow)
	g.Expect(s.wake).To(BeEmpty(), "nothing waits")
	g.Expect(newNamespaceShares(2).limit).To(Equal(1), "a namespace may always run one")
}

func TestNamespaceSharesLendIdleWorkersToQuickNamespaces(t *testing.T) {
	g := NewWithT(t)
	s := newSharesAt()
	quick := 10 * time.Millisecond

	g.Expect(s.start("a", 0)).To(BeTrue())
	g.Expect(s.start("a", 1)).To(BeTrue())
	for i := 2; i < 12; i++ {
		g.Expect(s.start("a", i)).To(BeFalse(), "the share taken, a line of ten waits")
	}
	s.end("a", 0, quick)
	g.Expect(s.wokenIn()).To(Equal(map[string]int{"a": 3}), "a quick namespace is woken into idle workers, up to half of them (one of its own runs)")
	for i := 2; i <= 4; i++ {
		g.Expect(s.start("a", i)).To(BeTrue(), "the woken requests start")
	}
	g.Expect(s.start("a", 5)).To(BeFalse(), "half the workers at most")

	g.Expect(s.start("b", 0)).To(BeTrue(), "another namespace finds workers free")
	g.Expect(s.start("b", 1)).To(BeTrue())
	g.Expect(s.start("b", 2)).To(BeFalse(), "b holds its share, and its pace is unknown")
	s.end("a", 1, quick)
	g.Expect(s.wokenIn()).To(Equal(map[string]int{"a": 1}), "a borrows back what it gave")
	g.Expect(s.start("a", 5)).To(BeTrue())
	s.end("b", 0, quick)
	g.Expect(s.wokenIn()).To(Equal(map[string]int{"b": 1}), "b is under its share again")
	g.Expect(s.start("b", 2)).To(BeTrue())
	g.Expect(s.start("b", 3)).To(BeFalse(), "b is quick now, but a share's worth of workers stays free for the others")
	g.Expect(s.start("c", 0)).To(BeTrue(), "and a third namespace finds it")

	// a holds 4 (2, 3, 4, 5): they run long, and a stops borrowing
	// before any of them ends.
	s.t = s.t.Add(2 * time.Second)
	s.end("c", 0, 0)
	g.Expect(s.wokenIn()).To(BeEmpty(), "no one borrows the worker c gave back: the reconciles of a and b under way have run for 2s")
	s.end("a", 2, 0)
	s.end("a", 3, 0)
	g.Expect(s.wokenIn()).To(BeEmpty(), "a, holding 2 and slow, waits for its share")
	s.end("a", 4, 0)
	g.Expect(s.wokenIn()).To(Equal(map[string]int{"a": 1}), "a is woken into its share only")
	g.Expect(s.start("a", 6)).To(BeTrue())
	g.Expect(s.start("a", 7)).To(BeFalse(), "its pace is slow now: it borrows nothing")
}

func TestNamespaceSharesForgetAPaceAfterAQuietMinute(t *testing.T) {
	g := NewWithT(t)
	s := newSharesAt()
	g.Expect(s.start("a", 0)).To(BeTrue())
	s.end("a", 0, 10*time.Millisecond)
	s.t = s.t.Add(2 * time.Minute)
	g.Expect(s.start("a", 1)).To(BeTrue())
	g.Expect(s.start("a", 2)).To(BeTrue())
	for i := 3; i < 7; i++ {
		g.Expect(s.start("a", i)).To(BeFalse(), "quick two minutes ago: a burst starts within its share")
	}
	s.end("a", 1, 10*time.Millisecond)
	g.Expect(s.wokenIn()).To(Equal(map[string]int{"a": 3}), "quick again now: it borrows")
}

func TestNamespaceSharesFullWakeChannel(t *testing.T) {
	g := NewWithT(t)
	s := newSharesAt()
	g.Expect(s.start("a", 0)).To(BeTrue())
	g.Expect(s.start("a", 1)).To(BeTrue())
	g.Expect(s.start("a", 2)).To(BeFalse())
	for len(s.wake) < cap(s.wake) {
		s.wake <- event.GenericEvent{Object: &metav1.PartialObjectMetadata{}}
	}
	s.end("a", 0, time.Second)
	g.Expect(s.waiting["a"]).To(HaveLen(1), "a request that could not be woken keeps its place")
	g.Expect(s.woken["a"]).To(BeZero())
}

func TestWatchdog(t *testing.T) {
	g := NewWithT(t)
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w := &Watchdog{clock: clock, running: map[uint64]time.Time{}, limit: time.Minute}
	g.Expect(w.Check(nil)).To(Succeed(), "no reconcile running")

	endOld := w.begin()
	clock.SetTime(clock.Now().Add(50 * time.Second))
	endNew := w.begin()
	g.Expect(w.Check(nil)).To(Succeed(), "within the limit")
	clock.SetTime(clock.Now().Add(20 * time.Second))
	g.Expect(w.Check(nil)).To(MatchError(ContainSubstring("a worker is stuck")), "the older reconcile ran past the limit")
	endOld()
	g.Expect(w.Check(nil)).To(Succeed(), "the stuck one ended; the newer is within the limit")
	endNew()

	var none *Watchdog
	none.begin()() // a reconciler without a watchdog
}
