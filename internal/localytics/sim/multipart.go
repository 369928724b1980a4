package sim

import (
	"bufio"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
)

// maxFieldBytes caps one non-file form field; the fields are ids and names.
const maxFieldBytes = 64 << 10

// multipartOverhead is what a multipart body may carry beyond its file: the
// fields and the part headers.
const multipartOverhead = 1 << 20

// uploadForm is a parsed multipart upload: the small fields in memory, the file
// spooled.
type uploadForm struct {
	fields map[string]string
	file   *spool // nil when the request had no file part
}

// readUploadForm streams a multipart/form-data body: it never holds the file in
// memory as ParseMultipartForm would (a large file goes to a spool from
// newSpool), counts the file's bytes and refuses with 413 past maxFile. early
// runs once, when the file part starts, with the fields seen so far, so a
// request whose fields are already wrong (403, 400) is refused before its file
// is read; it must ignore fields that are still missing.
func readUploadForm(w http.ResponseWriter, r *http.Request, maxFile int64, newSpool func() *spool,
	early func(map[string]string) *apiError,
) (*uploadForm, *apiError) {
	if r.ContentLength > maxFile+multipartOverhead {
		return nil, tooLarge(maxFile)
	}
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		return nil, errorf(http.StatusBadRequest, "expected a multipart/form-data body with a boundary")
	}
	// This is what r.MultipartReader does, with a large read buffer in front:
	// the multipart reader reads 4 KiB at a time, and a system call for each
	// would halve the upload rate.
	body := bufio.NewReaderSize(http.MaxBytesReader(w, r.Body, maxFile+multipartOverhead), 256<<10)
	mr := multipart.NewReader(body, params["boundary"])
	form := &uploadForm{fields: map[string]string{}}
	fail := func(e *apiError) (*uploadForm, *apiError) {
		form.discard()
		return nil, e
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return form, nil
		}
		if err != nil {
			return fail(bodyError(err, maxFile))
		}
		name := part.FormName()
		switch name {
		case "":
			// A part without a form name carries nothing we know; skip it.
		case "file":
			if form.file != nil {
				return fail(errorf(http.StatusBadRequest, "more than one file part"))
			}
			if e := early(form.fields); e != nil {
				return fail(e)
			}
			form.file = newSpool()
			n, err := io.Copy(form.file, io.LimitReader(part, maxFile+1))
			if err != nil {
				return fail(bodyError(err, maxFile))
			}
			if n > maxFile {
				return fail(tooLarge(maxFile))
			}
		default:
			if _, dup := form.fields[name]; dup {
				return fail(errorf(http.StatusBadRequest, "form field %q given more than once", name))
			}
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return fail(bodyError(err, maxFile))
			}
			if len(v) > maxFieldBytes {
				return fail(errorf(http.StatusBadRequest, "form field %q is longer than %d bytes", name, maxFieldBytes))
			}
			form.fields[name] = string(v)
		}
		_ = part.Close()
	}
}

// discard frees the spooled file of a refused upload.
func (f *uploadForm) discard() {
	if f != nil && f.file != nil {
		f.file.remove()
		f.file = nil
	}
}

func tooLarge(maxFile int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, "file too large: the limit is %d bytes", maxFile)
}

// bodyError classifies a failure while reading the body.
func bodyError(err error, maxFile int64) *apiError {
	var (
		mbe *http.MaxBytesError
		se  spoolError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(maxFile)
	case errors.As(err, &se):
		return errorf(http.StatusInternalServerError, "storing the upload: %v", se.error)
	}
	return errorf(http.StatusBadRequest, "reading the multipart body: %v", err)
}
