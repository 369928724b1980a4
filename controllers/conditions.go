package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// kstatusConditions are the Ready, Reconciling and Stalled conditions of one
// object, with its generation and observedGeneration: the three states every
// kind of this operator reports, kept consistent in one place.
type kstatusConditions struct {
	conditions         *[]metav1.Condition
	generation         int64
	observedGeneration *int64
}

// ready: the object is in the state its spec asks for.
func (k kstatusConditions) ready(reason, message string) {
	k.set(importsv1alpha1.ConditionReady, metav1.ConditionTrue, reason, message)
	meta.RemoveStatusCondition(k.conditions, importsv1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(k.conditions, importsv1alpha1.ConditionStalled)
	*k.observedGeneration = k.generation
}

// stalled: only a person can move the object on. observedGeneration
// advances, as after a success, because the reconcile of this generation
// reached its result: kstatus reports the object Failed only when it does,
// and InProgress (to wait for) otherwise.
func (k kstatusConditions) stalled(reason, message string) {
	k.set(importsv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message)
	k.set(importsv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	meta.RemoveStatusCondition(k.conditions, importsv1alpha1.ConditionReconciling)
	*k.observedGeneration = k.generation
}

// reconciling: the operator is still working on it and will come back;
// observedGeneration stays where the last finished reconcile left it.
func (k kstatusConditions) reconciling(reason, message string) {
	k.set(importsv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	k.set(importsv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	meta.RemoveStatusCondition(k.conditions, importsv1alpha1.ConditionStalled)
}

func (k kstatusConditions) set(conditionType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(k.conditions, metav1.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: k.generation,
	})
}

// stallReason is the reason of a Stalled condition, empty when not stalled.
func stallReason(conditions []metav1.Condition) string {
	if c := meta.FindStatusCondition(conditions, importsv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason
	}
	return ""
}
