package localytics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"sync"
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

// chunkSize is the size of the reads from the file, and so of the writes to
// the connection: large, so that each costs the sender and the receiver few
// system calls and hand-offs (1 MiB sent 8% faster than 256 KiB, see
// docs/benchmarks.md).
const chunkSize = 1 << 20

// readAheadChunks is how many chunks the file may be read ahead of the
// connection, and so (times chunkSize) its share of an upload's memory. The
// buffers are made as they are needed: a small file takes one.
const readAheadChunks = 3

// formBody is the request body of an upload: the form's envelope, written
// out in advance, around the file, which a goroutine of its own reads (and,
// through importfile.Reader, validates: most of an upload's work) up to
// readAheadChunks chunks ahead of the connection, so that both go on at once.
//
// The transport sends it with WriteTo, one write per chunk and no copy in
// between; Read serves a transport that reads instead (with a Content-Length,
// net/http reads through an io.LimitedReader). It is used by one goroutine at
// a time, but Close may come from another.
type formBody struct {
	contentType string
	// length is the exact body length, or -1 when unknown.
	length int64

	head, tail []byte // the envelope before and after the file
	chunks     *readAhead
	cur        []byte // the unsent rest of the current chunk
	curBuf     []byte // the whole buffer cur is in, to give back once sent
	fileDone   bool
	err        error // sticky: io.EOF at the end, or why the body failed
	closeOnce  sync.Once
}

// open starts reading the file. The caller must call finish.
func (f *uploadForm) open() *formBody {
	var envelope bytes.Buffer
	mw := multipart.NewWriter(&envelope)
	// Writing to a bytes.Buffer does not fail.
	for _, field := range f.fields {
		_ = mw.WriteField(field.name, field.value)
	}
	_, _ = mw.CreateFormFile("file", f.fileName())
	headLen := envelope.Len()
	_ = mw.Close()
	all := envelope.Bytes()
	b := &formBody{
		contentType: mw.FormDataContentType(),
		length:      -1,
		head:        all[:headLen],
		tail:        all[headLen:],
		chunks:      startReadAhead(f.file, f.maxBytes),
	}
	if f.file.Size > 0 {
		b.length = int64(len(all)) + f.file.Size
	}
	return b
}

// WriteTo implements io.WriterTo.
func (b *formBody) WriteTo(w io.Writer) (written int64, err error) {
	for {
		p, err := b.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return written, err
		}
		n, err := w.Write(p)
		written += int64(n)
		b.advance(n)
		if err != nil {
			return written, err
		}
	}
}

// Read implements io.Reader.
func (b *formBody) Read(p []byte) (int, error) {
	q, err := b.next()
	if err != nil {
		return 0, err
	}
	n := copy(p, q)
	b.advance(n)
	return n, nil
}

// next returns the next bytes to send (the head, the rest of a chunk of the
// file, or the tail), waiting for the file if need be; io.EOF at the end.
func (b *formBody) next() ([]byte, error) {
	for {
		switch {
		case b.err != nil:
			return nil, b.err
		case len(b.head) > 0:
			return b.head, nil
		case len(b.cur) > 0:
			return b.cur, nil
		case !b.fileDone:
			if b.curBuf != nil {
				b.chunks.recycle(b.curBuf)
				b.curBuf = nil
			}
			c, ok := b.chunks.next()
			switch {
			case !ok:
				b.err = errBodyClosed
			case errors.Is(c.err, io.EOF):
				b.fileDone = true
				b.cur, b.curBuf = c.b, c.b
			case c.err != nil:
				b.err = c.err
			default:
				b.cur, b.curBuf = c.b, c.b
			}
		case len(b.tail) > 0:
			return b.tail, nil
		default:
			b.err = io.EOF
		}
	}
}

// advance marks the first n bytes of what next returned as sent.
func (b *formBody) advance(n int) {
	switch {
	case len(b.head) > 0:
		b.head = b.head[n:]
	case len(b.cur) > 0:
		b.cur = b.cur[n:]
	default:
		b.tail = b.tail[n:]
	}
}

// Close implements io.Closer. The transport closes the body when it is done
// with it, whatever happened; reading the file stops.
func (b *formBody) Close() error {
	b.closeOnce.Do(b.chunks.stop)
	return nil
}

