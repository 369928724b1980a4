package controllers_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// Every assertion on the remote list reads the simulator; the status is
// checked against it, never instead of it.

func withLinesFormat(al *importsv1alpha1.AudienceList) {
	al.Spec.SourceFormat = importsv1alpha1.AudienceFormatLines
}

func withOrphanPolicy(al *importsv1alpha1.AudienceList) {
	al.Spec.DeletionPolicy = importsv1alpha1.DeletionPolicyOrphan
}

// patchAudienceList applies change to the AudienceList's current state.
func patchAudienceList(al *importsv1alpha1.AudienceList, change func(*importsv1alpha1.AudienceList)) {
	GinkgoHelper()
	fresh := getAudienceList(al)
	patch := client.MergeFrom(fresh.DeepCopy())
	change(fresh)
	Expect(k8sClient.Patch(ctx, fresh, patch)).To(Succeed())
}

var _ = Describe("AudienceList", Ordered, ContinueOnFailure, func() {
	It("creates the list from a JSON Lines ConfigMap, and ends Ready and Current", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		audienceConfigMap(ns, "c1", "c2", "c3")
		al := createAudienceList(ns, "vip", app, "ids")

		done := eventuallyInSync(al)
		Expect(done.Finalizers).To(ContainElement(importsv1alpha1.AudienceListFinalizer))
		Expect(done.Spec.DeletionPolicy).To(Equal(importsv1alpha1.DeletionPolicyDelete), "the default")

		Expect(s.AudienceLists(app)).To(HaveLen(1))
		remote := s.mustRemoteList(app, done.Status.AudienceListID)
		Expect(remote.Name).To(Equal("vip"))
		Expect(remote.Members).To(Equal([]string{"c1", "c2", "c3"}))
		creates := s.uploadsTo(sim.EndpointAudienceCreate, app)
		Expect(creates).To(HaveLen(1))
		Expect(creates[0].AudienceListID).To(Equal(remote.ID))

		Expect(done.Status.RemoteName).To(Equal("vip"))
		Expect(done.Status.RecordCount).To(Equal(int64(3)))
		Expect(done.Status.SourceDigest).To(HavePrefix("sha256:"))
		Expect(done.Status.ContentDigest).To(Equal(done.Status.SourceDigest))
		Expect(done.Status.SourceRevision).NotTo(BeEmpty())
		Expect(done.Status.Lines).To(Equal(int64(3)))
		Expect(done.Status.Bytes).To(Equal(int64(len(jsonlOf("c1", "c2", "c3")))))
		Expect(done.Status.Validation).NotTo(BeNil())
		Expect(done.Status.Validation.ValidLines).To(Equal(int64(3)))
		Expect(done.Status.Validation.InvalidLines).To(BeZero())
		Expect(done.Status.Validation.Errors).To(BeEmpty())
		Expect(done.Status.LastActivityID).To(Equal(creates[0].ActivityID))
		Expect(done.Status.Statistics).To(Equal(&importsv1alpha1.AudienceListStatistics{TotalLines: 3, SuccessfulLines: 3}))
		Expect(done.Status.Intent).To(BeNil())
		Expect(done.Status.FailedDigest).To(BeEmpty())
		hasNoCondition(done, importsv1alpha1.ConditionStalled)
		hasNoCondition(done, importsv1alpha1.ConditionReconciling)
		Expect(kstatusOf(al)).To(Equal(status.CurrentStatus))
		eventuallyEvent(al, controllers.EventCreated)

		// The version is what Localytics reports (A6), at the latest after a
		// drift check.
		Eventually(func() int64 { return getAudienceList(al).Status.RemoteVersion }).
			WithTimeout(driftTimeout).WithPolling(200 * time.Millisecond).Should(Equal(int64(remote.Version)))
		Expect(s.Throttled()).To(BeEmpty())
	})

	It("converts a lines file from binaryData, ignoring blanks and keeping a repeated id once", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		content := "  alice \n\nbob\nalice\n   \n\tcarol\n"
		Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ids"},
			BinaryData: map[string][]byte{audienceKey: []byte(content)},
		})).To(Succeed())
		al := createAudienceList(ns, "hand-made", app, "ids", withLinesFormat)

		done := eventuallyInSync(al)
		remote := s.mustRemoteList(app, done.Status.AudienceListID)
		Expect(remote.Members).To(Equal([]string{"alice", "bob", "carol"}))
		Expect(remote.Name).To(Equal("hand-made"))
		Expect(done.Status.RecordCount).To(Equal(int64(3)))
		Expect(done.Status.Lines).To(Equal(int64(4)), "ids, the repeated one included, blank lines excluded")
		Expect(done.Status.Bytes).To(Equal(int64(len(content))))
		Expect(done.Status.Validation).NotTo(BeNil())
		Expect(done.Status.Validation.DuplicateLines).To(Equal(int64(1)))
		Expect(done.Status.Validation.InvalidLines).To(BeZero())
		Expect(done.Status.ContentDigest).To(Equal(done.Status.SourceDigest))
	})

	It("rejects a file with an invalid line, naming it, without a single call, and creates the list once it is fixed", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		createFileConfigMap(ns, "ids", audienceKey, jsonlOf("c1")+"not json\n"+jsonlOf("c3"))
		al := createAudienceList(ns, "broken", app, "ids")

		stalledCond := eventuallyCondition(al, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonValidationFailed)
		Expect(stalledCond.Message).To(ContainSubstring("line 2"))
		rejected := getAudienceList(al)
		Expect(rejected.Status.Validation).NotTo(BeNil())
		Expect(rejected.Status.Validation.ValidLines).To(Equal(int64(2)))
		Expect(rejected.Status.Validation.InvalidLines).To(Equal(int64(1)))
		Expect(rejected.Status.Validation.Errors).To(HaveLen(1))
		Expect(rejected.Status.Validation.Errors[0].Line).To(Equal(int64(2)))
		Expect(rejected.Status.AudienceListID).To(BeEmpty())
		Expect(rejected.Status.SourceDigest).To(HavePrefix("sha256:"))
		Expect(rejected.Status.ContentDigest).To(BeEmpty())
		readyCond := meta.FindStatusCondition(rejected.Status.Conditions, importsv1alpha1.ConditionReady)
		Expect(readyCond).NotTo(BeNil())
		Expect(readyCond.Status).To(Equal(metav1.ConditionFalse))
		eventuallyEvent(al, controllers.EventRejected)
		Expect(kstatusOf(al)).To(Equal(status.FailedStatus))

		// Nothing reached the API: no audience call at all, no upload.
		Consistently(func(g Gomega) {
			g.Expect(s.audienceCalls()).To(BeEmpty())
			g.Expect(s.Uploads()).To(BeEmpty())
		}).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())

		// The ConfigMap's fix brings the list about.
		setAudienceConfigMap(ns, "ids", "c1", "c3")
		done := eventuallyInSync(al)
		Expect(s.mustRemoteList(app, done.Status.AudienceListID).Members).To(Equal([]string{"c1", "c3"}))
		Expect(done.Status.Validation.InvalidLines).To(BeZero())
		hasNoCondition(done, importsv1alpha1.ConditionStalled)
	})

	It("replaces the list's content when the ConfigMap changes, keeping its id", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		audienceConfigMap(ns, "c1", "c2")
		al := createAudienceList(ns, "vip", app, "ids")
		before := eventuallyInSync(al)
		id := before.Status.AudienceListID
		remoteBefore := s.mustRemoteList(app, id)

		setAudienceConfigMap(ns, "ids", "c2", "c3", "c4")
		Eventually(func(g Gomega) {
			l, ok := s.remoteList(app, id)
			g.Expect(ok).To(BeTrue(), "list %s is gone: %v", id, s.AudienceLists(app))
			g.Expect(l.Members).To(Equal([]string{"c2", "c3", "c4"}))
			g.Expect(l.Version).To(Equal(remoteBefore.Version + 1))
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())

		var after importsv1alpha1.AudienceList
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(al), &after)).To(Succeed())
			g.Expect(after.Status.SourceDigest).NotTo(Equal(before.Status.SourceDigest))
			g.Expect(after.Status.ContentDigest).To(Equal(after.Status.SourceDigest))
			g.Expect(after.Status.RecordCount).To(Equal(int64(3)))
			g.Expect(after.Status.Intent).To(BeNil())
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		eventuallyInSync(al)
		Expect(after.Status.AudienceListID).To(Equal(id))
		replaces := s.uploadsTo(sim.EndpointAudienceUpdate, app)
		Expect(replaces).To(HaveLen(1))
		Expect(replaces[0].AudienceListID).To(Equal(remoteBefore.ID))
		Expect(after.Status.LastActivityID).To(Equal(replaces[0].ActivityID))
		Expect(s.uploadsTo(sim.EndpointAudienceCreate, app)).To(HaveLen(1), "a replace is no new list")
		Expect(s.AudienceLists(app)).To(HaveLen(1))
		Expect(s.mustRemoteList(app, id).Name).To(Equal("vip"))
		eventuallyEvent(al, controllers.EventReplaced)
	})

	It("renames the list when spec.audienceName changes, keeping its id and content", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		audienceConfigMap(ns, "c1", "c2")
		al := createAudienceList(ns, "vip", app, "ids")
		before := eventuallyInSync(al)
		id := before.Status.AudienceListID
		remoteBefore := s.mustRemoteList(app, id)

		patchAudienceList(al, func(al *importsv1alpha1.AudienceList) { al.Spec.AudienceName = "Very Important People" })
		Eventually(func(g Gomega) {
			l, ok := s.remoteList(app, id)
			g.Expect(ok).To(BeTrue(), "list %s is gone: %v", id, s.AudienceLists(app))
			g.Expect(l.Name).To(Equal("Very Important People"))
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())

		Eventually(func(g Gomega) {
			var fresh importsv1alpha1.AudienceList
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(al), &fresh)).To(Succeed())
			g.Expect(fresh.Status.RemoteName).To(Equal("Very Important People"))
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		after := eventuallyInSync(al)
		Expect(after.Status.AudienceListID).To(Equal(id))
		remote := s.mustRemoteList(app, id)
		Expect(remote.Version).To(Equal(remoteBefore.Version), "a rename is no new version")
		Expect(remote.Members).To(Equal([]string{"c1", "c2"}))
		Expect(s.AudienceLists(app)).To(HaveLen(1))
		Expect(s.uploadsTo(sim.EndpointAudienceUpdate, app)).To(BeEmpty(), "nothing to upload for a rename")
		Expect(s.uploadsTo(sim.EndpointAudienceCreate, app)).To(HaveLen(1))
		Expect(s.callsTo(sim.EndpointAudienceRename, app, time.Time{})).NotTo(BeEmpty())
		eventuallyEvent(al, controllers.EventRenamed)
	})

	It("deletes the list in Localytics with the object, by default", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		audienceConfigMap(ns, "c1")
		al := createAudienceList(ns, "doomed", app, "ids")
		id := eventuallyInSync(al).Status.AudienceListID

		Expect(k8sClient.Delete(ctx, al)).To(Succeed())
		eventuallyGone(al)
		_, ok := s.remoteList(app, id)
		Expect(ok).To(BeFalse(), "list %s is still in the simulator", id)
		Expect(s.AudienceLists(app)).To(BeEmpty())
		Expect(s.callsTo(sim.EndpointAudienceDelete, app, time.Time{})).NotTo(BeEmpty())
	})

	It("leaves the list in Localytics with the Orphan policy", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		audienceConfigMap(ns, "c1")
		al := createAudienceList(ns, "kept", app, "ids", withOrphanPolicy)
		id := eventuallyInSync(al).Status.AudienceListID

		Expect(k8sClient.Delete(ctx, al)).To(Succeed())
		eventuallyGone(al)
		remote := s.mustRemoteList(app, id)
		Expect(remote.Name).To(Equal("kept"))
		Expect(remote.Members).To(Equal([]string{"c1"}))
		Expect(s.callsTo(sim.EndpointAudienceDelete, app, time.Time{})).To(BeEmpty())
	})

	It("blocks a delete it cannot make, saying how to orphan the list, and lets go once the policy is Orphan", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		audienceConfigMap(ns, "c1")
		al := createAudienceList(ns, "stuck", app, "ids")
		id := eventuallyInSync(al).Status.AudienceListID

		// Without its Secret the account has no client: wait until the
		// account controller has seen so, and forgotten the verified one.
		Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretName}})).To(Succeed())
		account := &importsv1alpha1.LocalyticsAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: accountName}}
		eventuallyCondition(account, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonSecretMissing)

		Expect(k8sClient.Delete(ctx, al)).To(Succeed())
		blocked := eventuallyCondition(al, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonDeleteBlocked)
		Expect(blocked.Message).To(ContainSubstring("spec.deletionPolicy"))
		Expect(blocked.Message).To(ContainSubstring("Orphan"))
		Expect(blocked.Message).To(ContainSubstring(accountName), "the message names the account or its Secret")
		Consistently(func(g Gomega) {
			var fresh importsv1alpha1.AudienceList
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(al), &fresh)).To(Succeed())
			g.Expect(fresh.DeletionTimestamp).NotTo(BeNil())
			_, ok := s.remoteList(app, id)
			g.Expect(ok).To(BeTrue())
		}).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())

		patchAudienceList(al, withOrphanPolicy)
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(al), &importsv1alpha1.AudienceList{})
		}).WithTimeout(10 * time.Second).WithPolling(100 * time.Millisecond).Should(Satisfy(func(err error) bool {
			return err != nil && client.IgnoreNotFound(err) == nil
		}))
		Expect(s.mustRemoteList(app, id).Name).To(Equal("stuck"))
		Expect(s.callsTo(sim.EndpointAudienceDelete, app, time.Time{})).To(BeEmpty())
	})

	It("adopts an existing list by id, renaming it and replacing its content", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()

		// A list made outside the operator, through the API.
		api, err := localytics.New(s.url, localytics.Credentials{Key: s.key, Secret: s.secret})
		Expect(err).NotTo(HaveOccurred())
		legacy := jsonlOf("old1", "old2")
		_, err = api.CreateAudienceList(ctx, localytics.AudienceListCreate{
			AppID: app, Name: "legacy",
			File: localytics.UploadFile{Content: strings.NewReader(legacy), Size: int64(len(legacy))},
		})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() []sim.AudienceList { return s.AudienceLists(app) }).
			WithTimeout(10 * time.Second).WithPolling(100 * time.Millisecond).Should(HaveLen(1))
		existing := s.AudienceLists(app)[0]
		Expect(existing.Members).To(Equal([]string{"old1", "old2"}))

		audienceConfigMap(ns, "n1", "n2", "n3")
		al := createAudienceList(ns, "adopted", app, "ids", func(al *importsv1alpha1.AudienceList) {
			al.Spec.AudienceListID = idOf(existing)
		})

		Eventually(func(g Gomega) {
			l, ok := s.remoteList(app, idOf(existing))
			g.Expect(ok).To(BeTrue(), "the adopted list is gone: %v", s.AudienceLists(app))
			g.Expect(l.Name).To(Equal("adopted"))
			g.Expect(l.Members).To(Equal([]string{"n1", "n2", "n3"}))
			g.Expect(l.Version).To(Equal(existing.Version + 1))
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		Eventually(func(g Gomega) {
			var fresh importsv1alpha1.AudienceList
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(al), &fresh)).To(Succeed())
			g.Expect(fresh.Status.RemoteName).To(Equal("adopted"))
			g.Expect(fresh.Status.ContentDigest).To(Equal(fresh.Status.SourceDigest))
			g.Expect(fresh.Status.Intent).To(BeNil())
		}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		done := eventuallyInSync(al)
		Expect(done.Status.AudienceListID).To(Equal(idOf(existing)))
		Expect(done.Status.RecordCount).To(Equal(int64(3)))
		Expect(s.AudienceLists(app)).To(HaveLen(1))
		Expect(s.uploadsTo(sim.EndpointAudienceCreate, app)).To(HaveLen(1), "only the list made outside: adopting creates nothing")
		eventuallyEvent(al, controllers.EventAdopted)
	})

	It("stalls adopting a list id that does not exist, creating nothing", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		audienceConfigMap(ns, "c1")
		al := createAudienceList(ns, "ghost", app, "ids", func(al *importsv1alpha1.AudienceList) {
			al.Spec.AudienceListID = "424242"
		})

		stalledCond := eventuallyCondition(al, importsv1alpha1.ConditionStalled, metav1.ConditionTrue, controllers.ReasonAudienceListNotFound)
		Expect(stalledCond.Message).To(ContainSubstring("424242"))
		Consistently(func(g Gomega) {
			g.Expect(s.AudienceLists(app)).To(BeEmpty())
			g.Expect(s.uploadsTo(sim.EndpointAudienceCreate, app)).To(BeEmpty())
		}).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		Expect(kstatusOf(al)).To(Equal(status.FailedStatus))
	})

	It("creates the list again when it is deleted in the dashboard", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		audienceConfigMap(ns, "c1", "c2")
		al := createAudienceList(ns, "drifted", app, "ids")
		oldID := eventuallyInSync(al).Status.AudienceListID
		old, err := strconv.ParseInt(oldID, 10, 64)
		Expect(err).NotTo(HaveOccurred())

		Expect(s.DeleteListInDashboard(old)).To(BeTrue())
		Eventually(func(g Gomega) {
			var fresh importsv1alpha1.AudienceList
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(al), &fresh)).To(Succeed())
			g.Expect(fresh.Status.AudienceListID).NotTo(BeEmpty())
			g.Expect(fresh.Status.AudienceListID).NotTo(Equal(oldID))
			l, ok := s.remoteList(app, fresh.Status.AudienceListID)
			g.Expect(ok).To(BeTrue(), "no list %s in the simulator", fresh.Status.AudienceListID)
			g.Expect(l.Name).To(Equal("drifted"))
			g.Expect(l.Members).To(Equal([]string{"c1", "c2"}))
		}).WithTimeout(driftTimeout).WithPolling(200 * time.Millisecond).Should(Succeed())
		done := eventuallyInSync(al, driftTimeout)
		Expect(done.Status.AudienceListID).NotTo(Equal(oldID))
		Expect(s.AudienceLists(app)).To(HaveLen(1))
		Expect(s.uploadsTo(sim.EndpointAudienceCreate, app)).To(HaveLen(2))
		eventuallyEvent(al, controllers.EventDeletedOutside)
	})

	It("renames the list back when it is renamed in the dashboard", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		audienceConfigMap(ns, "c1", "c2")
		al := createAudienceList(ns, "named", app, "ids")
		id := eventuallyInSync(al).Status.AudienceListID
		before := s.mustRemoteList(app, id)

		Expect(s.RenameListInDashboard(before.ID, "other")).To(BeTrue())
		Eventually(func(g Gomega) {
			l, ok := s.remoteList(app, id)
			g.Expect(ok).To(BeTrue(), "list %s is gone: %v", id, s.AudienceLists(app))
			g.Expect(l.Name).To(Equal("named"))
		}).WithTimeout(driftTimeout).WithPolling(200 * time.Millisecond).Should(Succeed())
		eventuallyEvent(al, controllers.EventRenamedOutside)
		done := eventuallyInSync(al, driftTimeout)
		Expect(done.Status.AudienceListID).To(Equal(id))
		Expect(done.Status.RemoteName).To(Equal("named"))
		after := s.mustRemoteList(app, id)
		Expect(after.Version).To(Equal(before.Version))
		Expect(after.Members).To(Equal([]string{"c1", "c2"}))
		Expect(s.AudienceLists(app)).To(HaveLen(1))
		Expect(s.uploadsTo(sim.EndpointAudienceCreate, app)).To(HaveLen(1))
	})

	It("checks an app for drift with one A6 per interval, shared by all its lists", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		audienceConfigMap(ns, "c1")
		const lists = 5
		var all []*importsv1alpha1.AudienceList
		for i := range lists {
			all = append(all, createAudienceList(ns, fmt.Sprintf("list-%d", i), app, "ids"))
		}
		for _, al := range all {
			eventuallyInSync(al)
		}
		Expect(s.AudienceLists(app)).To(HaveLen(lists))

		// Let the creates settle, then count over three intervals: one A6
		// per list per interval would make about 15.
		time.Sleep(driftInterval)
		since := time.Now()
		const intervals = 3
		time.Sleep(intervals * driftInterval)
		n := s.a6Calls(app, since)
		Expect(n).To(BeNumerically(">=", 1), "no drift check in %d intervals", intervals)
		Expect(n).To(BeNumerically("<=", intervals+2), "%d A6 calls in %d intervals of %d lists", n, intervals, lists)
		Expect(s.AudienceLists(app)).To(HaveLen(lists))
		Expect(s.Throttled()).To(BeEmpty())
	})

	It("creates no list beyond the account's cap for the app, and creates it once there is room", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s, func(a *importsv1alpha1.LocalyticsAccount) {
			a.Spec.Limits.AudienceListsPerApp = 2
		})
		app := newAppID()
		audienceConfigMap(ns, "c1")
		for _, name := range []string{"first", "second", "third"} {
			createAudienceList(ns, name, app, "ids")
		}

		var ready []string
		var limited string
		Eventually(func(g Gomega) {
			ready, limited = nil, ""
			var lists importsv1alpha1.AudienceListList
			g.Expect(k8sClient.List(ctx, &lists, client.InNamespace(ns))).To(Succeed())
			for _, al := range lists.Items {
				c := meta.FindStatusCondition(al.Status.Conditions, importsv1alpha1.ConditionReady)
				g.Expect(c).NotTo(BeNil(), "%s has no Ready condition yet", al.Name)
				switch {
				case c.Status == metav1.ConditionTrue && c.Reason == controllers.ReasonInSync:
					ready = append(ready, al.Name)
				case c.Status == metav1.ConditionFalse && c.Reason == controllers.ReasonListLimitReached:
					limited = al.Name
				}
			}
			g.Expect(ready).To(HaveLen(2))
			g.Expect(limited).NotTo(BeEmpty())
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())

		waiting := &importsv1alpha1.AudienceList{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: limited}}
		reconciling := eventuallyCondition(waiting, importsv1alpha1.ConditionReconciling, metav1.ConditionTrue, controllers.ReasonListLimitReached)
		// The limit, 2, as a number of its own (not the 2 of "app-12").
		Expect(reconciling.Message).To(MatchRegexp(`(^|[^0-9A-Za-z-])2($|[^0-9])`))
		Expect(getAudienceList(waiting).Status.AudienceListID).To(BeEmpty())
		Expect(kstatusOf(waiting)).To(Equal(status.InProgressStatus))
		Consistently(func(g Gomega) {
			g.Expect(s.callsTo(sim.EndpointAudienceCreate, app, time.Time{})).To(HaveLen(2), "no A1 for the list beyond the cap")
			g.Expect(s.AudienceLists(app)).To(HaveLen(2))
		}).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		Eventually(func() []importsv1alpha1.AppAudienceLists {
			return getAccount(client.ObjectKey{Namespace: ns, Name: accountName}).Status.AudienceLists
		}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(
			ContainElement(importsv1alpha1.AppAudienceLists{AppID: app, Count: 2}))
		Expect(find(gatherOperatorMetrics(), "localytics_audience_lists",
			map[string]string{"account": ns + "/" + accountName, "app": app}).GetGauge().GetValue()).To(Equal(2.0))

		// Deleting one of the two makes room for the third.
		freed := getAudienceList(&importsv1alpha1.AudienceList{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ready[0]}})
		Expect(k8sClient.Delete(ctx, freed)).To(Succeed())
		eventuallyGone(freed)
		done := eventuallyInSync(waiting, driftTimeout)
		remote := s.AudienceLists(app)
		Expect(remote).To(HaveLen(2))
		Expect(slices.ContainsFunc(remote, func(l sim.AudienceList) bool { return idOf(l) == done.Status.AudienceListID })).To(BeTrue())
		_, freedStill := s.remoteList(app, freed.Status.AudienceListID)
		Expect(freedStill).To(BeFalse())
		Expect(s.Throttled()).To(BeEmpty())
	})

	It("creates one list, not two, when the answer of its create is lost", func() {
		s := newAudienceSim(relaxedAudienceLimits)
		ns := readyAudienceAccount(s)
		app := newAppID()
		s.SetFaults(sim.Faults{DropAfterAccept: 1})
		DeferCleanup(s.SetFaults, sim.Faults{})
		audienceConfigMap(ns, "c1", "c2")
		al := createAudienceList(ns, "dropped", app, "ids")

		done := eventuallyInSync(al, driftTimeout)
		Expect(s.listsNamed(app, "dropped")).To(HaveLen(1))
		creates := s.uploadsTo(sim.EndpointAudienceCreate, app)
		Expect(creates).NotTo(BeEmpty())
		Expect(creates[0].Dropped).To(BeTrue())
		// The create that was lost did make the list, and A6 finds it long
		// before UnknownCreateWait: nothing is created again.
		Expect(creates).To(HaveLen(1))
		Expect(done.Status.AudienceListID).To(Equal(strconv.FormatInt(creates[0].AudienceListID, 10)))
		Expect(s.mustRemoteList(app, done.Status.AudienceListID).Members).To(Equal([]string{"c1", "c2"}))
		Expect(done.Status.Intent).To(BeNil())
		Consistently(func() []sim.AudienceList { return s.listsNamed(app, "dropped") }).
			WithTimeout(3 * time.Second).WithPolling(200 * time.Millisecond).Should(HaveLen(1))
	})

	It("brings 100 lists of one app about on a compressed audience budget without a single 429", func() {
		const n = 100
		s := newAudienceSim(sim.Limits{AudienceCalls: 60, AudienceCallWindow: 3 * time.Second})
		ns := readyAudienceAccount(s)
		app := newAppID()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ids"}, Data: map[string]string{}}
		for i := range n {
			cm.Data[fmt.Sprintf("ids-%03d", i)] = jsonlOf(fmt.Sprintf("c%03d", i), "shared")
		}
		Expect(k8sClient.Create(ctx, cm)).To(Succeed())
		for i := range n {
			createAudienceList(ns, fmt.Sprintf("list-%03d", i), app, "ids", func(al *importsv1alpha1.AudienceList) {
				al.Spec.Source.ConfigMapRef.Key = fmt.Sprintf("ids-%03d", i)
			})
		}

		var lists importsv1alpha1.AudienceListList
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.List(ctx, &lists, client.InNamespace(ns))).To(Succeed())
			inSync := 0
			for _, al := range lists.Items {
				if c := meta.FindStatusCondition(al.Status.Conditions, importsv1alpha1.ConditionReady); c != nil &&
					c.Status == metav1.ConditionTrue && c.Reason == controllers.ReasonInSync && al.Status.AudienceListID != "" {
					inSync++
				}
			}
			g.Expect(inSync).To(Equal(n), "%d of %d lists in sync; %d 429s so far", inSync, n, len(s.Throttled()))
		}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())

		Expect(s.Throttled()).To(BeEmpty())
		remote := s.AudienceLists(app)
		Expect(remote).To(HaveLen(n))
		byID := map[string]sim.AudienceList{}
		for _, l := range remote {
			byID[idOf(l)] = l
		}
		for _, al := range lists.Items {
			l, ok := byID[al.Status.AudienceListID]
			Expect(ok).To(BeTrue(), "%s: no list %s in the simulator", al.Name, al.Status.AudienceListID)
			Expect(l.Name).To(Equal(al.Spec.AudienceName))
			Expect(l.Members).To(Equal([]string{"c" + strings.TrimPrefix(al.Name, "list-"), "shared"}))
			delete(byID, al.Status.AudienceListID)
		}
		Expect(byID).To(BeEmpty(), "every list is some AudienceList's, once")
		Expect(s.uploadsTo(sim.EndpointAudienceCreate, app)).To(HaveLen(n))
	})
})
