package controllers

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// appLists is what this process knows of the audience lists of each app of
// each account: one list-by-app listing (A6), shared by every AudienceList of
// the app, so that drift detection costs one call per app and interval
// instead of one per list, and the per-app cap is checked against what the
// app really holds (lists made outside the cluster included) before a create.
//
// It is kept current by the operator's own writes (a list created, renamed or
// deleted is written through), so that a listing older than a write never
// makes that write look undone. It lives in memory: after a restart the
// first reconcile of each app fetches a listing again.
type appLists struct {
	mu   sync.Mutex
	apps map[appKey]*appState
	// changes receives the account of an app whose count changed, for the
	// account controller (status.audienceLists). Sends never block: a full
	// channel only delays the count until the account's next reconcile.
	changes chan event.GenericEvent
}

// appKey names one app of one account (namespace/name).
type appKey struct {
	account types.NamespacedName
	app     string
}

// appState is the listing of one app. Its mutex is held during a fetch, so
// that the reconciles of the app's lists that want one at once share it.
type appState struct {
	mu        sync.Mutex
	fetched   bool
	fetchedAt time.Time
	lists     []localytics.AudienceList
	// creating are the AudienceLists (by UID) whose create was sent but
	// whose list is not in the listing yet: they count against the cap.
	creating map[types.UID]struct{}
}

// appListing is a copy of an app's listing.
type appListing struct {
	fetchedAt time.Time
	lists     []localytics.AudienceList
}

// find returns the list with the id.
func (l appListing) find(id string) (localytics.AudienceList, bool) {
	i := slices.IndexFunc(l.lists, func(x localytics.AudienceList) bool { return x.ID == id })
	if i < 0 {
		return localytics.AudienceList{}, false
	}
	return l.lists[i], true
}

// named returns the lists with the name.
func (l appListing) named(name string) []localytics.AudienceList {
	var out []localytics.AudienceList
	for _, x := range l.lists {
		if x.Name == name {
			out = append(out, x)
		}
	}
	return out
}

func newAppLists() *appLists {
	return &appLists{apps: map[appKey]*appState{}, changes: make(chan event.GenericEvent, 1024)}
}

func (a *appLists) state(key appKey) *appState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.apps[key]
	if !ok {
		st = &appState{creating: map[types.UID]struct{}{}}
		a.apps[key] = st
	}
	return st
}

// listing returns the app's listing, fetched with api unless the one held is
// younger than maxAge (zero: always fetch).
func (a *appLists) listing(ctx context.Context, key appKey, api localytics.Interface, maxAge time.Duration, now time.Time) (appListing, error) {
	st := a.state(key)
	st.mu.Lock()
	fetch := !st.fetched || now.Sub(st.fetchedAt) >= maxAge
	if fetch {
		// A create whose job completed meanwhile is counted twice (listed,
		// and in flight) until its object sees the job end: the cap errs on
		// the safe side.
		lists, err := api.ListAudienceLists(ctx, key.app)
		if err != nil {
			st.mu.Unlock()
			return appListing{}, err
		}
		st.fetched, st.fetchedAt, st.lists = true, now, lists
	}
	out := appListing{fetchedAt: st.fetchedAt, lists: slices.Clone(st.lists)}
	st.mu.Unlock()
	if fetch {
		a.changed(key)
	}
	return out, nil
}

// reserveCreate counts a create of the AudienceList uid against the app's
// cap, unless the app holds limit lists already (creates in flight
// included). It returns how many the app holds. The app's listing must have
// been fetched.
func (a *appLists) reserveCreate(key appKey, uid types.UID, limit int) (inUse int, ok bool) {
	st := a.state(key)
	st.mu.Lock()
	inUse = len(st.lists) + len(st.creating)
	if _, mine := st.creating[uid]; mine {
		st.mu.Unlock()
		return inUse, true
	}
	ok = inUse < limit
	if ok {
		st.creating[uid] = struct{}{}
		inUse++
	}
	st.mu.Unlock()
	if ok {
		a.changed(key)
	}
	return inUse, ok
}

// noteCreating counts a create in flight found in an object's status (after
// a restart, say) against the cap.
func (a *appLists) noteCreating(key appKey, uid types.UID) {
	st := a.state(key)
	st.mu.Lock()
	st.creating[uid] = struct{}{}
	st.mu.Unlock()
}

// endCreate stops counting the create of uid, with the list it made, if any.
func (a *appLists) endCreate(key appKey, uid types.UID, made *localytics.AudienceList) {
	st := a.state(key)
	st.mu.Lock()
	delete(st.creating, uid)
	if made != nil {
		st.lists = upsertList(st.lists, *made)
	}
	st.mu.Unlock()
	a.changed(key)
}

// renamed writes a rename through.
func (a *appLists) renamed(key appKey, id, name string) {
	st := a.state(key)
	st.mu.Lock()
	defer st.mu.Unlock()
	if i := slices.IndexFunc(st.lists, func(x localytics.AudienceList) bool { return x.ID == id }); i >= 0 {
		st.lists[i].Name = name
	}
}

// deleted writes a delete through.
func (a *appLists) deleted(key appKey, id string) {
	st := a.state(key)
	st.mu.Lock()
	st.lists = slices.DeleteFunc(st.lists, func(x localytics.AudienceList) bool { return x.ID == id })
	st.mu.Unlock()
	a.changed(key)
}

func upsertList(lists []localytics.AudienceList, l localytics.AudienceList) []localytics.AudienceList {
	if i := slices.IndexFunc(lists, func(x localytics.AudienceList) bool { return x.ID == l.ID }); i >= 0 {
		lists[i] = l
		return lists
	}
	return append(lists, l)
}

// counts returns the lists in use per app of the account, apps in order, at
// most MaxAudienceListApps of them: the bound of status.audienceLists.
func (a *appLists) counts(account types.NamespacedName) []importsv1alpha1.AppAudienceLists {
	a.mu.Lock()
	keys := make([]appKey, 0, len(a.apps))
	for k := range a.apps {
		if k.account == account {
			keys = append(keys, k)
		}
	}
	a.mu.Unlock()
	slices.SortFunc(keys, func(x, y appKey) int {
		if x.app < y.app {
			return -1
		}
		if x.app > y.app {
			return 1
		}
		return 0
	})
	var out []importsv1alpha1.AppAudienceLists
	for _, k := range keys {
		st := a.state(k)
		st.mu.Lock()
		n, known := len(st.lists)+len(st.creating), st.fetched
		st.mu.Unlock()
		if known {
			out = append(out, importsv1alpha1.AppAudienceLists{AppID: k.app, Count: int32(n)})
		}
		if len(out) == importsv1alpha1.MaxAudienceListApps {
			break
		}
	}
	return out
}

// forget drops what is known of an account's apps.
func (a *appLists) forget(account types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.apps {
		if k.account == account {
			delete(a.apps, k)
			forgetAudienceListsGauge(k.account.String(), k.app)
		}
	}
}

// changed updates the gauge of the app and tells the account controller.
func (a *appLists) changed(key appKey) {
	st := a.state(key)
	st.mu.Lock()
	n := len(st.lists) + len(st.creating)
	st.mu.Unlock()
	recordAudienceLists(key.account.String(), key.app, n)
	account := &importsv1alpha1.LocalyticsAccount{}
	account.Namespace, account.Name = key.account.Namespace, key.account.Name
	select {
	case a.changes <- event.GenericEvent{Object: account}:
	default:
	}
}
