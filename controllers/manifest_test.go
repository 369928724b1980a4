package controllers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/localytics-operator/localytics-operator/controllers"
	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// The pod must be given the time the manager takes to stop cleanly, or
// the kubelet kills it while an upload is in flight.
func TestTerminationGraceCoversShutdown(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "manager", "manager.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	for _, doc := range strings.Split(string(raw), "\n---") {
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatal(err)
		}
		if d.Kind == "Deployment" {
			break
		}
	}
	if d.Kind != "Deployment" {
		t.Fatal("no Deployment in config/manager/manager.yaml")
	}
	grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second < controllers.ShutdownGrace {
		t.Fatalf("terminationGracePeriodSeconds is %v, less than the manager's shutdown grace %v", grace, controllers.ShutdownGrace)
	}
}
