package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/importfile"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// The bounds of what the remote side or time puts in an object. Each bound
// has one home, a Go constant, that the generated CRD must repeat; the API
// server then refuses a status write over it.

// crdSchema returns the OpenAPI schema of the generated CRD of resource at
// the path of properties (an array's items are walked through with "[]").
func crdSchema(resource string, path ...string) map[string]any {
	file := filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "imports.localytics.dev_"+resource+".yaml")
	data, err := os.ReadFile(file)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var crd map[string]any
	ExpectWithOffset(1, yaml.Unmarshal(data, &crd)).To(Succeed())
	versions := crd["spec"].(map[string]any)["versions"].([]any)
	schema := versions[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)
	for _, p := range path {
		if p == "[]" {
			schema = schema["items"].(map[string]any)
			continue
		}
		props, ok := schema["properties"].(map[string]any)
		ExpectWithOffset(1, ok).To(BeTrue(), "%s: no properties above %q", resource, p)
		schema, ok = props[p].(map[string]any)
		ExpectWithOffset(1, ok).To(BeTrue(), "%s: no property %q", resource, p)
	}
	return schema
}

// bound reads an integer bound (maxLength, maxItems, maximum) of a schema.
func bound(schema map[string]any, name string) int64 {
	v, ok := schema[name]
	ExpectWithOffset(1, ok).To(BeTrue(), "the schema has no %s", name)
	// sigs.k8s.io/yaml decodes numbers as float64.
	return int64(v.(float64))
}

