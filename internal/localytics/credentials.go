package localytics

import (
	"fmt"
	"strings"
)

// redacted stands in for a secret wherever a value is printed.
const redacted = "[redacted]"

// Credentials are an organisation's API key and secret, sent with HTTP Basic
// auth on every call. The key identifies the account (budgets are kept per
// key); the secret is never printed: String, GoString and Format redact it, so
// %v, %+v, %#v and %s of Credentials, or of any struct holding them, are safe
// to log.
type Credentials struct {
	// Key is the API key; budgets are shared by every Client with the same key.
	Key string
	// Secret is the API secret.
	Secret string
}

// String redacts the secret.
func (c Credentials) String() string {
	secret := ""
	if c.Secret != "" {
		secret = redacted
	}
	return fmt.Sprintf("{Key:%s Secret:%s}", c.Key, secret)
}

// GoString redacts the secret for %#v.
func (c Credentials) GoString() string {
	secret := `""`
	if c.Secret != "" {
		secret = `"` + redacted + `"`
	}
	return fmt.Sprintf("localytics.Credentials{Key:%q, Secret:%s}", c.Key, secret)
}

// Format makes every verb, including %+v, %q and %x, print the redacted form:
// without it, %x of the struct would print the secret in hex.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, c.GoString())
		return
	}
	if verb == 'q' {
		fmt.Fprintf(f, "%q", c.String())
		return
	}
	fmt.Fprint(f, c.String())
}

// redact removes the secret, and the Basic auth token that encodes it, from
// text that came from outside the process (response bodies) before it is
// kept in an error.
func (c Credentials) redact(s string) string {
	if c.Secret == "" {
		return s
	}
	s = strings.ReplaceAll(s, c.Secret, redacted)
	if token := basicAuthToken(c.Key, c.Secret); token != "" {
		s = strings.ReplaceAll(s, token, redacted)
	}
	return s
}
