package localytics

import (
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"
)

// The limits on what the vendor's answers may put in an object's status. Each
// is the one home of its value: the CRD's markers (api/v1alpha1) repeat it,
// and api/v1alpha1's tests check that the generated CRDs agree, so that a
// value the client accepts is always one the API server stores. Without them
// one odd answer would be refused by the API server when the controller
// records it, after the upload happened, and the activity would be lost.
const (
	// MaxActivityIDLength is the longest activity id accepted, in bytes
	// (every allowed character is one byte). The vendor's ids are UUIDs (36
	// characters) or integers (at most 20 digits); 128 leaves room for a
	// longer or prefixed form and still bounds the status, the printed
	// column and the status request path.
	MaxActivityIDLength = 128
	// ActivityIDPattern is the conservative set of characters of an activity
	// id: ASCII letters, digits, '.', '_' and '-', starting with a letter or
	// a digit (so that "." and ".." cannot be one). It covers UUIDs and
	// integers, is a safe URL path segment, and holds nothing a terminal or
	// a log could read as markup or control.
	ActivityIDPattern = `^[A-Za-z0-9][A-Za-z0-9._-]*$`
	// MaxAudienceListIDLength is the longest audience list id accepted, in
	// characters, the bound of spec.audienceListID too. The vendor's list
	// ids are integers.
	MaxAudienceListIDLength = 128
	// MaxErrorLogURLLength is the longest error_log URL kept, in bytes. The
	// URL points at a file of the vendor's (an object store URL, possibly
	// presigned, with a session token: up to about 2 KB); 4096 is twice that,
	// below what browsers and proxies accept (8 KB), and bounds the status.
	// A longer one is dropped, not truncated: a cut URL leads nowhere.
	MaxErrorLogURLLength = 4096
)

var activityIDFormat = regexp.MustCompile(ActivityIDPattern)

// InvalidActivityIDError is a 2xx answer to an upload (P1, A1, A3) whose
// activity id is empty, longer than MaxActivityIDLength, or has characters
// outside ActivityIDPattern. It is not proof that the upload was refused: the
// server answered 2xx, so it may well have taken the file. The client returns
// it inside a DecodeError inside an UnknownOutcomeError, so that the caller's
// at-most-once rules decide, as after a lost answer; the id itself is never
// stored. Use IsInvalidActivityID to recognise it.
type InvalidActivityIDError struct {
	// Reason says what is wrong, without repeating the id.
	Reason string
}

func (e *InvalidActivityIDError) Error() string {
	return "unusable activity_id in the response: " + e.Reason
}

// IsInvalidActivityID reports whether err is, or wraps, an
// InvalidActivityIDError.
func IsInvalidActivityID(err error) bool {
	var invalid *InvalidActivityIDError
	return errors.As(err, &invalid)
}

// checkActivityID refuses an activity id the operator cannot store or use.
func checkActivityID(id string) error {
	switch {
	case id == "":
		return &InvalidActivityIDError{Reason: "no activity_id"}
	case len(id) > MaxActivityIDLength:
		return &InvalidActivityIDError{Reason: fmt.Sprintf("%d bytes long, over the limit of %d", len(id), MaxActivityIDLength)}
	case !activityIDFormat.MatchString(id):
		return &InvalidActivityIDError{Reason: "characters other than ASCII letters, digits, '.', '_' and '-', or not starting with a letter or a digit"}
	}
	return nil
}

// checkAudienceListID refuses an audience list id longer than the status and
// spec.audienceListID may hold: ids are integers, so a longer one means the
// contract changed.
func checkAudienceListID(id string) error {
	if n := utf8.RuneCountInString(id); n > MaxAudienceListIDLength {
		return fmt.Errorf("audience list id of %d characters, over the limit of %d", n, MaxAudienceListIDLength)
	}
	return nil
}
