package localytics

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
)

// UploadFile is the file of an upload. It is streamed: read once, from its
// current position, while the request is sent, and never held in memory.
//
// Uploads are not retried inside the client, so Content need not be
// replayable: once any byte was sent, a second attempt would need a fresh
// reader and, worse, could import the file twice if the first was accepted.
// A caller that decides to upload again opens the file again. The upload call
// returns only after it stopped reading Content, so the caller may close it
// right away.
type UploadFile struct {
	// Content is the file.
	Content io.Reader
	// Size is the exact length of Content when known, > 0. The request then
	// carries a Content-Length, as curl and browsers send (some gateways
	// refuse chunked uploads), and a file of another length fails the upload.
	// 0 means unknown: the body is sent chunked.
	Size int64
	// Name is the file name sent in the form; empty for the endpoint's
	// default.
	Name string
}

// uploadForm is the multipart/form-data body of P1, A1 and A3: text fields
// first, so that a server may refuse the request before the file arrives,
// then the file in the "file" part.
type uploadForm struct {
	fields      []formField
	file        UploadFile
	defaultName string
	// maxBytes aborts a file of unknown size that turns out too large,
	// instead of sending it all to be refused with 413.
	maxBytes int64
}

type formField struct{ name, value string }

// fieldAppID is the name of the app scope, in forms and in job targets alike.
const fieldAppID = "app_id"

// copyBufferSize is the size of the reads from the file: large enough that
// the pipe's per-write hand-off costs little.
const copyBufferSize = 256 << 10

// readAheadBuffers is how many buffers of copyBufferSize the file is read
// ahead of the request, and so its share of an upload's memory.
const readAheadBuffers = 3

// formBody is an upload body being written by a goroutine into a pipe.
type formBody struct {
	reader      *io.PipeReader
	contentType string
	// length is the exact body length, or -1 when unknown.
	length int64
	done   chan struct{}
	// sourceErr is set before done is closed.
	sourceErr error
}

// open starts streaming the form. The caller must call finish.
func (f *uploadForm) open() *formBody {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	b := &formBody{
		reader:      pr,
		contentType: mw.FormDataContentType(),
		length:      -1,
		done:        make(chan struct{}),
	}
	if f.file.Size > 0 {
		b.length = f.envelopeLength(mw.Boundary()) + f.file.Size
	}
	go func() {
		defer close(b.done)
		sourceErr, err := f.write(mw)
		b.sourceErr = sourceErr
		if sourceErr != nil {
			err = sourceErr
		}
		// nil closes the pipe with EOF: the body is complete.
		_ = pw.CloseWithError(err)
	}()
	return b
}

// finish stops the streaming (a no-op when it is complete), waits for the
// writer goroutine, and returns the error reading the file, if any.
func (b *formBody) finish() error {
	_ = b.reader.Close()
	<-b.done
	return b.sourceErr
}

func (f *uploadForm) fileName() string {
	if f.file.Name != "" {
		return f.file.Name
	}
	return f.defaultName
}

// write writes the whole form. sourceErr is a failure of the file (a read
// error, a length other than declared, over the cap); err is a failure to
// write, which means the request was abandoned and the pipe closed.
func (f *uploadForm) write(mw *multipart.Writer) (sourceErr, err error) {
	for _, field := range f.fields {
		if err := mw.WriteField(field.name, field.value); err != nil {
			return nil, err
		}
	}
	part, err := mw.CreateFormFile("file", f.fileName())
	if err != nil {
		return nil, err
	}
	src := &sourceReader{r: f.file.Content}
	limit := f.maxBytes
	if f.file.Size > 0 {
		limit = f.file.Size
	}
	var r io.Reader = src
	if limit > 0 {
		// One byte more than allowed tells "too long" from "exactly right".
		r = io.LimitReader(src, limit+1)
	}
	n, err := copyReadingAhead(part, r)
	switch {
	case src.err != nil:
		return src.err, nil
	case err != nil:
		return nil, err
	case f.file.Size > 0 && n != f.file.Size:
		if n > f.file.Size {
			return fmt.Errorf("%w: the file is longer than its declared size of %d bytes", ErrInvalidRequest, f.file.Size), nil
		}
		return fmt.Errorf("%w: the file has %d bytes, not its declared %d", ErrInvalidRequest, n, f.file.Size), nil
	case f.maxBytes > 0 && n > f.maxBytes:
		return fmt.Errorf("%w: more than %d bytes", ErrFileTooLarge, f.maxBytes), nil
	}
	return nil, mw.Close()
}

// envelopeLength is the length of everything in the body but the file's
// bytes, found by writing the same form, with the same boundary and an empty
// file, into a counter.
func (f *uploadForm) envelopeLength(boundary string) int64 {
	var counter countingWriter
	mw := multipart.NewWriter(&counter)
	if err := mw.SetBoundary(boundary); err != nil {
		panic(err) // the boundary came from multipart.NewWriter
	}
	for _, field := range f.fields {
		_ = mw.WriteField(field.name, field.value)
	}
	_, _ = mw.CreateFormFile("file", f.fileName())
	_ = mw.Close()
	return counter.n
}

// checkSize refuses, before any budget is spent, a file whose declared size
// is over the cap.
func (f *uploadForm) checkSize() error {
	if f.file.Content == nil {
		return fmt.Errorf("%w: no file content", ErrInvalidRequest)
	}
	if f.file.Size < 0 {
		return fmt.Errorf("%w: negative file size %d", ErrInvalidRequest, f.file.Size)
	}
	if f.maxBytes > 0 && f.file.Size > f.maxBytes {
		return fmt.Errorf("%w: %d bytes, over the %d-byte cap", ErrFileTooLarge, f.file.Size, f.maxBytes)
	}
	return nil
}

// sourceReader remembers the caller's read error, to tell it from a failure
// of the request.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.err = err
	}
	return n, err
}

// copyReadingAhead copies src to dst like io.Copy, but reads src on a
// goroutine of its own, up to readAheadBuffers buffers ahead of dst. An io.Pipe
// write waits until the request has taken every byte, so with a plain copy the
// file is not read (nor, through importfile.Reader, validated: most of an
// upload's work) while the request is writing to the connection; this way
// both go on at once. It returns only once src is no longer read, whatever
// happened: the caller may close the file then.
func copyReadingAhead(dst io.Writer, src io.Reader) (written int64, err error) {
	type chunk struct {
		b   []byte
		err error // after b; io.EOF at the end
	}
	full := make(chan chunk, readAheadBuffers)
	free := make(chan []byte, readAheadBuffers)
	for range readAheadBuffers {
		free <- make([]byte, copyBufferSize)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			// Fill the buffer, so that the request gets large writes.
			n, err := io.ReadFull(src, buf)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			select {
			case full <- chunk{buf[:n], err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	for {
		c := <-full
		if len(c.b) > 0 {
			n, err := dst.Write(c.b)
			written += int64(n)
			if err != nil {
				return written, err
			}
		}
		switch {
		case errors.Is(c.err, io.EOF):
			return written, nil
		case c.err != nil:
			return written, c.err
		}
		free <- c.b[:cap(c.b)]
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
