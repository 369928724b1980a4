package controllers

import (
	"net/http"
	"testing"

	. "github.com/onsi/gomega"
)

func TestEndpointOf(t *testing.T) {
	tests := map[string]struct {
		method, path string
		want         string
	}{
		"P1 profile upload":                {http.MethodPost, "/v1/imports/profiles/upload", "profiles/upload"},
		"P2 profile status drops the id":   {http.MethodGet, "/v1/imports/profiles/status/6f1c2a4e-0000-4000-8000-000000000001", "profiles/status"},
		"A1 create, with its slash":        {http.MethodPost, "/v1/imports/audiences/list/", "audiences/create"},
		"A2 audience status":               {http.MethodGet, "/v1/imports/audiences/list/status/abc", "audiences/status"},
		"A3 replace":                       {http.MethodPut, "/v1/imports/audiences/list/42", "audiences/replace"},
		"A4 rename":                        {http.MethodPut, "/v1/imports/audiences/list/42/name", "audiences/rename"},
		"A5 delete":                        {http.MethodDelete, "/v1/imports/audiences/list/42", "audiences/delete"},
		"A6 list of an app":                {http.MethodGet, "/v1/imports/audiences/list/app/acme-app", "audiences/list"},
		"an escaped slash stays in its id": {http.MethodPut, "/v1/imports/audiences/list/a%2Fname", "audiences/replace"},
		"after the endpoint's base path":   {http.MethodGet, "/proxy/localytics/v1/imports/profiles/status/x", "profiles/status"},
		"an unknown path":                  {http.MethodGet, "/v2/secret-thing/123", "other"},
		"a known path, another method":     {http.MethodGet, "/v1/imports/profiles/upload", "other"},
		"a status without its id":          {http.MethodGet, "/v1/imports/profiles/status/", "other"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(endpointOf(tc.method, tc.path)).To(Equal(tc.want))
		})
	}
}
