package controllers

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWatchLabelSelector(t *testing.T) {
	const base = "localytics-operator.imports.localytics.dev"
	object := func(labels map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: labels}}
	}
	shard1 := map[string]string{ShardLabel: "shard1"}

	all, err := ParseWatchLabelSelector(" ")
	if err != nil || all != nil {
		t.Fatalf("an empty selector: got %v, %v; want every object (nil)", all, err)
	}
	if got := LeaderElectionID(base, all); got != base {
		t.Errorf("the lease without a selector is %q, want %q", got, base)
	}
	if !inShard(all, object(nil)) || !inShard(all, object(shard1)) {
		t.Error("without a selector every object is reconciled")
	}

	one, err := ParseWatchLabelSelector(ShardLabel + "=shard1")
	if err != nil {
		t.Fatal(err)
	}
	byDefault, err := ParseWatchLabelSelector("!" + ShardLabel)
	if err != nil {
		t.Fatal(err)
	}
	if !inShard(one, object(shard1)) || inShard(one, object(nil)) {
		t.Error("shard1 reconciles the objects labelled shard1 only")
	}
	if inShard(byDefault, object(shard1)) || !inShard(byDefault, object(map[string]string{"app": "crm"})) {
		t.Error("the default shard reconciles the objects without a shard label only")
	}
	ids := map[string]bool{base: true}
	for _, sel := range []string{ShardLabel + "=shard1", "!" + ShardLabel, ShardLabel + "=shard2"} {
		s, err := ParseWatchLabelSelector(sel)
		if err != nil {
			t.Fatal(err)
		}
		id := LeaderElectionID(base, s)
		if ids[id] {
			t.Errorf("shard %q shares the lease %q with another shard", sel, id)
		}
		ids[id] = true
		if id != LeaderElectionID(base, s) {
			t.Errorf("the lease of shard %q changes between calls", sel)
		}
	}

	if _, err := ParseWatchLabelSelector(ShardLabel + "==="); err == nil {
		t.Error("a malformed selector is accepted")
	}
}

func TestTimingsCheck(t *testing.T) {
	good := Timings{UploadTimeout: 10 * time.Minute, UnknownCreateWait: 10 * time.Minute,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, LeaderElectionRetryPeriod: 2 * time.Second}
	if err := good.Check(); err != nil {
		t.Fatalf("the defaults are refused: %v", err)
	}
	for want, bad := range map[string]func(*Timings){
		"--upload-timeout must be positive":                      func(t *Timings) { t.UploadTimeout = 0 },
		"--unknown-create-wait must be positive":                 func(t *Timings) { t.UnknownCreateWait = -time.Minute },
		"--leader-election-retry-period must be positive":        func(t *Timings) { t.LeaderElectionRetryPeriod = 0 },
		"--leader-election-renew-deadline (15s) must be shorter": func(t *Timings) { t.RenewDeadline = 15 * time.Second },
		"--leader-election-retry-period (10s) must be shorter":   func(t *Timings) { t.LeaderElectionRetryPeriod = 10 * time.Second },
	} {
		timings := good
		bad(&timings)
		if err := timings.Check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error with %q, got %v", want, err)
		}
	}
}
