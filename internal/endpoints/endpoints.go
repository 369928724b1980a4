// Package endpoints is the cluster admin's allowlist of the places the
// operator may send credentials to: whoever may edit a LocalyticsAccount
// chooses its endpoint, and the first request to it carries the key and
// secret of a Secret of the namespace, so an endpoint outside the list is
// refused before anything is sent.
package endpoints

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// DefaultLocalytics is the allowlist when the admin gives none: the vendor's
// API only.
const DefaultLocalytics = "https://api.localytics.com"

// Allowlist is a set of base URLs. A URL is allowed when its scheme and host
// are those of an entry, its port too if the entry names one (an entry
// without a port allows every port of its host), and its path is below the
// entry's. Plain http is allowed only where an entry says http.
type Allowlist struct {
	entries []*url.URL
}

// Parse reads a comma-separated list of base URLs, such as
// "https://api.localytics.com,http://127.0.0.1".
func Parse(list string) (Allowlist, error) {
	var a Allowlist
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			return Allowlist{}, fmt.Errorf("allowed endpoint %q is not a URL", raw)
		case u.Scheme != "http" && u.Scheme != "https":
			return Allowlist{}, fmt.Errorf("allowed endpoint %q: the scheme must be http or https", raw)
		case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
			return Allowlist{}, fmt.Errorf("allowed endpoint %q must be a base URL: scheme, host and path only", raw)
		}
		a.entries = append(a.entries, u)
	}
	if len(a.entries) == 0 {
		return Allowlist{}, errors.New("the list of allowed endpoints is empty")
	}
	return a, nil
}

// MustParse is Parse for lists known to be valid, such as the default.
func MustParse(list string) Allowlist {
	a, err := Parse(list)
	if err != nil {
		panic(err)
	}
	return a
}

// Allows tells whether credentials may be sent to the base URL raw.
func (a Allowlist) Allows(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil {
		return false
	}
	for _, e := range a.entries {
		if u.Scheme == e.Scheme && strings.EqualFold(u.Hostname(), e.Hostname()) &&
			(e.Port() == "" || u.Port() == e.Port()) && below(u.Path, e.Path) {
			return true
		}
	}
	return false
}

// below tells whether path is base or under it, segment by segment.
func below(path, base string) bool {
	base = strings.TrimSuffix(base, "/")
	return base == "" || path == base || strings.HasPrefix(path, base+"/")
}

// String is the list as Parse reads it.
func (a Allowlist) String() string {
	s := make([]string, len(a.entries))
	for i, e := range a.entries {
		s[i] = e.String()
	}
	return strings.Join(s, ",")
}

// IsZero tells whether the list was never set.
func (a Allowlist) IsZero() bool { return len(a.entries) == 0 }
