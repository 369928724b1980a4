package controllers_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// ---------------------------------------------------------------------------
// A simulator per spec, as for ProfileImports: its own API key, so that the
// audience budget, the calls and the lists of one spec are its own. The
// controller's drift checks of a spec's lists (one A6 per app every
// DriftInterval) would otherwise spend the budget of the suite's key for the
// specs that follow.
// ---------------------------------------------------------------------------

// audienceKey is the ConfigMap key an AudienceList reads by default.
const audienceKey = "ids"

// Durations of the reconciler as suite_test.go configures it.
const (
	driftInterval = 2 * time.Second
	// driftTimeout is how long a spec waits for the controller to notice a
	// change made outside it: a few drift intervals, generously.
	driftTimeout = 60 * time.Second
)

// relaxedAudienceLimits is the audience budget of the specs that are not
// about it: 600 calls a minute, which none of them comes near.
var relaxedAudienceLimits = sim.Limits{AudienceCalls: 600, AudienceCallWindow: time.Minute}

var appSeq atomic.Int64

// newAppID is an app id no other spec uses.
func newAppID() string {
	return fmt.Sprintf("app-%d", appSeq.Add(1))
}

type audienceSim struct {
	*sim.Server
	url, key, secret string
	limits           sim.Limits
}

// newAudienceSim starts a simulator whose one key may use every app, with
// fast jobs and the given audience budget (AudienceCalls and
// AudienceCallWindow; the other limits take the vendor's defaults).
func newAudienceSim(limits sim.Limits) *audienceSim {
	GinkgoHelper()
	n := simSeq.Add(1)
	s := &audienceSim{
		key:    fmt.Sprintf("al-key-%d", n),
		secret: fmt.Sprintf("al-secret-%d", n),
		limits: limits,
	}
	s.Server = sim.New(sim.Config{
		Accounts:   []sim.Account{{Key: s.key, Secret: s.secret, OrgIDs: []int64{simOrgID}, AppIDs: []string{"*"}}},
		Limits:     limits,
		PendingFor: 100 * time.Millisecond,
		RunningFor: 200 * time.Millisecond,
	})
	server := httptest.NewServer(s.Server)
	s.url = server.URL
	DeferCleanup(server.Close)
	DeferCleanup(s.Close)
	return s
}

// readyAudienceAccount creates a namespace with the Secret and the account
// (accountName) of the simulator, its audience budget the simulator's, waits
// until the account is Ready, and returns the namespace. mutate adjusts the
// account before it is created. When the spec ends, its AudienceLists are
// released (see releaseAudienceLists) before the simulator stops.
func readyAudienceAccount(s *audienceSim, mutate ...func(*importsv1alpha1.LocalyticsAccount)) string {
	GinkgoHelper()
	ns := newNamespace()
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretName},
		Data:       map[string][]byte{"api-key": []byte(s.key), "api-secret": []byte(s.secret)},
	})).To(Succeed())
	account := createAccount(ns, append([]func(*importsv1alpha1.LocalyticsAccount){func(a *importsv1alpha1.LocalyticsAccount) {
		a.Spec.Endpoint = s.url
		if s.limits.AudienceCalls > 0 {
			a.Spec.Limits.AudienceCalls = &importsv1alpha1.RateLimit{
				Count:  int32(s.limits.AudienceCalls),
				Window: metav1.Duration{Duration: s.limits.AudienceCallWindow},
			}
		}
	}}, mutate...)...)
	eventuallyCondition(account, importsv1alpha1.ConditionReady, metav1.ConditionTrue, controllers.ReasonCredentialsVerified)
	DeferCleanup(releaseAudienceLists, ns)
	return ns
}

// releaseAudienceLists deletes the AudienceLists of a namespace with the
// Orphan policy, so that no list of a finished spec goes on checking for
// drift against a simulator that is gone. Lists the controller does not
// release in time have their finalizer removed: the specs of deletion test
// the controller, this is only tidying up.
func releaseAudienceLists(ns string) {
	var lists importsv1alpha1.AudienceListList
	if err := k8sClient.List(ctx, &lists, client.InNamespace(ns)); err != nil {
		fmt.Fprintf(GinkgoWriter, "releasing the AudienceLists of %s: %v\n", ns, err)
		return
	}
	for i := range lists.Items {
		al := &lists.Items[i]
		patch := client.MergeFrom(al.DeepCopy())
		al.Spec.DeletionPolicy = importsv1alpha1.DeletionPolicyOrphan
		_ = client.IgnoreNotFound(k8sClient.Patch(ctx, al, patch))
		_ = client.IgnoreNotFound(k8sClient.Delete(ctx, al))
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := k8sClient.List(ctx, &lists, client.InNamespace(ns)); err != nil || len(lists.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := range lists.Items {
		al := &lists.Items[i]
		fmt.Fprintf(GinkgoWriter, "AudienceList %s/%s not released with the Orphan policy in 15s: removing its finalizer\n", ns, al.Name)
		patch := client.MergeFrom(al.DeepCopy())
		controllerutil.RemoveFinalizer(al, importsv1alpha1.AudienceListFinalizer)
		_ = client.IgnoreNotFound(k8sClient.Patch(ctx, al, patch))
	}
}

// jsonlOf is an audience file in the vendor format.
func jsonlOf(ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "{\"customer_id\":%q}\n", id)
	}
	return b.String()
}

// audienceConfigMap creates ConfigMap "ids" with the JSON Lines file of ids
// under audienceKey.
func audienceConfigMap(ns string, ids ...string) {
	GinkgoHelper()
	createFileConfigMap(ns, "ids", audienceKey, jsonlOf(ids...))
}

