// Package argocd_test generates and checks the Argo CD health checks of
// config/argocd. Their one source is health.lua.in, a text/template, with the
// per-kind waiting reasons of the checks table below; from them the test
// renders each <group>/<Kind>/health.lua (the layout of Argo CD's own
// resource_customizations) and argocd-cm-patch.yaml, and fails when a file on
// disk differs (rewrite them all with
// go test ./config/argocd -run TestConfigMapPatch -update). Each script runs,
// as Argo CD runs it, against the objects in its testdata/ and must answer
// what its health_test.yaml says.
package argocd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
)

var update = flag.Bool("update", false, "rewrite the health.lua files and argocd-cm-patch.yaml from health.lua.in")

const (
	templateFile = "health.lua.in"
	patchFile    = "argocd-cm-patch.yaml"
	regenerate   = "go test ./config/argocd -run TestConfigMapPatch -update"
)

// check is the part of a kind's health check that is the kind's own; the
// rest is health.lua.in.
type check struct {
	Kind string
	// Waiting are the reasons of a Reconciling condition the script reports
	// Suspended for: a wait for a budget that ends by itself. The
	// controllers' constants, so that a renamed reason fails here.
	Waiting []string
	// WaitingWhy are the lines of the comment over the waiting table.
	WaitingWhy []string
}

// checks are the kinds with a health check, in the order of the patch.
var checks = []check{
	{
		Kind:       "LocalyticsAccount",
		WaitingWhy: []string{"none for an account (a rate-limited credentials check is progressing)."},
	},
	{
		Kind:    "ProfileImport",
		Waiting: []string{controllers.ReasonQuotaExhausted, controllers.ReasonRateLimited},
		WaitingWhy: []string{
			"every profile upload slot of the account's window is taken, or the key's",
			"API budget is spent. The import moves on by itself when the window allows.",
		},
	},
	{
		Kind:    "AudienceList",
		Waiting: []string{controllers.ReasonListLimitReached, controllers.ReasonQuotaExhausted, controllers.ReasonRateLimited},
		WaitingWhy: []string{
			"the app holds as many lists as the account allows (the list is created when",
			"one is deleted) or the key's API budget is spent. QuotaExhausted (no profile",
			"upload slot) is a reason the controllers share; a list waiting on it waits too.",
		},
	},
}

