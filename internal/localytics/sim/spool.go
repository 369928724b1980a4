package sim

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
)

// spoolMemory is how much of an upload stays in memory before it moves to a
// temporary file: tests and demos upload small files, benchmarks upload files
// far larger than the simulator should hold.
const spoolMemory = 4 << 20

// spool keeps an uploaded file from the moment its bytes arrive until its job
// is processed. Receiving only copies bytes, so an upload runs at the speed of
// the connection rather than of the parser.
type spool struct {
	dir string
	// discard counts the bytes and drops them (Config.DiscardUploads): a
	// sink for benchmarks, whose job then fails for want of its file.
	discard bool
	mem     bytes.Buffer
	file    *os.File
	// w batches the small writes of a multipart part (a few KiB each) into
	// large file writes: a system call per 4 KiB would halve the upload rate.
	w    *bufio.Writer
	size int64
}

// errDiscarded is why the job of a discarded upload fails.
var errDiscarded = errors.New("not stored: the simulator discards uploads (DiscardUploads, --discard-uploads)")

// spoolError is a failure to store an upload, as opposed to a failure of the
// client's body: the first is the simulator's fault (500), the second the
// client's (400).
type spoolError struct{ error }

func (e spoolError) Unwrap() error { return e.error }

func (sp *spool) Write(p []byte) (int, error) {
	n, err := sp.write(p)
	if err != nil {
		err = spoolError{err}
	}
	return n, err
}

func (sp *spool) write(p []byte) (int, error) {
	if sp.discard {
		sp.size += int64(len(p))
		return len(p), nil
	}
	if sp.file == nil && sp.mem.Len()+len(p) > spoolMemory {
		f, err := os.CreateTemp(sp.dir, "localytics-sim-upload-*")
		if err != nil {
			return 0, err
		}
		sp.file = f
		sp.w = bufio.NewWriterSize(f, 1<<20)
		if _, err := sp.w.Write(sp.mem.Bytes()); err != nil {
			return 0, err
		}
		sp.mem = bytes.Buffer{}
	}
	var n int
	var err error
	if sp.w != nil {
		n, err = sp.w.Write(p)
	} else {
		n, err = sp.mem.Write(p)
	}
	sp.size += int64(n)
	return n, err
}

// reader returns the spooled bytes from the start.
func (sp *spool) reader() (io.Reader, error) {
	if sp.discard {
		return nil, errDiscarded
	}
	if sp.file == nil {
		return bytes.NewReader(sp.mem.Bytes()), nil
	}
	if err := sp.w.Flush(); err != nil {
		return nil, err
	}
	if _, err := sp.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return sp.file, nil
}

// remove frees the spooled bytes.
func (sp *spool) remove() {
	sp.mem = bytes.Buffer{}
	if sp.file != nil {
		_ = sp.file.Close()
		_ = os.Remove(sp.file.Name())
		sp.file = nil
		sp.w = nil
	}
}
