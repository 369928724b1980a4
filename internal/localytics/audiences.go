package localytics

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// identifierType is the only identifier the API accepts.
const identifierType = "customer_id"

// AudienceListCreate is an A1 request.
type AudienceListCreate struct {
	// AppID is the app the list belongs to.
	AppID string
	// Name is the audience name shown in the dashboard.
	Name string
	// File holds one {"customer_id": "..."} object per line; streamed, never
	// retried (see UploadFile).
	File UploadFile
}

// AudienceListReplace is an A3 request.
type AudienceListReplace struct {
	// AppID is the app the list belongs to.
	AppID string
	// AudienceListID is the list whose whole content is replaced.
	AudienceListID string
	// File holds one {"customer_id": "..."} object per line; streamed, never
	// retried (see UploadFile).
	File UploadFile
}

var (
	// The vendor documents the create path with its trailing slash.
	epCreateAudienceList  = endpoint{http.MethodPost, "/v1/imports/audiences/list/", BudgetAudienceCalls, "audiences/create"}
	epAudienceJobStatus   = endpoint{http.MethodGet, "/v1/imports/audiences/list/status/{activity_id}", BudgetAudienceCalls, "audiences/status"}
	epReplaceAudienceList = endpoint{http.MethodPut, "/v1/imports/audiences/list/{audience_list_id}", BudgetAudienceCalls, "audiences/replace"}
	epRenameAudienceList  = endpoint{http.MethodPut, "/v1/imports/audiences/list/{audience_list_id}/name", BudgetAudienceCalls, "audiences/rename"}
	epDeleteAudienceList  = endpoint{http.MethodDelete, "/v1/imports/audiences/list/{audience_list_id}", BudgetAudienceCalls, "audiences/delete"}
	epListAudienceLists   = endpoint{http.MethodGet, "/v1/imports/audiences/list/app/{app_id}", BudgetAudienceCalls, "audiences/list"}
)

// CreateAudienceList implements Interface (A1). Any 2xx carrying an
// activity_id is success: the vendor's page says 202 in one place and 200 in
// another.
func (c *Client) CreateAudienceList(ctx context.Context, create AudienceListCreate) (string, error) {
	if err := nonEmpty("app id", create.AppID); err != nil {
		return "", fmt.Errorf("localytics: %s: %w", epCreateAudienceList, err)
	}
	if err := nonEmpty("audience name", create.Name); err != nil {
		return "", fmt.Errorf("localytics: %s: %w", epCreateAudienceList, err)
	}
	form := &uploadForm{
		fields: []formField{
			{fieldAppID, create.AppID},
			{"audience_name", create.Name},
			{"identifier_type", identifierType},
		},
		file:        create.File,
		defaultName: "audience.json",
		maxBytes:    c.maxUploadBytes,
	}
	return c.upload(ctx, epCreateAudienceList, epCreateAudienceList.path, form)
}

// AudienceJobStatus implements Interface (A2).
func (c *Client) AudienceJobStatus(ctx context.Context, activityID string) (AudienceJob, error) {
	segment, err := pathSegment("activity id", activityID)
	if err != nil {
		return AudienceJob{}, fmt.Errorf("localytics: %s: %w", epAudienceJobStatus, err)
	}
	var job AudienceJob
	err = c.do(ctx, call{
		ep:   epAudienceJobStatus,
		path: "/v1/imports/audiences/list/status/" + segment,
		decode: func(body []byte) (err error) {
			job, err = decodeAudienceJob(body)
			return err
		},
	})
	return job, err
}

// ReplaceAudienceList implements Interface (A3). The list id is sent both in
// the path and as a form field, as the vendor's example does.
func (c *Client) ReplaceAudienceList(ctx context.Context, replace AudienceListReplace) (string, error) {
	if err := nonEmpty("app id", replace.AppID); err != nil {
		return "", fmt.Errorf("localytics: %s: %w", epReplaceAudienceList, err)
	}
	segment, err := pathSegment("audience list id", replace.AudienceListID)
	if err != nil {
		return "", fmt.Errorf("localytics: %s: %w", epReplaceAudienceList, err)
	}
	form := &uploadForm{
		fields: []formField{
			{fieldAppID, replace.AppID},
			{"identifier_type", identifierType},
			{"audience_list_id", replace.AudienceListID},
		},
		file:        replace.File,
		defaultName: "audience.json",
		maxBytes:    c.maxUploadBytes,
	}
	return c.upload(ctx, epReplaceAudienceList, "/v1/imports/audiences/list/"+segment, form)
}

// RenameAudienceList implements Interface (A4). The new name goes in the
// query with an empty body; the vendor's example with a body is wrong.
// Renaming twice to the same name is harmless, so it is retried.
func (c *Client) RenameAudienceList(ctx context.Context, audienceListID, name string) error {
	segment, err := pathSegment("audience list id", audienceListID)
	if err != nil {
		return fmt.Errorf("localytics: %s: %w", epRenameAudienceList, err)
	}
	if err := nonEmpty("audience name", name); err != nil {
		return fmt.Errorf("localytics: %s: %w", epRenameAudienceList, err)
	}
	return c.do(ctx, call{
		ep:    epRenameAudienceList,
		path:  "/v1/imports/audiences/list/" + segment + "/name",
		query: url.Values{"name": {name}},
	})
}

// DeleteAudienceList implements Interface (A5); 200 and 204 are both
// success. It is retried after network errors, so a delete whose first
// answer was lost may end with 404: callers treat IsNotFound as gone.
func (c *Client) DeleteAudienceList(ctx context.Context, audienceListID string) error {
	segment, err := pathSegment("audience list id", audienceListID)
	if err != nil {
		return fmt.Errorf("localytics: %s: %w", epDeleteAudienceList, err)
	}
	return c.do(ctx, call{
		ep:   epDeleteAudienceList,
		path: "/v1/imports/audiences/list/" + segment,
	})
}

// ListAudienceLists implements Interface (A6).
func (c *Client) ListAudienceLists(ctx context.Context, appID string) ([]AudienceList, error) {
	segment, err := pathSegment("app id", appID)
	if err != nil {
		return nil, fmt.Errorf("localytics: %s: %w", epListAudienceLists, err)
	}
	var lists []AudienceList
	err = c.do(ctx, call{
		ep:   epListAudienceLists,
		path: "/v1/imports/audiences/list/app/" + segment,
		decode: func(body []byte) (err error) {
			lists, err = decodeAudienceLists(body)
			return err
		},
	})
	return lists, err
}

func nonEmpty(what, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalidRequest, what)
	}
	return nil
}