// healthStatuses are the statuses Argo CD accepts from a health script.
var healthStatuses = []string{"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// healthTests is a health_test.yaml, in the layout of Argo CD's own
// resource_customizations.
type healthTests struct {
	Tests []struct {
		HealthStatus healthStatus `json:"healthStatus"`
		InputPath    string       `json:"inputPath"`
	} `json:"tests"`
}

func kindDir(kind string) string {
	return filepath.Join(importsv1alpha1.GroupVersion.Group, kind)
}

func scriptFile(kind string) string {
	return filepath.Join(kindDir(kind), "health.lua")
}

func configMapKey(kind string) string {
	return "resource.customizations.health." + importsv1alpha1.GroupVersion.Group + "_" + kind
}

// waitingTable is the Lua table of the reasons, as a set.
func waitingTable(reasons []string) string {
	if len(reasons) == 0 {
		return "{}"
	}
	fields := make([]string, 0, len(reasons))
	for _, r := range reasons {
		fields = append(fields, r+" = true")
	}
	return "{ " + strings.Join(fields, ", ") + " }"
}

// renderScript renders the health.lua of a kind from health.lua.in, under a
// header that says so.
func renderScript(t *testing.T, c check) string {
	t.Helper()
	tmpl, err := template.New(templateFile).Option("missingkey=error").ParseFiles(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("-- Code generated from config/argocd/" + templateFile + "; DO NOT EDIT.\n")
	b.WriteString("-- The waiting reasons are the checks table of config/argocd/health_test.go.\n")
	b.WriteString("-- Regenerate with: " + regenerate + "\n")
	b.WriteString("--\n")
	err = tmpl.Execute(&b, map[string]any{
		"Group":        importsv1alpha1.GroupVersion.Group,
		"Kind":         c.Kind,
		"ConfigMapKey": configMapKey(c.Kind),
		"WaitingWhy":   c.WaitingWhy,
		"Waiting":      waitingTable(c.Waiting),
	})
	if err != nil {
		t.Fatal(err)
	}
	script := b.String()
	if !strings.HasSuffix(script, "\n") || strings.HasSuffix(script, "\n\n") {
		t.Fatalf("%s of %s must end in exactly one newline", templateFile, c.Kind)
	}
	if strings.Contains(script, "\t") {
		t.Fatalf("%s of %s holds a tab; indent with spaces", templateFile, c.Kind)
	}
	return script
}

func TestHealth(t *testing.T) {
	for _, c := range checks {
		kind := c.Kind
		t.Run(kind, func(t *testing.T) {
			script := renderScript(t, c)
			raw, err := os.ReadFile(filepath.Join(kindDir(kind), "health_test.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var cases healthTests
			if err := yaml.UnmarshalStrict(raw, &cases); err != nil {
				t.Fatalf("health_test.yaml: %v", err)
			}
			if len(cases.Tests) == 0 {
				t.Fatal("health_test.yaml lists no tests")
			}
			used := map[string]bool{}
			for _, tc := range cases.Tests {
				used[filepath.Clean(tc.InputPath)] = true
				t.Run(strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml"), func(t *testing.T) {
					obj := readObject(t, filepath.Join(kindDir(kind), tc.InputPath))
					if got := fmt.Sprint(obj["apiVersion"], "/", obj["kind"]); got != importsv1alpha1.GroupVersion.String()+"/"+kind {
						t.Fatalf("%s is a %s, want a %s", tc.InputPath, got, kind)
					}
					got, err := runHealth(script, obj)
					if err != nil {
						t.Fatal(err)
					}
					if got != tc.HealthStatus {
						t.Errorf("health of %s:\n got %+v\nwant %+v", tc.InputPath, got, tc.HealthStatus)
					}
				})
			}
			fixtures, err := filepath.Glob(filepath.Join(kindDir(kind), "testdata", "*.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fixtures {
				rel, _ := filepath.Rel(kindDir(kind), f)
				if !used[rel] {
					t.Errorf("%s is in no test of health_test.yaml", f)
				}
			}
		})
	}
}

// luaName is a Lua name, which a key of a table constructor must be.
var luaName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// TestWaitingReasons checks the waiting reasons of the checks table (which
// are the controllers' constants) make a Lua set, and that health.lua.in
// puts them in the script's waiting table.
func TestWaitingReasons(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(importsv1alpha1.GroupVersion.Group, "*", "health_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != len(checks) {
		t.Errorf("%d kinds have a health_test.yaml, the checks table lists %d", len(dirs), len(checks))
	}
	seen := map[string]bool{}
	for _, c := range checks {
		if seen[c.Kind] {
			t.Errorf("the checks table lists %s twice", c.Kind)
		}
		seen[c.Kind] = true
		for i, r := range c.Waiting {
			if !luaName.MatchString(r) {
				t.Errorf("%s: the waiting reason %q is no Lua name", c.Kind, r)
			}
			if slices.Contains(c.Waiting[:i], r) {
				t.Errorf("%s: the waiting reason %q is listed twice", c.Kind, r)
			}
		}
		line := "local waiting = " + waitingTable(c.Waiting)
		if !slices.Contains(strings.Split(renderScript(t, c), "\n"), line) {
			t.Errorf("%s renders no line %q for %s", templateFile, line, c.Kind)
		}
	}
}

// TestConfigMapPatch checks every file generated from health.lua.in (the
// health.lua of each kind and argocd-cm-patch.yaml) against what it renders,
// and rewrites them all with -update.
func TestConfigMapPatch(t *testing.T) {
	scripts := map[string]string{}
	for _, c := range checks {
		scripts[c.Kind] = renderScript(t, c)
	}
	patch := renderPatch(scripts)
	type generated struct {
		path string
		want []byte
	}
	files := []generated{}
	for _, c := range checks {
		files = append(files, generated{scriptFile(c.Kind), []byte(scripts[c.Kind])})
	}
	files = append(files, generated{patchFile, patch})
	for _, f := range files {
		if *update {
			if err := os.WriteFile(f.path, f.want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("%s is out of date with %s; run %s", f.path, templateFile, regenerate)
		}
	}
	// The rendered YAML must read back as the scripts themselves.
	var cm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]string `json:"metadata"`
		Data       map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict(patch, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata["name"] != "argocd-cm" {
		t.Errorf("%s patches %s %s %q, want the v1 ConfigMap argocd-cm", patchFile, cm.APIVersion, cm.Kind, cm.Metadata["name"])
	}
	if len(cm.Data) != len(checks) {
		t.Errorf("%s holds %d keys, want %d", patchFile, len(cm.Data), len(checks))
	}
	for _, c := range checks {
		if cm.Data[configMapKey(c.Kind)] != scripts[c.Kind] {
			t.Errorf("%s: %s does not read back as %s", patchFile, configMapKey(c.Kind), scriptFile(c.Kind))
		}
	}
}

// renderPatch writes the argocd-cm patch: each script, by kind, as a literal
// block, in the order of the checks table.
func renderPatch(scripts map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString("# Generated from config/argocd/" + templateFile + " (the same scripts as\n")
	b.WriteString("# config/argocd/" + importsv1alpha1.GroupVersion.Group + "/<Kind>/health.lua); do not edit.\n")
	b.WriteString("# Rewrite it with: " + regenerate + "\n")
	b.WriteString("#\n# A patch of Argo CD's argocd-cm ConfigMap with the health checks of the\n")
	b.WriteString("# operator's kinds (for example in the kustomization that installs Argo CD).\n")
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\ndata:\n")
	for _, c := range checks {
		b.WriteString("  " + configMapKey(c.Kind) + ": |\n")
		for line := range strings.Lines(scripts[c.Kind]) {
			if line == "\n" {
				b.WriteString(line)
				continue
			}
			b.WriteString("    " + line)
		}
	}
	return b.Bytes()
}

// readObject reads a YAML object as Argo CD holds it: decoded from JSON.
func readObject(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj
}

// runHealth runs a health script as Argo CD runs one from argocd-cm: only
// the package, base and table libraries, a one-second limit, the object in
// the global obj, and a table with status and message returned.
func runHealth(script string, obj map[string]any) (healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return healthStatus{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return healthStatus{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return healthStatus{}, fmt.Errorf("the script returned a %s, want a table", l.Get(-1).Type())
	}
	var hs healthStatus
	var bad error
	ret.ForEach(func(k, v lua.LValue) {
		s, isString := v.(lua.LString)
		switch {
		case !isString:
			bad = fmt.Errorf("the script returned %s = %s, want a string", k, v.Type())
		case k.String() == "status":
			hs.Status = string(s)
		case k.String() == "message":
			hs.Message = string(s)
		default:
			bad = fmt.Errorf("the script returned a key %s Argo CD ignores", k)
		}
	})
	if bad != nil {
		return hs, bad
	}
	if !slices.Contains(healthStatuses, hs.Status) {
		return hs, fmt.Errorf("the script returned the status %q, which Argo CD turns into Unknown", hs.Status)
	}
	return hs, nil
}

// toLua converts a value decoded from JSON into Lua, as Argo CD does.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetString(k, toLua(l, item))
		}
		return t
	default:
		panic(fmt.Sprintf("no Lua value for %T", v))
	}
}
