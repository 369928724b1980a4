package controllers

import (
	"errors"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// Reasons of an AudienceList's conditions. Ready is True with InSync;
// otherwise Ready is False with the reason of the Stalled or Reconciling
// condition that says why. Source, validation, account and API reasons are
// shared with ProfileImports.
const (
	// ReasonInSync: the list in Localytics has the source's content and
	// spec.audienceName (Ready=True).
	ReasonInSync = "InSync"
	// ReasonListLimitReached: the app holds as many lists as the account's
	// audienceListsPerApp allows; the list is created when room appears
	// (waiting).
	ReasonListLimitReached = "ListLimitReached"
	// ReasonAudienceListNotFound: spec.audienceListID names no list of the
	// app (stalled).
	ReasonAudienceListNotFound = "AudienceListNotFound"
	// ReasonAudienceListClaimed: spec.audienceListID names a list another
	// AudienceList manages (stalled).
	ReasonAudienceListClaimed = "AudienceListClaimed"
	// ReasonCreateOutcomeUnknown: the answer to a create was lost; the list
	// is looked for by name before it is created again (waiting).
	ReasonCreateOutcomeUnknown = "CreateOutcomeUnknown"
	// ReasonDeleteBlocked: the list cannot be deleted in Localytics (the
	// account, its Secret or its credentials); setting
	// spec.deletionPolicy to Orphan releases the object (stalled).
	ReasonDeleteBlocked = "DeleteBlocked"
)

// Reasons of an AudienceList's events, one per remote change. Validated,
// Rejected and Failed are shared with ProfileImports.
const (
	EventCreated        = "Created"
	EventAdopted        = "Adopted"
	EventReplaced       = "Replaced"
	EventRenamed        = "Renamed"
	EventDeleted        = "Deleted"
	EventOrphaned       = "Orphaned"
	EventDeletedOutside = "DeletedOutside"
	EventRenamedOutside = "RenamedOutside"
	EventLimitReached   = "LimitReached"
	EventOutcomeUnknown = "OutcomeUnknown"
)

// summarizeList says whether a list whose phases succeeded is in sync.
func summarizeList(s *listScope) summary {
	al := s.obj
	if al.Status.AudienceListID != "" && al.Status.Intent == nil && al.Status.ContentDigest == al.Status.SourceDigest &&
		al.Status.RemoteName == al.Spec.AudienceName {
		return summary{ready: true, reason: ReasonInSync, message: "The audience list in Localytics has the source's customer ids and spec.audienceName"}
	}
	return summary{reason: "Progressing", message: "The audience list is being brought in sync"}
}

func listConditions(al *importsv1alpha1.AudienceList) kstatusConditions {
	return kstatusConditions{&al.Status.Conditions, al.Generation, &al.Status.ObservedGeneration}
}

// jobFailed is the stall of a list whose upload job failed: the source is
// not uploaded again until it changes.
func jobFailed(reason string) *phaseError {
	if reason == "" {
		return stalled(ReasonJobFailed, nil, "the last upload of this source failed or was refused by Localytics; change the source to try again")
	}
	// The vendor's reason is free text: clipped, it says what a person
	// needs to know.
	if len(reason) > 200 {
		reason = reason[:200]
	}
	return stalled(ReasonJobFailed, nil, "the Localytics job of the last upload failed (%s); change the source to try again", reason)
}

// operationNoun names a remote write in a sentence.
func operationNoun(op importsv1alpha1.AudienceListOperation) string {
	return strings.ToLower(string(op))
}

// isListLimitError tells whether Localytics refused a create because the
// app holds as many lists as it may (400 with a message that says so).
func isListLimitError(err error) bool {
	var apiErr *localytics.APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(apiErr.Body), "limit")
}

// readyCondition returns the Ready condition, nil if there is none.
func readyCondition(conditions []metav1.Condition) *metav1.Condition {
	return meta.FindStatusCondition(conditions, importsv1alpha1.ConditionReady)
}

// stallOrWaitReason is the reason the object is not Ready, empty when it is.
func stallOrWaitReason(conditions []metav1.Condition) string {
	if c := readyCondition(conditions); c != nil && c.Status != metav1.ConditionTrue {
		return c.Reason
	}
	return ""
}

// accountMeta names the account of a list.
func accountMeta(al *importsv1alpha1.AudienceList) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: al.Namespace, Name: al.Spec.AccountRef.Name}
}
