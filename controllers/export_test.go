package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// SaveImportResult records the status of pi (base is as the API server held
// it) the way an upload's answer is recorded, through c.
func SaveImportResult(ctx context.Context, c client.Client, pi, base *importsv1alpha1.ProfileImport) error {
	s := &objectScope[*importsv1alpha1.ProfileImport]{obj: pi, base: base, c: c, log: log.FromContext(ctx)}
	recordCtx, cancel := recordContext(ctx)
	defer cancel()
	return s.saveResult(recordCtx, "activityID", pi.Status.ActivityID)
}

// ImportsForFreedSlots is what r wakes when the ledger of account shows
// free slots: the carriers of the first uploads in line.
func ImportsForFreedSlots(ctx context.Context, r *ProfileImportReconciler, account *importsv1alpha1.LocalyticsAccount) []reconcile.Request {
	return r.importsForFreedSlots(ctx, account)
}
