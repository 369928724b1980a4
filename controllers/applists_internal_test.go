package controllers

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// TestCountsAreBoundedByTheCRD: an account whose AudienceLists use more apps
// than status.audienceLists may hold shows the first ones, in the order of
// their ids, instead of a status the API server would refuse.
func TestCountsAreBoundedByTheCRD(t *testing.T) {
	g := NewWithT(t)
	lists := newAppLists()
	account := types.NamespacedName{Namespace: "ns", Name: "acme"}
	apps := importsv1alpha1.MaxAudienceListApps + 10
	for i := range apps {
		st := lists.state(appKey{account: account, app: fmt.Sprintf("app-%04d", apps-1-i)})
		st.fetched = true
		st.lists = []localytics.AudienceList{{ID: "1"}}
	}
	other := lists.state(appKey{account: types.NamespacedName{Namespace: "ns", Name: "other"}, app: "app-0000"})
	other.fetched = true

	counts := lists.counts(account)
	g.Expect(counts).To(HaveLen(importsv1alpha1.MaxAudienceListApps))
	g.Expect(counts[0]).To(Equal(importsv1alpha1.AppAudienceLists{AppID: "app-0000", Count: 1}))
	g.Expect(counts[len(counts)-1].AppID).To(Equal(fmt.Sprintf("app-%04d", importsv1alpha1.MaxAudienceListApps-1)))
}
