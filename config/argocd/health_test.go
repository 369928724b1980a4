// Package argocd_test checks the Argo CD health checks of config/argocd: each
// <group>/<Kind>/health.lua runs, as Argo CD runs it, against the objects in
// its testdata/ and must answer what its health_test.yaml says; and
// argocd-cm-patch.yaml must hold exactly those scripts (rewrite it with
// go test ./config/argocd -run TestConfigMapPatch -update).
package argocd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/controllers"
)

var update = flag.Bool("update", false, "rewrite argocd-cm-patch.yaml from the health.lua files")

const patchFile = "argocd-cm-patch.yaml"

// kinds are the kinds with a health check, in the order of the patch.
var kinds = []string{"LocalyticsAccount", "ProfileImport", "AudienceList"}

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

func configMapKey(kind string) string {
	return "resource.customizations.health." + importsv1alpha1.GroupVersion.Group + "_" + kind
}

func readScript(t *testing.T, kind string) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(kindDir(kind), "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	return string(script)
}

func TestHealth(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			script := readScript(t, kind)
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

// TestWaitingReasons ties the reasons the scripts report Suspended for to
// the reasons the controllers write: a renamed reason fails here.
func TestWaitingReasons(t *testing.T) {
	want := map[string][]string{
		"LocalyticsAccount": nil,
		"ProfileImport":     {controllers.ReasonQuotaExhausted, controllers.ReasonRateLimited},
		"AudienceList":      {controllers.ReasonListLimitReached, controllers.ReasonQuotaExhausted, controllers.ReasonRateLimited},
	}
	for _, kind := range kinds {
		var fields []string
		for _, r := range want[kind] {
			fields = append(fields, r+" = true")
		}
		line := "local waiting = {}"
		if len(fields) > 0 {
			line = "local waiting = { " + strings.Join(fields, ", ") + " }"
		}
		if !slices.Contains(strings.Split(readScript(t, kind), "\n"), line) {
			t.Errorf("%s/health.lua has no line %q", kindDir(kind), line)
		}
	}
}

func TestConfigMapPatch(t *testing.T) {
	want := renderPatch(t)
	if *update {
		if err := os.WriteFile(patchFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(patchFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with the health.lua files; run go test ./config/argocd -run TestConfigMapPatch -update", patchFile)
	}
	// The rendered YAML must read back as the scripts themselves.
	var cm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]string `json:"metadata"`
		Data       map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict(got, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata["name"] != "argocd-cm" {
		t.Errorf("%s patches %s %s %q, want the v1 ConfigMap argocd-cm", patchFile, cm.APIVersion, cm.Kind, cm.Metadata["name"])
	}
	if len(cm.Data) != len(kinds) {
		t.Errorf("%s holds %d keys, want %d", patchFile, len(cm.Data), len(kinds))
	}
	for _, kind := range kinds {
		if cm.Data[configMapKey(kind)] != readScript(t, kind) {
			t.Errorf("%s: %s does not read back as %s/health.lua", patchFile, configMapKey(kind), kindDir(kind))
		}
	}
}

// renderPatch writes the argocd-cm patch: each script as a literal block.
func renderPatch(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("# Generated from config/argocd/" + importsv1alpha1.GroupVersion.Group + "/<Kind>/health.lua; do not edit.\n")
	b.WriteString("# Rewrite it with: go test ./config/argocd -run TestConfigMapPatch -update\n")
	b.WriteString("#\n# A patch of Argo CD's argocd-cm ConfigMap with the health checks of the\n")
	b.WriteString("# operator's kinds (for example in the kustomization that installs Argo CD).\n")
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\ndata:\n")
	for _, kind := range kinds {
		script := readScript(t, kind)
		if !strings.HasSuffix(script, "\n") || strings.HasSuffix(script, "\n\n") {
			t.Fatalf("%s/health.lua must end in exactly one newline", kindDir(kind))
		}
		if strings.Contains(script, "\t") {
			t.Fatalf("%s/health.lua holds a tab; indent with spaces", kindDir(kind))
		}
		b.WriteString("  " + configMapKey(kind) + ": |\n")
		for line := range strings.Lines(script) {
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