// finish stops reading the file if that is still going on (the request
// ended early), waits until it is no longer read, and returns the error
// reading it, if any: a read error, a length other than declared, or more
// bytes than the cap.
func (b *formBody) finish() error {
	_ = b.Close()
	return b.chunks.wait()
}

var errBodyClosed = errors.New("the upload body was closed")

func (f *uploadForm) fileName() string {
	if f.file.Name != "" {
		return f.file.Name
	}
	return f.defaultName
}

// readAhead reads a file in chunks on a goroutine of its own, a few chunks
// ahead of their consumer.
type readAhead struct {
	full     chan chunk
	free     chan []byte
	stopping chan struct{}
	done     chan struct{}
	err      error // the file's, set before done is closed
}

type chunk struct {
	b   []byte
	err error // after b; io.EOF at the end
}

// startReadAhead starts reading file.Content, checking its length against
// file.Size when that is set, and otherwise against maxBytes when that is.
func startReadAhead(file UploadFile, maxBytes int64) *readAhead {
	ra := &readAhead{
		full:     make(chan chunk, readAheadChunks),
		free:     make(chan []byte, readAheadChunks),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}
	go ra.run(file, maxBytes)
	return ra
}

func (ra *readAhead) run(file UploadFile, maxBytes int64) {
	defer close(ra.done)
	limit := maxBytes
	if file.Size > 0 {
		limit = file.Size
	}
	src := file.Content
	if limit > 0 {
		// One byte more than allowed tells "too long" from "exactly right".
		src = io.LimitReader(src, limit+1)
	}
	var total int64
	made := 0
	for !ra.stopped() {
		var buf []byte
		select {
		case buf = <-ra.free:
		default:
			if made < readAheadChunks {
				buf = make([]byte, chunkSize)
				made++
			}
		}
		if buf == nil {
			select {
			case buf = <-ra.free:
			case <-ra.stopping:
				return
			}
		}
		// Fill the buffer, so that the connection gets large writes.
		n, err := io.ReadFull(src, buf)
		total += int64(n)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		if err == nil || errors.Is(err, io.EOF) {
			if lengthErr := checkLength(file.Size, maxBytes, total, err != nil); lengthErr != nil {
				err = lengthErr
			}
		}
		if ra.stopped() {
			// The body was closed while this was read: the request is over,
			// and whatever the read gave, or failed with, is not its cause.
			return
		}
		if err != nil && !errors.Is(err, io.EOF) {
			// Nothing more of a failed file is sent: the request fails.
			ra.err, n = err, 0
		}
		select {
		case ra.full <- chunk{buf[:n], err}:
		case <-ra.stopping:
			return
		}
		if err != nil {
			return
		}
	}
}

// stopped reports whether stop was called.
func (ra *readAhead) stopped() bool {
	select {
	case <-ra.stopping:
		return true
	default:
		return false
	}
}

// checkLength checks the bytes read so far, total, against the declared
// size (if > 0) or else the cap (if > 0); atEnd tells that the file ended.
func checkLength(size, maxBytes, total int64, atEnd bool) error {
	switch {
	case size > 0 && total > size:
		return fmt.Errorf("%w: the file is longer than its declared size of %d bytes", ErrInvalidRequest, size)
	case size > 0 && atEnd && total != size:
		return fmt.Errorf("%w: the file has %d bytes, not its declared %d", ErrInvalidRequest, total, size)
	case size == 0 && maxBytes > 0 && total > maxBytes:
		return fmt.Errorf("%w: more than %d bytes", ErrFileTooLarge, maxBytes)
	}
	return nil
}

// next returns the next chunk; false once the read-ahead was stopped.
func (ra *readAhead) next() (chunk, bool) {
	if ra.stopped() { // before a chunk that may be ready too
		return chunk{}, false
	}
	select {
	case c := <-ra.full:
		return c, true
	case <-ra.stopping:
		return chunk{}, false
	}
}

// recycle gives back the buffer of a chunk that was sent.
func (ra *readAhead) recycle(buf []byte) {
	ra.free <- buf[:cap(buf)]
}

func (ra *readAhead) stop() { close(ra.stopping) }

// wait returns once the file is no longer read, with its error if any.
func (ra *readAhead) wait() error {
	<-ra.done
	return ra.err
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