var _ = Describe("Limits", func() {
	Describe("the generated CRDs repeat the Go constants", func() {
		It("bounds activity ids as the client does", func() {
			for _, at := range []struct {
				resource string
				path     []string
			}{
				{"profileimports", []string{"status", "activityID"}},
				{"audiencelists", []string{"status", "lastActivityID"}},
				{"audiencelists", []string{"status", "intent", "activityID"}},
			} {
				schema := crdSchema(at.resource, at.path...)
				Expect(bound(schema, "maxLength")).To(BeEquivalentTo(localytics.MaxActivityIDLength), "%v", at)
				Expect(schema["pattern"]).To(Equal(localytics.ActivityIDPattern), "%v", at)
			}
		})

		It("bounds the error log URL and the audience list ids as the client does", func() {
			Expect(bound(crdSchema("profileimports", "status", "errorLogURL"), "maxLength")).To(BeEquivalentTo(localytics.MaxErrorLogURLLength))
			Expect(bound(crdSchema("audiencelists", "status", "audienceListID"), "maxLength")).To(BeEquivalentTo(localytics.MaxAudienceListIDLength))
			Expect(bound(crdSchema("audiencelists", "spec", "audienceListID"), "maxLength")).To(BeEquivalentTo(localytics.MaxAudienceListIDLength))
		})

		It("keeps as many validation errors as the validator reports", func() {
			for _, resource := range []string{"profileimports", "audiencelists"} {
				Expect(bound(crdSchema(resource, "status", "validation", "errors"), "maxItems")).
					To(BeEquivalentTo(importfile.MaxReportedErrors), resource)
			}
		})

		It("sizes the upload ledger from the largest upload budget", func() {
			Expect(bound(crdSchema("localyticsaccounts", "status", "uploadLedger"), "maxItems")).
				To(BeEquivalentTo(importsv1alpha1.MaxProfileUploadsPerWindow))
			rules := crdSchema("localyticsaccounts", "spec", "limits", "profileUploads")["x-kubernetes-validations"].([]any)
			Expect(rules).To(ContainElement(HaveKeyWithValue("rule", fmt.Sprintf("self.count <= %d", importsv1alpha1.MaxProfileUploadsPerWindow))))
			for _, budget := range []string{"profileUploads", "profileStatus", "audienceCalls"} {
				Expect(bound(crdSchema("localyticsaccounts", "spec", "limits", budget, "count"), "maximum")).
					To(BeEquivalentTo(importsv1alpha1.MaxRateLimitCount), budget)
			}
			Expect(bound(crdSchema("localyticsaccounts", "status", "audienceLists"), "maxItems")).
				To(BeEquivalentTo(importsv1alpha1.MaxAudienceListApps))
		})
	})

	Describe("status writes", func() {
		var ns string
		BeforeEach(func() { ns = newNamespace() })

		newImport := func(name string) *importsv1alpha1.ProfileImport {
			pi := &importsv1alpha1.ProfileImport{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: importsv1alpha1.ProfileImportSpec{
					AccountRef: importsv1alpha1.LocalObjectReference{Name: "acme"},
					OrgID:      ptr.To[int64](60),
					Source:     importsv1alpha1.Source{ConfigMapRef: &importsv1alpha1.ConfigMapKeyReference{Name: "profiles", Key: "profiles.jsonl"}},
				},
			}
			ExpectWithOffset(1, k8sClient.Create(ctx, pi)).To(Succeed())
			return pi
		}
		newList := func(name string) *importsv1alpha1.AudienceList {
			al := &importsv1alpha1.AudienceList{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: importsv1alpha1.AudienceListSpec{
					AccountRef:   importsv1alpha1.LocalObjectReference{Name: "acme"},
					AppID:        "app1",
					AudienceName: "VIPs",
					Source:       importsv1alpha1.Source{ConfigMapRef: &importsv1alpha1.ConfigMapKeyReference{Name: "vips", Key: "vips.jsonl"}},
				},
			}
			ExpectWithOffset(1, k8sClient.Create(ctx, al)).To(Succeed())
			return al
		}
		newAccount := func(name string) *importsv1alpha1.LocalyticsAccount {
			account := &importsv1alpha1.LocalyticsAccount{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec:       importsv1alpha1.LocalyticsAccountSpec{SecretRef: importsv1alpha1.LocalObjectReference{Name: "creds"}},
			}
			ExpectWithOffset(1, k8sClient.Create(ctx, account)).To(Succeed())
			return account
		}
		// writeStatus writes the status of a fresh copy of obj as change
		// makes it.
		writeStatus := func(obj client.Object, change func()) error {
			GinkgoHelper()
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			change()
			return k8sClient.Status().Update(ctx, obj)
		}

		It("refuses an activity id over the limit or oddly made, and takes the longest allowed", func() {
			pi := newImport("pi")
			longest := strings.Repeat("a", localytics.MaxActivityIDLength)
			Expect(writeStatus(pi, func() { pi.Status.ActivityID = longest + "b" })).
				To(MatchError(And(ContainSubstring("status.activityID"), ContainSubstring("Too long"))))
			Expect(writeStatus(pi, func() { pi.Status.ActivityID = "../31245" })).
				To(MatchError(And(ContainSubstring("status.activityID"), ContainSubstring("should match"))))
			Expect(writeStatus(pi, func() { pi.Status.ActivityID = "3b4a65e5 2beb" })).
				To(MatchError(ContainSubstring("status.activityID")))
			Expect(writeStatus(pi, func() { pi.Status.ActivityID = longest })).To(Succeed())

			al := newList("al")
			Expect(writeStatus(al, func() { al.Status.LastActivityID = longest + "b" })).
				To(MatchError(And(ContainSubstring("status.lastActivityID"), ContainSubstring("Too long"))))
			Expect(writeStatus(al, func() {
				al.Status.Intent = &importsv1alpha1.AudienceListIntent{
					Operation: importsv1alpha1.OperationCreate, StartedAt: metav1.Now(), ActivityID: "<b>",
				}
			})).To(MatchError(ContainSubstring("status.intent.activityID")))
			Expect(writeStatus(al, func() { al.Status.LastActivityID = "123456" })).To(Succeed())
		})

		It("refuses an error log URL or an audience list id over the limit", func() {
			pi := newImport("pi")
			url := "https://logs.example.com/"
			url += strings.Repeat("a", localytics.MaxErrorLogURLLength-len(url))
			Expect(writeStatus(pi, func() { pi.Status.ErrorLogURL = url + "a" })).
				To(MatchError(And(ContainSubstring("status.errorLogURL"), ContainSubstring("Too long"))))
			Expect(writeStatus(pi, func() { pi.Status.ErrorLogURL = url })).To(Succeed())

			al := newList("al")
			id := strings.Repeat("1", localytics.MaxAudienceListIDLength)
			Expect(writeStatus(al, func() { al.Status.AudienceListID = id + "1" })).
				To(MatchError(And(ContainSubstring("status.audienceListID"), ContainSubstring("Too long"))))
			Expect(writeStatus(al, func() { al.Status.AudienceListID = id })).To(Succeed())
		})

		It("refuses more validation errors than the validator reports", func() {
			errs := func(n int) []importsv1alpha1.LineError {
				out := make([]importsv1alpha1.LineError, n)
				for i := range out {
					out[i] = importsv1alpha1.LineError{Line: int64(i + 1), Message: "missing \"customer_id\""}
				}
				return out
			}
			pi := newImport("pi")
			Expect(writeStatus(pi, func() {
				pi.Status.Validation = &importsv1alpha1.ValidationSummary{InvalidLines: 100, Errors: errs(importfile.MaxReportedErrors + 1)}
			})).To(MatchError(And(ContainSubstring("status.validation.errors"), ContainSubstring("Too many"))))
			Expect(writeStatus(pi, func() {
				pi.Status.Validation = &importsv1alpha1.ValidationSummary{InvalidLines: 100, Errors: errs(importfile.MaxReportedErrors)}
			})).To(Succeed())
		})

		It("refuses an upload ledger longer than the largest budget, and takes one as long", func() {
			ledger := func(n int) []importsv1alpha1.UploadReservation {
				start := time.Now().UTC().Truncate(time.Microsecond)
				out := make([]importsv1alpha1.UploadReservation, n)
				for i := range out {
					out[i] = importsv1alpha1.UploadReservation{
						Time:          metav1.NewMicroTime(start.Add(time.Duration(i) * time.Millisecond)),
						ProfileImport: fmt.Sprintf("%s/import-%d", ns, i),
						UID:           "3b4a65e5-2beb-4011-85df-c9f594217d90",
						ContentDigest: "sha256:" + strings.Repeat("0", 64),
					}
				}
				return out
			}
			account := newAccount("acme")
			Expect(writeStatus(account, func() { account.Status.UploadLedger = ledger(importsv1alpha1.MaxProfileUploadsPerWindow + 1) })).
				To(MatchError(And(ContainSubstring("status.uploadLedger"), ContainSubstring("Too many"))))
			Expect(writeStatus(account, func() { account.Status.UploadLedger = ledger(importsv1alpha1.MaxProfileUploadsPerWindow) })).
				To(Succeed())
			Expect(writeStatus(account, func() {
				account.Status.UploadLedger = ledger(1)
				account.Status.UploadLedger[0].ProfileImport = strings.Repeat("n", 318)
			})).To(MatchError(ContainSubstring("status.uploadLedger[0].profileImport")))
		})

		It("refuses counts of apps over the limit", func() {
			apps := func(n int) []importsv1alpha1.AppAudienceLists {
				out := make([]importsv1alpha1.AppAudienceLists, n)
				for i := range out {
					out[i] = importsv1alpha1.AppAudienceLists{AppID: fmt.Sprintf("app-%d", i), Count: 1}
				}
				return out
			}
			account := newAccount("acme")
			Expect(writeStatus(account, func() { account.Status.AudienceLists = apps(importsv1alpha1.MaxAudienceListApps + 1) })).
				To(MatchError(And(ContainSubstring("status.audienceLists"), ContainSubstring("Too many"))))
			Expect(writeStatus(account, func() { account.Status.AudienceLists = apps(importsv1alpha1.MaxAudienceListApps) })).To(Succeed())
		})
	})

	Describe("budgets", func() {
		var ns string
		BeforeEach(func() { ns = newNamespace() })

		create := func(limits importsv1alpha1.AccountLimits) error {
			return k8sClient.Create(ctx, &importsv1alpha1.LocalyticsAccount{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "acme-", Namespace: ns},
				Spec:       importsv1alpha1.LocalyticsAccountSpec{SecretRef: importsv1alpha1.LocalObjectReference{Name: "creds"}, Limits: limits},
			})
		}
		per := func(count int32) *importsv1alpha1.RateLimit {
			return &importsv1alpha1.RateLimit{Count: count, Window: metav1.Duration{Duration: time.Hour}}
		}

		It("refuses an upload budget larger than the ledger may hold", func() {
			Expect(create(importsv1alpha1.AccountLimits{ProfileUploads: per(importsv1alpha1.MaxProfileUploadsPerWindow + 1)})).
				To(MatchError(ContainSubstring("profileUploads.count may be at most 100")))
			Expect(create(importsv1alpha1.AccountLimits{ProfileUploads: per(importsv1alpha1.MaxProfileUploadsPerWindow)})).To(Succeed())
		})

		It("refuses any budget over the largest count", func() {
			Expect(create(importsv1alpha1.AccountLimits{ProfileStatus: per(importsv1alpha1.MaxRateLimitCount + 1)})).
				To(MatchError(ContainSubstring("spec.limits.profileStatus.count")))
			Expect(create(importsv1alpha1.AccountLimits{AudienceCalls: per(importsv1alpha1.MaxRateLimitCount + 1)})).
				To(MatchError(ContainSubstring("spec.limits.audienceCalls.count")))
			Expect(create(importsv1alpha1.AccountLimits{ProfileStatus: per(importsv1alpha1.MaxRateLimitCount)})).To(Succeed())
		})
	})
})