// setAudienceConfigMap replaces the file of ConfigMap name with the JSON
// Lines file of ids.
func setAudienceConfigMap(ns, name string, ids ...string) {
	GinkgoHelper()
	cm := &corev1.ConfigMap{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm)).To(Succeed())
	patch := client.MergeFrom(cm.DeepCopy())
	cm.Data[audienceKey] = jsonlOf(ids...)
	Expect(k8sClient.Patch(ctx, cm, patch)).To(Succeed())
}

// newAudienceList is an AudienceList of the account accountName in app,
// named like the object, reading the jsonl file under audienceKey of
// ConfigMap cm; mutate adjusts it.
func newAudienceList(ns, name, app, cm string, mutate ...func(*importsv1alpha1.AudienceList)) *importsv1alpha1.AudienceList {
	al := &importsv1alpha1.AudienceList{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: importsv1alpha1.AudienceListSpec{
			AccountRef:   importsv1alpha1.LocalObjectReference{Name: accountName},
			AppID:        app,
			AudienceName: name,
			Source: importsv1alpha1.Source{ConfigMapRef: &importsv1alpha1.ConfigMapKeyReference{
				Name: cm, Key: audienceKey,
			}},
			SourceFormat: importsv1alpha1.AudienceFormatJSONL,
		},
	}
	for _, m := range mutate {
		m(al)
	}
	return al
}

// createAudienceList creates an AudienceList as newAudienceList builds it.
func createAudienceList(ns, name, app, cm string, mutate ...func(*importsv1alpha1.AudienceList)) *importsv1alpha1.AudienceList {
	GinkgoHelper()
	al := newAudienceList(ns, name, app, cm, mutate...)
	Expect(k8sClient.Create(ctx, al)).To(Succeed())
	return al
}

func getAudienceList(al *importsv1alpha1.AudienceList) *importsv1alpha1.AudienceList {
	GinkgoHelper()
	fresh := &importsv1alpha1.AudienceList{}
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(al), fresh)).To(Succeed())
	return fresh
}

// eventuallyInSync waits until the AudienceList is Ready (InSync) for its
// current generation with a list id, and returns it.
func eventuallyInSync(al *importsv1alpha1.AudienceList, timeout ...time.Duration) *importsv1alpha1.AudienceList {
	GinkgoHelper()
	wait := 30 * time.Second
	if len(timeout) > 0 {
		wait = timeout[0]
	}
	var fresh importsv1alpha1.AudienceList
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(al), &fresh)).To(Succeed())
		c := meta.FindStatusCondition(fresh.Status.Conditions, importsv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil(), "no Ready condition yet")
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "%s: %s", c.Reason, c.Message)
		g.Expect(c.Reason).To(Equal(controllers.ReasonInSync), c.Message)
		g.Expect(fresh.Status.ObservedGeneration).To(Equal(fresh.Generation))
		g.Expect(fresh.Status.AudienceListID).NotTo(BeEmpty())
	}).WithTimeout(wait).WithPolling(100 * time.Millisecond).Should(Succeed())
	return &fresh
}

// eventuallyGone waits until the object is deleted, its finalizers removed.
func eventuallyGone(obj client.Object) {
	GinkgoHelper()
	Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object))
	}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Satisfy(apierrors.IsNotFound))
}

// remoteList is the simulator's list of app with the decimal id; ok is
// false when there is none.
func (s *audienceSim) remoteList(app, id string) (sim.AudienceList, bool) {
	for _, l := range s.AudienceLists(app) {
		if strconv.FormatInt(l.ID, 10) == id {
			return l, true
		}
	}
	return sim.AudienceList{}, false
}

// mustRemoteList is remoteList for a list that must exist.
func (s *audienceSim) mustRemoteList(app, id string) sim.AudienceList {
	GinkgoHelper()
	l, ok := s.remoteList(app, id)
	Expect(ok).To(BeTrue(), "the simulator has no list %s in app %s: %v", id, app, s.AudienceLists(app))
	return l
}

// listsNamed are the simulator's lists of app with the name.
func (s *audienceSim) listsNamed(app, name string) []sim.AudienceList {
	return slices.DeleteFunc(s.AudienceLists(app), func(l sim.AudienceList) bool { return l.Name != name })
}

// callsTo are the calls to the endpoint naming app, made since (inclusive).
func (s *audienceSim) callsTo(ep sim.Endpoint, app string, since time.Time) []sim.CallRecord {
	return slices.DeleteFunc(s.Calls(), func(c sim.CallRecord) bool {
		return c.Endpoint != ep || c.AppID != app || c.Time.Before(since)
	})
}

// a6Calls counts the list-by-app calls (A6) of app since the time.
func (s *audienceSim) a6Calls(app string, since time.Time) int {
	return len(s.callsTo(sim.EndpointAudienceByApp, app, since))
}

// audienceCalls are every audience call (A1–A6) the simulator received,
// whatever app they name (A2 names none).
func (s *audienceSim) audienceCalls() []sim.CallRecord {
	return slices.DeleteFunc(s.Calls(), func(c sim.CallRecord) bool { return !strings.HasPrefix(string(c.Endpoint), "A") })
}

// uploadsTo are the accepted uploads of an endpoint (A1 or A3) to app.
func (s *audienceSim) uploadsTo(ep sim.Endpoint, app string) []sim.UploadRecord {
	return slices.DeleteFunc(s.Uploads(), func(u sim.UploadRecord) bool {
		return u.Endpoint != ep || u.Scope.AppID != app
	})
}

// idOf is a simulator list id as the status writes it.
func idOf(l sim.AudienceList) string { return strconv.FormatInt(l.ID, 10) }
