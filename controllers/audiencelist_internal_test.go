package controllers

import (
	"fmt"
	"net/http"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

// TestRefusal: a vendor 4xx other than 429, 401 and 403 is a refusal that
// the same call would meet again; anything else is not.
func TestRefusal(t *testing.T) {
	cases := map[string]struct {
		err     error
		code    int
		refused bool
	}{
		"400 is refused":             {err: &localytics.APIError{StatusCode: http.StatusBadRequest}, code: 400, refused: true},
		"404 is refused":             {err: fmt.Errorf("wrapped: %w", &localytics.APIError{StatusCode: http.StatusNotFound}), code: 404, refused: true},
		"413 is refused":             {err: &localytics.APIError{StatusCode: http.StatusRequestEntityTooLarge}, code: 413, refused: true},
		"302 is refused":             {err: &localytics.APIError{StatusCode: http.StatusFound}, code: 302, refused: true},
		"429 waits":                  {err: &localytics.APIError{StatusCode: http.StatusTooManyRequests}},
		"401 is refused credentials": {err: &localytics.APIError{StatusCode: http.StatusUnauthorized}},
		"403 is refused credentials": {err: &localytics.APIError{StatusCode: http.StatusForbidden}},
		"500 is transient":           {err: &localytics.APIError{StatusCode: http.StatusInternalServerError}},
		"a network error is not one": {err: &localytics.NetworkError{Err: fmt.Errorf("reset")}},
		"no error is not one":        {},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, refused := refusal(tc.err)
			NewWithT(t).Expect(refused).To(Equal(tc.refused))
			NewWithT(t).Expect(code).To(Equal(tc.code))
		})
	}
}

// TestIsListLimitError: the vendor's 400 for a full app says so in its body.
func TestIsListLimitError(t *testing.T) {
	g := NewWithT(t)
	g.Expect(isListLimitError(&localytics.APIError{StatusCode: 400, Body: "audience list limit reached: app x already has 500 audience lists"})).To(BeTrue())
	g.Expect(isListLimitError(&localytics.APIError{StatusCode: 400, Body: "missing audience_name"})).To(BeFalse())
	g.Expect(isListLimitError(&localytics.APIError{StatusCode: 500, Body: "limit"})).To(BeFalse())
}
