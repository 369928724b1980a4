package sim

import (
	"crypto/subtle"
	"net/http"
	"slices"
)

// authenticate checks HTTP Basic credentials and returns the caller's account.
// A wrong or missing secret is 401; which org or app the key may touch is
// checked later, once the request has named one (403).
func (s *Server) authenticate(r *http.Request) (Account, *apiError) {
	key, secret, ok := r.BasicAuth()
	if !ok {
		return Account{}, errorf(http.StatusUnauthorized, "missing API key and secret (HTTP Basic auth)")
	}
	acct, known := s.accounts[key]
	// Compare in constant time, and against something even for unknown keys, so
	// timing does not tell which keys exist.
	want := acct.Secret
	if !known {
		want = "\x00unknown-key"
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 || !known {
		return Account{}, errorf(http.StatusUnauthorized, "invalid API key or secret")
	}
	infoFrom(r.Context()).key = key
	return acct, nil
}

// mayUseOrg reports whether the account may import into organisation id.
func (a Account) mayUseOrg(id int64) bool { return slices.Contains(a.OrgIDs, id) }

// mayUseApp reports whether the account may import into app id.
func (a Account) mayUseApp(id string) bool {
	return slices.Contains(a.AppIDs, id) || slices.Contains(a.AppIDs, "*")
}

// mayUseScope reports whether the account may import profiles into scope.
func (a Account) mayUseScope(sc Scope) bool {
	if sc.AppID != "" {
		return a.mayUseApp(sc.AppID)
	}
	return a.mayUseOrg(sc.OrgID)
}

func forbiddenScope(sc Scope) *apiError {
	return errorf(http.StatusForbidden, "the API key has no access to %s", sc)
}

// challenge answers 401 with the header that makes curl and browsers offer
// credentials.
func challenge(w http.ResponseWriter, e *apiError) {
	w.Header().Set("WWW-Authenticate", `Basic realm="localytics-sim"`)
	writeError(w, e)
}
