package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/secrets"
)

// What the manager caches, shared by main.go and the tests so that the
// tests prove the configuration that runs.

// cacheSyncTimeout bounds how long CacheSynced waits: less than the
// readiness probe's default timeout of one second.
const cacheSyncTimeout = 500 * time.Millisecond

// ManagerCacheOptions returns the manager's client and cache options.
//
// Clusters hold tens of thousands of Secrets and ConfigMaps, and the
// operator needs a few of them: reads of those two kinds go to the API server
// instead of caching them all. Changes to them are noticed through
// metadata-only watches (see the controllers), whose cached objects keep
// their names and resourceVersions but no annotations (client-side
// `kubectl apply` copies a Secret's values into one), no managedFields and no
// labels but imports.localytics.dev/use. Every other cached object is
// stripped of its managedFields.
//
// watchNamespaces limits the caches, and so the watches, to those
// namespaces; none means all namespaces. A shard selector (--watch-label-selector)
// limits the ProfileImports and AudienceLists to those it matches; every
// shard caches every LocalyticsAccount, whose ledger the shards share.
func ManagerCacheOptions(watchNamespaces []string, shard labels.Selector) (client.Options, cache.Options) {
	clientOpts := client.Options{Cache: &client.CacheOptions{
		DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}},
	}}
	// ByObject is keyed by kind: these transforms apply to the metadata
	// informers of Secrets and ConfigMaps, the only ones the manager has.
	cacheOpts := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:    {Transform: stripMetadata},
			&corev1.ConfigMap{}: {Transform: stripMetadata},
		},
	}
	if shard != nil && !shard.Empty() {
		cacheOpts.ByObject[&importsv1alpha1.ProfileImport{}] = cache.ByObject{Label: shard}
		cacheOpts.ByObject[&importsv1alpha1.AudienceList{}] = cache.ByObject{Label: shard}
	}
	if len(watchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = make(map[string]cache.Config, len(watchNamespaces))
		for _, ns := range watchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return clientOpts, cacheOpts
}

// stripMetadata drops an object's annotations, managedFields and labels but
// secrets.LabelUse (by which the operator may select the Secrets it uses)
// before it is cached.
var stripMetadata toolscache.TransformFunc = func(in any) (any, error) {
	obj, err := meta.Accessor(in)
	if err != nil {
		// Not an object (a tombstone): nothing to strip.
		return in, nil
	}
	obj.SetAnnotations(nil)
	obj.SetManagedFields(nil)
	if v, ok := obj.GetLabels()[secrets.LabelUse]; ok {
		obj.SetLabels(map[string]string{secrets.LabelUse: v})
	} else {
		obj.SetLabels(nil)
	}
	return in, nil
}

// ParseWatchNamespaces parses the --watch-namespaces flag: namespace names,
// comma-separated. An empty flag means all namespaces (nil).
func ParseWatchNamespaces(flag string) ([]string, error) {
	var namespaces []string
	seen := map[string]bool{}
	for _, ns := range strings.Split(flag, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" || seen[ns] {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		seen[ns] = true
		namespaces = append(namespaces, ns)
	}
	return namespaces, nil
}

// ShardLabel is the label by which platform teams split the objects between
// operator processes (shards), as Flux's controllers do with
// sharding.fluxcd.io/key: a shard runs with
// --watch-label-selector=sharding.imports.localytics.dev/key=shard1, the
// default shard with --watch-label-selector='!sharding.imports.localytics.dev/key'.
const ShardLabel = "sharding.imports.localytics.dev/key"

// ParseWatchLabelSelector parses the --watch-label-selector flag; empty
// selects everything (nil).
func ParseWatchLabelSelector(flag string) (labels.Selector, error) {
	if strings.TrimSpace(flag) == "" {
		return nil, nil
	}
	sel, err := labels.Parse(flag)
	if err != nil {
		return nil, fmt.Errorf("%q is not a label selector: %w", flag, err)
	}
	return sel, nil
}

// LeaderElectionID is the lease the replicas of one shard compete for: base
// for the operator without a selector, base with a hash of the selector for
// a shard, so that each shard has a leader of its own.
func LeaderElectionID(base string, shard labels.Selector) string {
	if shard == nil || shard.Empty() {
		return base
	}
	sum := sha256.Sum256([]byte(shard.String()))
	return base + "-" + hex.EncodeToString(sum[:])[:10]
}

// inShard reports whether a shard with this selector reconciles obj: every
// object when there is no selector.
func inShard(shard labels.Selector, obj client.Object) bool {
	return shard == nil || shard.Matches(labels.Set(obj.GetLabels()))
}

// Timings are the manager's durations a person sets with flags.
type Timings struct {
	UploadTimeout, UnknownCreateWait                        time.Duration
	LeaseDuration, RenewDeadline, LeaderElectionRetryPeriod time.Duration
}

// Check refuses timings that cannot work, before anything starts: a zero or
// negative duration, and leader election whose leader would lose the lease
// before it gave up renewing it.
func (t Timings) Check() error {
	for _, d := range []struct {
		flag string
		d    time.Duration
	}{
		{"--upload-timeout", t.UploadTimeout},
		{"--unknown-create-wait", t.UnknownCreateWait},
		{"--leader-election-lease-duration", t.LeaseDuration},
		{"--leader-election-renew-deadline", t.RenewDeadline},
		{"--leader-election-retry-period", t.LeaderElectionRetryPeriod},
	} {
		if d.d <= 0 {
			return fmt.Errorf("%s must be positive, not %s", d.flag, d.d)
		}
	}
	if t.RenewDeadline >= t.LeaseDuration {
		return fmt.Errorf("--leader-election-renew-deadline (%s) must be shorter than --leader-election-lease-duration (%s)",
			t.RenewDeadline, t.LeaseDuration)
	}
	if t.LeaderElectionRetryPeriod >= t.RenewDeadline {
		return fmt.Errorf("--leader-election-retry-period (%s) must be shorter than --leader-election-renew-deadline (%s)",
			t.LeaderElectionRetryPeriod, t.RenewDeadline)
	}
	return nil
}

// CacheSynced is a readiness check that fails while the cache has not
// started or its informers have not synced, waiting for them at most half a
// second.
func CacheSynced(c cache.Cache) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), cacheSyncTimeout)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("the caches have not synced")
		}
		return nil
	}
}
