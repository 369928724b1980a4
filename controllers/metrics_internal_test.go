package controllers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"

	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// TestInstrumentedTransportLabelsEndpoints makes each call through a real
// client with the factory's HTTP client, and checks that exactly one request
// was counted, under the call's endpoint.
func TestInstrumentedTransportLabelsEndpoints(t *testing.T) {
	// An unusual status, so that no other test's requests share the series;
	// an error answer needs no decoding and is not retried.
	const code = "418"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	api, err := localytics.New(srv.URL, localytics.Credentials{Key: "key", Secret: "secret"},
		localytics.WithHTTPClient(NewLocalyticsClients().httpClient),
		localytics.WithRetryPolicy(localytics.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	file := func() localytics.UploadFile {
		return localytics.UploadFile{Content: strings.NewReader(`{"customer_id":"c1"}` + "\n")}
	}
	ctx := context.Background()
	tests := map[string]struct {
		call func() error
		want string
	}{
		"P1": {func() error {
			_, err := api.UploadProfiles(ctx, localytics.ProfileUpload{Scope: localytics.Scope{AppID: "app"}, Format: localytics.ProfileFormatJSON, File: file()})
			return err
		}, "profiles/upload"},
		"P2": {func() error { _, err := api.ProfileJobStatus(ctx, "job-1"); return err }, "profiles/status"},
		"A1": {func() error {
			_, err := api.CreateAudienceList(ctx, localytics.AudienceListCreate{AppID: "app", Name: "vip", File: file()})
			return err
		}, "audiences/create"},
		"A2": {func() error { _, err := api.AudienceJobStatus(ctx, "job-1"); return err }, "audiences/status"},
		"A3": {func() error {
			_, err := api.ReplaceAudienceList(ctx, localytics.AudienceListReplace{AppID: "app", AudienceListID: "42", File: file()})
			return err
		}, "audiences/replace"},
		"A4": {func() error { return api.RenameAudienceList(ctx, "42", "vip") }, "audiences/rename"},
		"A5": {func() error { return api.DeleteAudienceList(ctx, "42") }, "audiences/delete"},
		"A6": {func() error { _, err := api.ListAudienceLists(ctx, "app"); return err }, "audiences/list"},
		"a request no client made": {func() error {
			resp, err := NewLocalyticsClients().httpClient.Get(srv.URL + "/v1/imports/profiles/status/job-1")
			if err == nil {
				_ = resp.Body.Close()
			}
			return err
		}, endpointOther},
	}
	endpoints := []string{"profiles/upload", "profiles/status", "audiences/create", "audiences/status",
		"audiences/replace", "audiences/rename", "audiences/delete", "audiences/list", endpointOther}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			before := requestCounts(g, endpoints, code)
			_ = tc.call() // every call fails with the 418
			after := requestCounts(g, endpoints, code)
			for _, ep := range endpoints {
				want := before[ep]
				if ep == tc.want {
					want++
				}
				g.Expect(after[ep]).To(Equal(want), "requests counted as %s", ep)
			}
		})
	}
}

// requestCounts reads localytics_api_requests_total for each endpoint, with
// the status code.
func requestCounts(g Gomega, endpoints []string, code string) map[string]float64 {
	counts := map[string]float64{}
	for _, ep := range endpoints {
		var m dto.Metric
		g.Expect(apiRequests.WithLabelValues(ep, code).Write(&m)).To(Succeed())
		counts[ep] = m.GetCounter().GetValue()
	}
	return counts
}
