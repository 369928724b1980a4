package localytics

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// ProfileFormat is the format of a profile import file.
type ProfileFormat string

const (
	// ProfileFormatJSON is JSON Lines: one {"customer_id", "changes"} object
	// per line.
	ProfileFormatJSON ProfileFormat = "json"
	// ProfileFormatCSV is a header row (customer id, then attribute names)
	// and one row per customer.
	ProfileFormatCSV ProfileFormat = "csv"
)

// ProfileUpload is a P1 request.
type ProfileUpload struct {
	// Scope is the org or the app the profiles belong to, exactly one.
	Scope Scope
	// Format is json or csv.
	Format ProfileFormat
	// File is streamed, never retried; see UploadFile.
	File UploadFile
}

var (
	epUploadProfiles   = endpoint{http.MethodPost, "/v1/imports/profiles/upload", BudgetProfileUploads, "profiles/upload"}
	epProfileJobStatus = endpoint{http.MethodGet, "/v1/imports/profiles/status/{activity_id}", BudgetProfileStatus, "profiles/status"}
)

// UploadProfiles implements Interface (P1). An invalid request or a file over
// the cap is refused before it spends budget; a spent budget is refused
// without reading the file.
func (c *Client) UploadProfiles(ctx context.Context, upload ProfileUpload) (string, error) {
	if err := upload.Scope.validate(); err != nil {
		return "", fmt.Errorf("localytics: %s: %w", epUploadProfiles, err)
	}
	if upload.Format != ProfileFormatJSON && upload.Format != ProfileFormatCSV {
		return "", fmt.Errorf("localytics: %s: %w: format %q is neither json nor csv", epUploadProfiles, ErrInvalidRequest, upload.Format)
	}
	scopeField := formField{fieldAppID, upload.Scope.AppID}
	if upload.Scope.OrgID != 0 {
		scopeField = formField{"org_id", strconv.FormatInt(upload.Scope.OrgID, 10)}
	}
	form := &uploadForm{
		fields:      []formField{scopeField, {"format", string(upload.Format)}},
		file:        upload.File,
		defaultName: "profiles." + string(upload.Format),
		maxBytes:    c.maxUploadBytes,
	}
	return c.upload(ctx, epUploadProfiles, epUploadProfiles.path, form)
}

// ProfileJobStatus implements Interface (P2).
func (c *Client) ProfileJobStatus(ctx context.Context, activityID string) (ProfileJob, error) {
	segment, err := pathSegment("activity id", activityID)
	if err != nil {
		return ProfileJob{}, fmt.Errorf("localytics: %s: %w", epProfileJobStatus, err)
	}
	var job ProfileJob
	err = c.do(ctx, call{
		ep:   epProfileJobStatus,
		path: "/v1/imports/profiles/status/" + segment,
		decode: func(body []byte) (err error) {
			job, err = decodeProfileJob(body)
			return err
		},
	})
	return job, err
}

// upload makes a multipart call whose answer is an activity id (P1, A1, A3).
func (c *Client) upload(ctx context.Context, ep endpoint, path string, form *uploadForm) (string, error) {
	if err := form.checkSize(); err != nil {
		return "", fmt.Errorf("localytics: %s: %w", ep, err)
	}
	var activityID string
	err := c.do(ctx, call{
		ep:   ep,
		path: path,
		form: form,
		decode: func(body []byte) (err error) {
			activityID, err = decodeActivityID(body)
			return err
		},
	})
	return activityID, err
}
