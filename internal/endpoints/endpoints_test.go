package endpoints

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestAllows(t *testing.T) {
	list := MustParse("https://api.localytics.com, http://127.0.0.1, https://proxy.example.com:8443/localytics/")
	cases := map[string]bool{
		"https://api.localytics.com":                   true,
		"https://API.localytics.com/":                  true,
		"https://api.localytics.com:443":               true,
		"http://api.localytics.com":                    false, // plain http only where an entry says so
		"https://api.localytics.com.evil.example":      false,
		"https://evil.example/api.localytics.com":      false,
		"https://user:pw@api.localytics.com":           false,
		"http://127.0.0.1:8787":                        true, // no port in the entry: every port
		"http://localhost:8787":                        false,
		"https://proxy.example.com:8443/localytics":    true,
		"https://proxy.example.com:8443/localytics/v1": true,
		"https://proxy.example.com:8443/localyticsX":   false,
		"https://proxy.example.com/localytics":         false, // the entry names its port
		"not a url %":                                  false,
	}
	for raw, want := range cases {
		t.Run(raw, func(t *testing.T) {
			NewWithT(t).Expect(list.Allows(raw)).To(Equal(want))
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, list := range []string{"", " , ", "ftp://x", "https://", "https://u:p@x", "https://x?q=1", "api.localytics.com"} {
		t.Run(list, func(t *testing.T) {
			_, err := Parse(list)
			NewWithT(t).Expect(err).To(HaveOccurred())
		})
	}
	NewWithT(t).Expect(MustParse(DefaultLocalytics).String()).To(Equal(DefaultLocalytics))
}
