package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestNamespaceShares(t *testing.T) {
	g := NewWithT(t)
	s := newNamespaceShares(8) // two per namespace
	a := func(name string) types.NamespacedName { return types.NamespacedName{Namespace: "a", Name: name} }
	g.Expect(s.take(a("1"))).To(BeTrue())
	g.Expect(s.take(a("2"))).To(BeTrue())
	g.Expect(s.take(a("3"))).To(BeFalse(), "a namespace holds a quarter of the workers at most")
	g.Expect(s.take(a("4"))).To(BeFalse())
	g.Expect(s.take(a("3"))).To(BeFalse(), "turned away again, it keeps its place")
	g.Expect(s.take(types.NamespacedName{Namespace: "b", Name: "1"})).To(BeTrue(), "another namespace is not held back")
	g.Expect(s.wake).To(BeEmpty())

	s.give("a")
	g.Expect(s.wake).To(Receive(HaveField("Object.GetName()", "3")), "the request that waited longest is woken")
	g.Expect(s.take(a("3"))).To(BeTrue(), "and takes the share given back")
	s.give("a")
	g.Expect(s.wake).To(Receive(HaveField("Object.GetName()", "4")))
	s.give("a")
	g.Expect(s.wake).To(BeEmpty(), "nothing waits")
	g.Expect(newNamespaceShares(2).limit).To(Equal(1), "a namespace may always run one")
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
