package controllers

import (
	"context"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/ledger"
)

// The line of an account's imports waiting for an upload slot. They take
// the slots in the order they were created (then by name), so that a change
// in an older import reaches Localytics before one in a newer import; each
// sleeps until its own turn, and a slot that opens wakes only the imports it
// can carry.

// waitsForSlot tells an import in line: Queued for a slot of its account
// (reason QuotaExhausted) or Gathering others to share its upload, with
// nothing sent and not being deleted. An import
// stalled (a refused upload, a failed source), waiting for the key's budget
// with a slot in hand (RateLimited) or for anything else is not in line, and
// holds no place there.
func waitsForSlot(pi *importsv1alpha1.ProfileImport) bool {
	if pi.Status.UploadIntent != nil || pi.Status.ActivityID != "" || !pi.DeletionTimestamp.IsZero() {
		return false
	}
	c := meta.FindStatusCondition(pi.Status.Conditions, importsv1alpha1.ConditionReconciling)
	if c == nil || c.Status != metav1.ConditionTrue {
		return false
	}
	switch pi.Status.Phase {
	case importsv1alpha1.PhaseQueued:
		return c.Reason == ReasonQuotaExhausted
	case importsv1alpha1.PhaseGathering: // at the head of the line
		return c.Reason == ReasonGathering
	}
	return false
}

// leaveLine clears the import's place and turn; the upload phase sets them
// again if it still waits in line, so that an import that stopped waiting
// (stalled, invalid, sent) shows neither.
func leaveLine(_ context.Context, st *importScope) (ctrl.Result, error) {
	st.obj.Status.QueuePosition, st.obj.Status.NextUploadSlot = 0, nil
	return ctrl.Result{}, nil
}

// inLineOrder orders imports by their place in line.
func inLineOrder(a, b *importsv1alpha1.ProfileImport) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// importsOfAccountInCache lists the imports that name the account.
func (r *ProfileImportReconciler) importsOfAccountInCache(ctx context.Context, namespace, account string) ([]*importsv1alpha1.ProfileImport, error) {
	var list importsv1alpha1.ProfileImportList
	if err := r.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{accountRefIndex: account}); err != nil {
		return nil, err
	}
	out := make([]*importsv1alpha1.ProfileImport, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// lineChanged passes the changes of an import that change the turns of the
// imports behind it: joining the line, leaving it without uploading
// (stalled, refused, its file changed), being deleted while in it, moving to
// another account. An import that leaves the line by uploading in its turn
// changes no one's turn, and wakes no one: the places shown behind it are
// then one too many until each import's own turn counts it again, which
// keeps the line at a few reconciles per import instead of one per import
// per upload.
func lineChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*importsv1alpha1.ProfileImport)
			n, ok2 := e.ObjectNew.(*importsv1alpha1.ProfileImport)
			if !ok1 || !ok2 {
				return false
			}
			joined := !waitsForSlot(o) && waitsForSlot(n)
			uploading := n.Status.UploadIntent != nil || n.Status.ActivityID != ""
			left := waitsForSlot(o) && !waitsForSlot(n) && !uploading
			moved := waitsForSlot(o) && o.Spec.AccountRef.Name != n.Spec.AccountRef.Name
			return joined || left || moved
		},
		DeleteFunc: func(e event.DeleteEvent) bool {
			pi, ok := e.Object.(*importsv1alpha1.ProfileImport)
			return ok && waitsForSlot(pi)
		},
	}
}

// lineFixBatch bounds the imports one change in line wakes to count their
// places and turns again: the first ones whose place shows wrong.
const lineFixBatch = 8

// placesToFix maps an import that changed the line (lineChanged) to the
// imports of its line whose status shows a wrong place, the first
// lineFixBatch of them, so that their turns are counted again. The cache
// holds the change when this runs.
func (r *ProfileImportReconciler) placesToFix(ctx context.Context, o client.Object) []reconcile.Request {
	moved, ok := o.(*importsv1alpha1.ProfileImport)
	if !ok {
		return nil
	}
	imports, err := r.importsOfAccountInCache(ctx, moved.Namespace, moved.Spec.AccountRef.Name)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the ProfileImports in line", "account", moved.Spec.AccountRef.Name)
		return nil
	}
	line := slices.DeleteFunc(imports, func(pi *importsv1alpha1.ProfileImport) bool { return !waitsForSlot(pi) })
	slices.SortFunc(line, inLineOrder)
	var requests []reconcile.Request
	for i, pi := range line {
		if int(pi.Status.QueuePosition) != i+1 {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pi)})
			if len(requests) == lineFixBatch {
				break
			}
		}
	}
	return requests
}

// importsOfAccount maps a change of an account's spec or readiness to every
// import that waits for it, those in line included: their turns were
// counted with the old limits, or the account was not Ready.
func (r *ProfileImportReconciler) importsOfAccount(ctx context.Context, o client.Object) []reconcile.Request {
	return r.waitingImports(ctx, o.GetNamespace(), accountRefIndex, o.GetName(), true)
}

// importsForFreedSlots maps an account whose ledger freed slots to the
// imports those slots can carry: of the imports in line the carriers of the
// first uploads (packsOf), as many as there are free slots, and every
// import that waits for something else. The others sleep until their turn
// (they requeue for it), or until their carrier writes their outcome.
func (r *ProfileImportReconciler) importsForFreedSlots(ctx context.Context, o client.Object) []reconcile.Request {
	account, ok := o.(*importsv1alpha1.LocalyticsAccount)
	if !ok {
		return nil
	}
	imports, err := r.importsOfAccountInCache(ctx, account.Namespace, account.Name)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the ProfileImports to wake", "account", account.Name)
		return nil
	}
	free := int(ledger.Summarize(account.Status.UploadLedger, ledger.UploadLimitOf(account.Spec.Limits), r.Clock.Now()).Left)
	var requests []reconcile.Request
	var line []*importsv1alpha1.ProfileImport
	for _, pi := range imports {
		switch {
		case !notUploaded(pi, true):
		case waitsForSlot(pi):
			line = append(line, pi)
		default:
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(pi)})
		}
	}
	slices.SortFunc(line, inLineOrder)
	packs := packsOf(line, uploadBytesOf(account.Spec.Limits))
	for _, p := range packs[:min(free, len(packs))] {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(p.imports[0])})
	}
	return requests
}
