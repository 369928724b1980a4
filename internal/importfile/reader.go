package importfile

import (
	"context"
	"errors"
	"io"
)

// Validate reads a whole source once and reports on it, passing nothing on.
// The operator runs it before spending an upload, to show the errors and the
// digest. The error is only for reading the source (or ctx ending, or an
// unknown format); invalid lines are in the Report.
func Validate(ctx context.Context, r io.Reader, f Format, opts ...ReaderOption) (Report, error) {
	if err := f.check(); err != nil {
		return Report{}, err
	}
	s := newScanner(r, f, false)
	for _, opt := range opts {
		opt(s)
	}
	for n := 0; ; n++ {
		if n%256 == 0 { // a record, or a run of up to a buffer of lines
			if err := ctx.Err(); err != nil {
				return s.snapshot(), err
			}
		}
		if _, _, err := s.next(); err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return s.snapshot(), err
		}
	}
}

// Reader yields what to upload for a source: its valid lines (all of them in
// Strict mode, which fails instead at the first invalid one), with `lines`
// converted to the vendor's JSON Lines and every line ending in "\n". A UTF-8
// byte order mark at the start is dropped. It checks while it streams, so an
// upload can go straight from the source through a Reader without a second
// copy of the file anywhere.
type Reader struct {
	s       *scanner
	pending []byte // the rest of the current line
	nl      bool   // ... which still needs its "\n"
	err     error  // sticky: io.EOF, a *LineError (Strict) or the source's
}

// NewReader returns a Reader over r. An unknown format or mode makes the
// first Read fail.
func NewReader(r io.Reader, f Format, m Mode, opts ...ReaderOption) *Reader {
	err := f.check()
	if err == nil {
		err = m.check()
	}
	if err != nil {
		return &Reader{err: err}
	}
	s := newScanner(r, f, true)
	s.stop = m == Strict
	for _, opt := range opts {
		opt(s)
	}
	return &Reader{s: s}
}

// ReaderOption changes what a pass (a Reader, or Validate) does besides
// checking and passing lines on.
type ReaderOption func(*scanner)

// WithoutDigest makes a Reader skip hashing the source, which is about a
// third of its work (sha256 is the costliest thing it does per byte), and
// leave Report().Digest empty. It is for uploading a revision of a file that
// was validated, and hashed, already, as the operator does: its digest is
// known, and the revision pins the bytes, so hashing them again would check
// nothing new. Every line is still checked.
func WithoutDigest() ReaderOption {
	return func(s *scanner) { s.src.h = nil }
}

// Read implements io.Reader. In Strict mode it returns a *LineError at the
// first invalid line; the lines before it have been read already, so the
// upload reading them must be abandoned.
func (r *Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(r.pending) > 0:
			c := copy(p[n:], r.pending)
			r.pending = r.pending[c:]
			n += c
			continue
		case r.nl:
			p[n] = '\n'
			n++
			r.nl = false
			continue
		case r.err != nil:
			if n > 0 {
				return n, nil
			}
			return 0, r.err
		case n > 0 && r.s.br.Buffered() == 0:
			return n, nil // hand over what we have rather than wait for the source
		}
		r.pending, r.nl, r.err = r.s.next()
	}
	return n, nil
}

// Report returns the report so far: complete once Read has returned io.EOF,
// and up to the failing line after a *LineError in Strict mode.
func (r *Reader) Report() Report {
	if r.s == nil {
		return Report{}
	}
	return r.s.snapshot()
}
