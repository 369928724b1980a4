package controllers_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// managerPermissions is every permission the manager's ClusterRole may grant,
// as "group/resource": verbs, and why the controllers need it. A new call
// (an Update where a Patch was, a finalizer on another kind, a write to a
// ConfigMap) needs a line here, in the same change as its marker in rbac.go.
var managerPermissions = map[string][]string{
	// Read and watched by every controller; an account's metadata is never
	// written (no finalizer, no annotation).
	"imports.localytics.dev/localyticsaccounts": {"get", "list", "watch"},
	// Their metadata is patched: the retry annotation of a ProfileImport,
	// removed once honoured, and the finalizer of an AudienceList.
	"imports.localytics.dev/profileimports": {"get", "list", "watch", "patch"},
	"imports.localytics.dev/audiencelists":  {"get", "list", "watch", "patch"},
	// Status is patched.
	"imports.localytics.dev/localyticsaccounts/status": {"patch"},
	"imports.localytics.dev/profileimports/status":     {"patch"},
	"imports.localytics.dev/audiencelists/status":      {"patch"},
	// The upload ledger of a key is created at its first upload and written
	// with updates of its status, whose resourceVersion serialises the
	// reservers; never deleted.
	"imports.localytics.dev/uploadledgers":        {"get", "list", "watch", "create"},
	"imports.localytics.dev/uploadledgers/status": {"update"},
	// Only AudienceLists have a finalizer.
	"imports.localytics.dev/audiencelists/finalizers": {"update"},
	// Only read: import files and credentials.
	"/configmaps": {"get", "list", "watch"},
	"/secrets":    {"get", "list", "watch"},
	// Events, in either API group.
	"/events":              {"create", "patch"},
	"events.k8s.io/events": {"create", "patch"},
}

// TestManagerRole fails when the generated config/rbac/role.yaml grants a
// permission that managerPermissions does not list, or lacks one it lists:
// run `make manifests` after changing the markers in rbac.go.
func TestManagerRole(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	if role.Kind != "ClusterRole" || role.Name != "manager-role" {
		t.Fatalf("config/rbac/role.yaml holds %s %q, want the ClusterRole manager-role", role.Kind, role.Name)
	}
	if role.AggregationRule != nil {
		t.Error("the manager's role must not aggregate other roles")
	}

	granted := map[string]bool{}
	for i, rule := range role.Rules {
		if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 {
			t.Errorf("rule %d: resourceNames and nonResourceURLs are not expected: %+v", i, rule)
		}
		for _, group := range rule.APIGroups {
			for _, resource := range rule.Resources {
				for _, verb := range rule.Verbs {
					if group == "*" || resource == "*" || verb == "*" || strings.Contains(resource, "*") {
						t.Errorf("rule %d grants a wildcard: %+v", i, rule)
					}
					granted[group+"/"+resource+" "+verb] = true
				}
			}
		}
	}
	expected := map[string]bool{}
	for resource, verbs := range managerPermissions {
		for _, verb := range verbs {
			expected[resource+" "+verb] = true
		}
	}

	var extra, missing []string
	for p := range granted {
		if !expected[p] {
			extra = append(extra, p)
		}
	}
	for p := range expected {
		if !granted[p] {
			missing = append(missing, p)
		}
	}
	slices.Sort(extra)
	slices.Sort(missing)
	if len(extra) > 0 {
		t.Errorf("the manager's role grants more than the controllers use:\n  %s", strings.Join(extra, "\n  "))
	}
	if len(missing) > 0 {
		t.Errorf("the manager's role lacks what the controllers use:\n  %s", strings.Join(missing, "\n  "))
	}
}
