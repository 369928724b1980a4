package controllers

import (
	"context"
	"errors"
	"io"

	"sigs.k8s.io/controller-runtime/pkg/client"

	importsv1alpha1 "github.com/localytics-operator/localytics-operator/api/v1alpha1"
	"github.com/localytics-operator/localytics-operator/internal/source"
)

// The size rule of source files, for every kind: a file over maxBytes (the
// reconcilers' MaxFileBytes) is never uploaded, and never read further than
// it must be to know that.

// fileCap is a reconciler's MaxFileBytes: limit when unset, and never more.
// An audience list goes up in one upload, so its limit is the vendor's; a
// profile file may go up in parts (uploadparts.go).
func fileCap(n, limit int64) int64 {
	if n <= 0 || n > limit {
		return limit
	}
	return n
}

// openWithin opens the file src names for its validation pass. A file whose
// source says it has more than maxBytes is refused (a stalled
// ReasonFileTooLarge, see isTooLarge) before any of it is read. The file
// returned reads at most maxBytes+1 bytes, so that a source that says a wrong
// size, or none, cannot make the operator read more: validation then counts
// maxBytes+1 bytes, which tooLargeAfterReading refuses. Other failures are
// the source's, for sourceFailure.
func openWithin(ctx context.Context, reader client.Reader, namespace string, src importsv1alpha1.Source,
	opts source.Options, maxBytes int64) (*source.File, error) {
	file, err := source.Open(ctx, reader, namespace, src, opts)
	if err != nil {
		return nil, err
	}
	if file.Size > maxBytes {
		_ = file.Close()
		return nil, stalled(ReasonFileTooLarge, nil, "%s has %d bytes, over the limit of %d bytes; none of it was read, nothing was uploaded",
			file.Description, file.Size, maxBytes)
	}
	file.ReadCloser = limitedFile{Reader: io.LimitReader(file.ReadCloser, maxBytes+1), Closer: file.ReadCloser}
	return file, nil
}

// isTooLarge tells whether openWithin refused the file for its size, and
// returns the stall.
func isTooLarge(err error) (*phaseError, bool) {
	pe, ok := errors.AsType[*phaseError](err)
	return pe, ok && pe.reason == ReasonFileTooLarge
}

// tooLargeAfterReading is the stall of a file whose validation counted more
// than maxBytes, nil for one within. Reading stopped at maxBytes+1 bytes, so
// the count is no size to show.
func tooLargeAfterReading(validatedBytes, maxBytes int64) *phaseError {
	if validatedBytes <= maxBytes {
		return nil
	}
	return stalled(ReasonFileTooLarge, nil, "the file has more than %d bytes, the limit; reading stopped there, nothing was uploaded", maxBytes)
}

// limitedFile is a file's stream cut at a length, closed as the file.
type limitedFile struct {
	io.Reader
	io.Closer
}
