package v1alpha1_test

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// invalidCase is an object the API server must refuse. When before is set, it
// is created first and manifest is an update of it, for the rules that guard
// fields which cannot change once set.
type invalidCase struct {
	before   string
	manifest string
	want     string
}

func manifest(kind, spec string) string {
	return fmt.Sprintf("apiVersion: imports.localytics.dev/v1alpha1\nkind: %s\nmetadata:\n  name: subject\nspec: %s\n", kind, spec)
}

func account(spec string) string       { return manifest("LocalyticsAccount", spec) }
func profileImport(spec string) string { return manifest("ProfileImport", spec) }
func audienceList(spec string) string  { return manifest("AudienceList", spec) }

const (
	cmSource  = `{configMapRef: {name: profiles, key: profiles.jsonl}}`
	cmSource2 = `{configMapRef: {name: profiles-v2, key: profiles.jsonl}}`
)

var invalidObjects = map[string]invalidCase{
	"an account without secretRef": {
		manifest: account(`{endpoint: "https://api.localytics.com"}`),
		want:     "spec.secretRef: Required value",
	},
	"an account whose secretRef has an empty name": {
		manifest: account(`{secretRef: {name: ""}}`),
		want:     "spec.secretRef.name in body should be at least 1 chars long",
	},
	"an endpoint that is not a URL": {
		manifest: account(`{secretRef: {name: creds}, endpoint: api.localytics.com}`),
		want:     "endpoint must be an http:// or https:// URL",
	},
	"an endpoint with an ftp scheme": {
		manifest: account(`{secretRef: {name: creds}, endpoint: "ftp://api.localytics.com"}`),
		want:     "endpoint must be an http:// or https:// URL",
	},
	"an upload budget of zero": {
		manifest: account(`{secretRef: {name: creds}, limits: {profileUploads: {count: 0, window: 1h}}}`),
		want:     "spec.limits.profileUploads.count in body should be greater than or equal to 1",
	},
	"a window of zero": {
		manifest: account(`{secretRef: {name: creds}, limits: {profileUploads: {count: 10, window: 0s}}}`),
		want:     "window must be a positive duration",
	},
	"a window that is not a duration": {
		manifest: account(`{secretRef: {name: creds}, limits: {profileStatus: {count: 60, window: soon}}}`),
		want:     "spec.limits.profileStatus.window in body should match",
	},
	"a budget without a window": {
		manifest: account(`{secretRef: {name: creds}, limits: {audienceCalls: {count: 5}}}`),
		want:     "spec.limits.audienceCalls.window: Required value",
	},
	"a cap of zero audience lists": {
		manifest: account(`{secretRef: {name: creds}, limits: {audienceListsPerApp: 0}}`),
		want:     "spec.limits.audienceListsPerApp in body should be greater than or equal to 1",
	},
	"a profile import with both orgID and appID": {
		manifest: profileImport(`{accountRef: {name: acme}, orgID: 60, appID: app1, source: ` + cmSource + `}`),
		want:     "exactly one of orgID or appID must be set",
	},
	"a profile import with neither orgID nor appID": {
		manifest: profileImport(`{accountRef: {name: acme}, source: ` + cmSource + `}`),
		want:     "exactly one of orgID or appID must be set",
	},
	"a profile import without accountRef": {
		manifest: profileImport(`{orgID: 60, source: ` + cmSource + `}`),
		want:     "spec.accountRef: Required value",
	},
	"an orgID of zero": {
		manifest: profileImport(`{accountRef: {name: acme}, orgID: 0, source: ` + cmSource + `}`),
		want:     "spec.orgID in body should be greater than or equal to 1",
	},
	"an appID with a slash": {
		manifest: profileImport(`{accountRef: {name: acme}, appID: "app/../1", source: ` + cmSource + `}`),
		want:     "spec.appID in body should match",
	},
	"an unknown profile format": {
		manifest: profileImport(`{accountRef: {name: acme}, orgID: 60, format: xml, source: ` + cmSource + `}`),
		want:     `spec.format: Unsupported value: "xml": supported values: "json", "csv"`,
	},
	"an unknown validation mode": {
		manifest: profileImport(`{accountRef: {name: acme}, orgID: 60, validation: Lenient, source: ` + cmSource + `}`),
		want:     `spec.validation: Unsupported value: "Lenient": supported values: "Strict", "SkipInvalid"`,
	},
	"a source with both a ConfigMap and an object store": {
		manifest: profileImport(`{accountRef: {name: acme}, orgID: 60, source: {configMapRef: {name: p, key: k}, objectStore: {url: "s3://bucket/p.json"}}}`),
		want:     "exactly one of configMapRef or objectStore must be set",
	},
	"an empty source": {
		manifest: profileImport(`{accountRef: {name: acme}, orgID: 60, source: {}}`),
		want:     "exactly one of configMapRef or objectStore must be set",
	},
	"a ConfigMap source without a key": {
		manifest: profileImport(`{accountRef: {name: acme}, orgID: 60, source: {configMapRef: {name: profiles}}}`),
		want:     "spec.source.configMapRef.key: Required value",
	},
	"an object store URL over http": {
		manifest: profileImport(`{accountRef: {name: acme}, orgID: 60, source: {objectStore: {url: "http://bucket/p.json"}}}`),
		want:     "url must be an s3://, gs:// or azblob:// URL",
	},
	"a changed orgID": {
		before:   profileImport(`{accountRef: {name: acme}, orgID: 60, source: ` + cmSource + `}`),
		manifest: profileImport(`{accountRef: {name: acme}, orgID: 61, source: ` + cmSource + `}`),
		want:     "the scope (orgID or appID) cannot change once set",
	},
	"an orgID scope changed to an appID scope": {
		before:   profileImport(`{accountRef: {name: acme}, orgID: 60, source: ` + cmSource + `}`),
		manifest: profileImport(`{accountRef: {name: acme}, appID: app1, source: ` + cmSource + `}`),
		want:     "the scope (orgID or appID) cannot change once set",
	},
	"a changed appID scope": {
		before:   profileImport(`{accountRef: {name: acme}, appID: app1, source: ` + cmSource + `}`),
		manifest: profileImport(`{accountRef: {name: acme}, appID: app2, source: ` + cmSource + `}`),
		want:     "the scope (orgID or appID) cannot change once set",
	},
	"a changed source": {
		before:   profileImport(`{accountRef: {name: acme}, orgID: 60, source: ` + cmSource + `}`),
		manifest: profileImport(`{accountRef: {name: acme}, orgID: 60, source: ` + cmSource2 + `}`),
		want:     "source cannot change once set",
	},
	"a changed format": {
		before:   profileImport(`{accountRef: {name: acme}, orgID: 60, format: json, source: ` + cmSource + `}`),
		manifest: profileImport(`{accountRef: {name: acme}, orgID: 60, format: csv, source: ` + cmSource + `}`),
		want:     "format cannot change once set",
	},
	"an audience list without appID": {
		manifest: audienceList(`{accountRef: {name: acme}, audienceName: VIPs, source: ` + cmSource + `}`),
		want:     "spec.appID: Required value",
	},
	"an empty audienceName": {
		manifest: audienceList(`{accountRef: {name: acme}, appID: app1, audienceName: "", source: ` + cmSource + `}`),
		want:     "spec.audienceName in body should be at least 1 chars long",
	},
	"a blank audienceName": {
		manifest: audienceList(`{accountRef: {name: acme}, appID: app1, audienceName: "   ", source: ` + cmSource + `}`),
		want:     "audienceName must not be blank",
	},
	"an audienceName of 256 characters": {
		manifest: audienceList(`{accountRef: {name: acme}, appID: app1, audienceName: ` + strings.Repeat("a", 256) + `, source: ` + cmSource + `}`),
		want:     "spec.audienceName: Too long: may not be more than 255",
	},
	"an unknown audience source format": {
		manifest: audienceList(`{accountRef: {name: acme}, appID: app1, audienceName: VIPs, sourceFormat: csv, source: ` + cmSource + `}`),
		want:     `spec.sourceFormat: Unsupported value: "csv": supported values: "jsonl", "lines"`,
	},
	"an unknown deletion policy": {
		manifest: audienceList(`{accountRef: {name: acme}, appID: app1, audienceName: VIPs, deletionPolicy: Retain, source: ` + cmSource + `}`),
		want:     `spec.deletionPolicy: Unsupported value: "Retain": supported values: "Delete", "Orphan"`,
	},
	"a changed appID": {
		before:   audienceList(`{accountRef: {name: acme}, appID: app1, audienceName: VIPs, source: ` + cmSource + `}`),
		manifest: audienceList(`{accountRef: {name: acme}, appID: app2, audienceName: VIPs, source: ` + cmSource + `}`),
		want:     "appID cannot change once set",
	},
	"a changed audienceListID": {
		before:   audienceList(`{accountRef: {name: acme}, appID: app1, audienceName: VIPs, audienceListID: list-1, source: ` + cmSource + `}`),
		manifest: audienceList(`{accountRef: {name: acme}, appID: app1, audienceName: VIPs, audienceListID: list-2, source: ` + cmSource + `}`),
		want:     "audienceListID cannot change or be removed once set",
	},
}

func decode(doc string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	ExpectWithOffset(1, yaml.Unmarshal([]byte(doc), &obj.Object)).To(Succeed())
	return obj
}

// newNamespace gives each case a namespace of its own, so cases cannot see
// each other's objects.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "api-"}}
	ExpectWithOffset(1, k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

var _ = Describe("Invalid objects", func() {
	It("has a table of at least 20 cases", func() {
		Expect(len(invalidObjects)).To(BeNumerically(">=", 20))
	})

	for name, tc := range invalidObjects {
		It("refuses "+name, func() {
			ns := newNamespace()
			obj := decode(tc.manifest)
			obj.SetNamespace(ns)
			if tc.before != "" {
				before := decode(tc.before)
				before.SetNamespace(ns)
				Expect(k8sClient.Create(ctx, before)).To(Succeed(), "the object before the change must be valid")
				obj.SetResourceVersion(before.GetResourceVersion())
				err := k8sClient.Update(ctx, obj)
				Expect(err).To(MatchError(ContainSubstring(tc.want)))
				return
			}
			err := k8sClient.Create(ctx, obj)
			Expect(err).To(MatchError(ContainSubstring(tc.want)))
		})
	}
})
