package controllers

import (
	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
)

// Reasons of a LocalyticsAccount's conditions. Ready is True with
// CredentialsVerified; otherwise Ready is False with the reason of the
// Stalled or Reconciling condition that says why.
const (
	// ReasonCredentialsVerified: the API accepted the credentials.
	ReasonCredentialsVerified = "CredentialsVerified"
	// ReasonCredentialsRefused: the API answered 401 or 403 (stalled).
	ReasonCredentialsRefused = "CredentialsRefused"
	// ReasonCredentialsInvalid: the credentials cannot be sent (stalled).
	ReasonCredentialsInvalid = "CredentialsInvalid"
	// ReasonEndpointNotAllowed: spec.endpoint is not among the operator's
	// --allowed-endpoints; nothing is sent to it (stalled).
	ReasonEndpointNotAllowed = "EndpointNotAllowed"
	// ReasonEndpointUnexpected: the endpoint answered like no Localytics
	// API would (stalled).
	ReasonEndpointUnexpected = "EndpointUnexpected"
)

func accountConditions(account *importsv1alpha1.LocalyticsAccount) kstatusConditions {
	return kstatusConditions{&account.Status.Conditions, account.Generation, &account.Status.ObservedGeneration}
}
