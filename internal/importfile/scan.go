package importfile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"slices"
)

// readBuffer is the size of the line buffer. Longer lines (up to MaxLineBytes) are
// gathered in a buffer of their own, so that memory grows only for files that
// have them.
const readBuffer = 64 << 10

// digestReader hashes and counts the source bytes as they are read, so the
// digest covers exactly the source, blank and invalid lines included.
type digestReader struct {
	r io.Reader
	h hash.Hash // nil: count only (WithoutDigest)
	n int64
}

func (d *digestReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if d.h != nil {
		d.h.Write(p[:n])
	}
	d.n += int64(n)
	return n, err
}

// scanner is the one pass over a source that Validate and Reader share: it
// splits lines, checks each record and keeps the Report.
type scanner struct {
	format Format
	emit   bool // the caller wants the records to pass on, not only counts
	stop   bool // the first invalid record ends the pass (Strict Reader)
	src    digestReader
	br     *bufio.Reader

	lineNo  int64 // physical lines read so far
	recLine int64 // the line the current record started on
	notFast int64 // a line that fastRun refused whole, not to be tried again
	report  Report
	done    bool

	f      fault // why the current record is invalid
	cur    cursor
	csv    csvRecord
	long   []byte // a line longer than the read buffer
	csvBuf []byte // a CSV record spanning lines, to pass on whole
	id     []byte // the customer id of the current line (FormatAudienceLines)
	ids    *idSet // the ids seen so far (FormatAudienceLines only)
	out    []byte // the converted line (FormatAudienceLines)

	cut      *cutter // CutInto
	from, to int64   // Records
}

var bom = []byte("\xef\xbb\xbf")

func newScanner(r io.Reader, f Format, emit bool) *scanner {
	s := &scanner{
		format: f,
		emit:   emit,
		src:    digestReader{r: r, h: sha256.New()},
	}
	s.br = bufio.NewReaderSize(&s.src, readBuffer)
	if f == FormatAudienceLines {
		s.ids = newIDSet()
	}
	s.cur.f = &s.f
	s.csv.f = &s.f
	return s
}

// snapshot returns the report so far; Bytes counts what was read from the
// source, which runs ahead of the lines checked by up to one buffer.
func (s *scanner) snapshot() Report {
	r := s.report
	r.Bytes = s.src.n
	r.Errors = slices.Clone(r.Errors)
	r.Parts = s.cut.snapshot()
	return r
}

// next moves to the next record. With emit it returns the next record to pass
// on (skipping invalid ones, or failing with the first one's *LineError if
// stop is set), as bytes valid until the following call, plus whether a line
// break must follow them. Without emit it returns after each record, with no
// bytes. At the end it returns io.EOF, or the source's error.
func (s *scanner) next() (rec []byte, addBreak bool, err error) {
	if s.format == FormatProfileCSV {
		return s.nextCSV()
	}
	for {
		if run, addBreak := s.fastRun(); len(run) > 0 {
			if skip, _ := s.window(s.report.Lines); skip {
				continue // a run never spans the window's start
			}
			return run, addBreak, nil
		}
		line, long, err := s.readLine()
		if err != nil {
			return nil, false, s.finish(err)
		}
		if long == 0 && isBlank(line) {
			continue
		}
		s.report.Lines++
		s.recLine = s.lineNo
		skip, stop := s.window(s.report.Lines)
		if stop {
			return nil, false, io.EOF
		}
		valid := false
		if long > 0 {
			s.f = fault{code: faultTooLong, n1: long}
		} else {
			valid = s.checkLine(line)
		}
		if !valid {
			if err := s.invalid(line); err != nil || !s.emit {
				return nil, false, err
			}
			continue
		}
		if s.format == FormatAudienceLines && s.ids.repeats(s.id) {
			s.report.DuplicateLines++
			continue
		}
		s.report.ValidLines++
		s.cut.took(s.report.Lines, s.recLine, int64(len(line))+1)
		if skip {
			continue
		}
		if s.format == FormatAudienceLines && s.emit {
			s.out = appendAudienceLine(s.out[:0], s.id)
			return s.out, false, nil
		}
		return line, true, nil
	}
}

// fastRun takes from the read buffer the run of whole lines that the fast
// path accepts, and counts them: files written by an encoder are made of such
// lines, and they pass on as they are, without a search for each line's end
// first (fastpath.go says why that is sound). A line ending in "\r\n" is
// taken alone, to be passed on without its "\r" (addBreak). It returns
// nothing when the next line is any other, or not in the buffer whole yet:
// readLine and checkLine take that line then, and checkLine does not try the
// fast path again on a line it refused here.
func (s *scanner) fastRun() (run []byte, addBreak bool) {
	if s.lineNo == 0 || s.format != FormatProfileJSON && s.format != FormatAudienceJSONL {
		return nil, false // the first line may start with a byte order mark
	}
	buf, _ := s.br.Peek(s.br.Buffered())
	i := 0
	for limit := s.fastLimit(); i < len(buf) && limit != 0; limit-- {
		var n int
		var ok, increment bool
		if s.format == FormatProfileJSON {
			n, increment, ok = fastProfileLine(buf[i:])
		} else {
			n, ok = fastAudienceLine(buf[i:])
		}
		end := i + n // the line break, if the fast path accepts the line
		crlf := ok && end+1 < len(buf) && buf[end] == '\r' && buf[end+1] == '\n'
		switch {
		case ok && end < len(buf) && buf[end] == '\n':
			s.took(increment, int64(n)+1)
			i = end + 1
			continue
		case crlf && i == 0:
			s.took(increment, int64(n)+1)
			_, _ = s.br.Discard(end + 2)
			return buf[:end], true
		case crlf: // taken alone, by the next call
		case bytes.IndexByte(buf[i:], '\n') >= 0:
			// The line is whole in the buffer (a match never spans a line
			// break) and not one for the fast path.
			s.notFast = s.lineNo + 1
		}
		break
	}
	_, _ = s.br.Discard(i) // buf stays valid until the next read
	return buf[:i], false
}

// took counts a line that the fast path accepted, which passes on size
// bytes.
func (s *scanner) took(increment bool, size int64) {
	s.report.HasIncrement = s.report.HasIncrement || increment
	s.lineNo++
	s.report.Lines++
	s.report.ValidLines++
	s.cut.took(s.report.Lines, s.lineNo, size)
}

// checkLine checks one non-blank line of a line-based format.
func (s *scanner) checkLine(line []byte) bool {
	// Most lines take the fast path (fastpath.go); it only accepts, so any
	// line it does not is checked again, from the start, below.
	switch fast := s.recLine != s.notFast; {
	case fast && s.format == FormatProfileJSON:
		if n, increment, ok := fastProfileLine(line); ok && n == len(line) {
			s.report.HasIncrement = s.report.HasIncrement || increment
			return true
		}
	case fast && s.format == FormatAudienceJSONL:
		if n, ok := fastAudienceLine(line); ok && n == len(line) {
			return true
		}
	}
	ascii, valid := checkText(line)
	if !valid {
		s.f = notUTF8(line)
		return false
	}
	switch s.format {
	case FormatProfileJSON:
		s.cur.reset(line, ascii)
		increment, ok := s.cur.profileLine()
		s.report.HasIncrement = s.report.HasIncrement || increment
		return ok
	case FormatAudienceJSONL:
		s.cur.reset(line, ascii)
		return s.cur.audienceLine()
	}
	id, ok := audienceID(line, &s.f)
	s.id = id
	return ok
}

// nextCSV is next for FormatProfileCSV, where a record may span lines and the
// first record is the header.
func (s *scanner) nextCSV() (rec []byte, addBreak bool, err error) {
	p := &s.csv
	for {
		rec, addBreak, last, err := s.readCSVRecord()
		if err != nil {
			return nil, false, s.finish(err)
		}
		isHeader := p.isHeader
		valid := p.finish()
		switch {
		case isHeader && !valid:
			// No row can be read without a header: report it once, and stop
			// a Reader in either mode, since nothing could be uploaded.
			e := s.f.lineError(s.recLine, last, p.header)
			s.addError(e)
			if s.emit {
				return nil, false, &e
			}
			return nil, false, nil
		case isHeader: // passed on, not counted
			s.cut.headerTook(int64(p.size) + 1) // its lines and breaks, as passed on
			if s.emit {
				return rec, addBreak, nil
			}
			return nil, false, nil
		}
		s.report.Lines++
		skip, stop := s.window(s.report.Lines)
		if stop {
			return nil, false, io.EOF
		}
		switch {
		case valid:
			s.report.ValidLines++
			s.cut.took(s.report.Lines, s.recLine, int64(p.size)+1)
			if skip {
				continue
			}
			return rec, addBreak, nil
		case p.headerBad: // counted, but the header's error says it all
			s.report.InvalidLines++
			if !s.emit {
				return nil, false, nil
			}
		default:
			if err := s.invalid(last); err != nil || !s.emit {
				return nil, false, err
			}
		}
	}
}

// readCSVRecord reads the lines of one record, checking it as it goes. rec is
// the record to pass on (when emitting) and last its last line, both valid
// until the next call.
func (s *scanner) readCSVRecord() (rec []byte, addBreak bool, last []byte, err error) {
	p := &s.csv
	for {
		line, long, err := s.readLine()
		if p.open && errors.Is(err, io.EOF) {
			p.fail(faultUnclosedQuote, p.field+1)
			p.open = false
			return s.csvBuf, false, nil, nil
		}
		if err != nil {
			return nil, false, nil, err
		}
		first := !p.open
		if first {
			if long == 0 && len(line) == 0 {
				continue // encoding/csv skips empty lines between records
			}
			p.begin()
			s.recLine = s.lineNo
			s.csvBuf = s.csvBuf[:0]
		}
		if long > 0 {
			// The line cannot be parsed: end the record here and hope the next
			// line starts a new one, as it does unless a quoted field spans it.
			p.fail(faultTooLong, 0).n1 = long
			p.open = false
			return nil, false, nil, nil
		}
		if !first {
			p.size++ // the line break inside the record
		}
		p.size += len(line)
		ascii, valid := checkText(line)
		if !valid {
			*p.fail(faultNotUTF8, 0) = notUTF8(line)
		}
		done := p.line(line, ascii)
		if p.size > MaxLineBytes {
			p.fail(faultRecordTooLong, 0)
		}
		if first && done {
			return line, true, line, nil
		}
		if s.emit && p.size <= MaxLineBytes {
			s.csvBuf = append(append(s.csvBuf, line...), '\n')
		}
		if done {
			return s.csvBuf, false, line, nil
		}
	}
}

// invalid counts the current record as invalid and keeps its error if there
// is room. With stop set it returns the error, to end the pass.
func (s *scanner) invalid(line []byte) error {
	s.report.InvalidLines++
	if len(s.report.Errors) >= MaxReportedErrors && !s.stop {
		return nil
	}
	e := s.f.lineError(s.recLine, line, s.csv.header)
	s.addError(e)
	if s.stop {
		return &e
	}
	return nil
}

func (s *scanner) addError(e LineError) {
	if len(s.report.Errors) < MaxReportedErrors {
		s.report.Errors = append(s.report.Errors, e)
	}
}

// readLine returns the next line without its line break or trailing "\r",
// valid until the next call. A line longer than MaxLineBytes is skipped over and
// long gives its length instead.
func (s *scanner) readLine() (line []byte, long int64, err error) {
	b, err := s.br.ReadSlice('\n')
	if err != nil { // rare: once per line longer than the buffer, and at the end
		if errors.Is(err, bufio.ErrBufferFull) {
			b, long, err = s.readLongLine(b)
		}
		if err != nil && (!errors.Is(err, io.EOF) || len(b) == 0 && long == 0) {
			return nil, 0, err
		}
	}
	s.lineNo++
	if long > 0 {
		return nil, long, nil
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if s.lineNo == 1 && bytes.HasPrefix(b, bom) {
		// Spreadsheet programs start UTF-8 files with a byte order mark; it is
		// not part of the first line, and the vendor's parser may choke on it.
		b = b[len(bom):]
	}
	if len(b) > MaxLineBytes {
		return nil, int64(len(b)), nil
	}
	return b, 0, nil
}

// readLongLine gathers a line that does not fit in the read buffer, whose
// start is b. If it cannot be within MaxLineBytes it is only counted: long is its
// length without the line break.
func (s *scanner) readLongLine(b []byte) (line []byte, long int64, err error) {
	room := MaxLineBytes + len(bom) + len("\r\n")
	s.long = append(s.long[:0], b...)
	n := len(b)
	prev := b[len(b)-1]
	for err = bufio.ErrBufferFull; errors.Is(err, bufio.ErrBufferFull); {
		if len(b) > 0 {
			prev = b[len(b)-1]
		}
		b, err = s.br.ReadSlice('\n')
		n += len(b)
		if len(s.long) <= room {
			s.long = append(s.long, b...)
		}
	}
	if n <= room {
		return s.long, 0, err
	}
	if len(b) > 0 && b[len(b)-1] == '\n' {
		n--
		if len(b) > 1 {
			prev = b[len(b)-2]
		}
		if prev == '\r' {
			n--
		}
	}
	return nil, int64(n), err
}

// isBlank reports a line of only spaces and tabs (and "\r", JSON whitespace).
func isBlank(line []byte) bool {
	for _, ch := range line {
		if ch != ' ' && ch != '\t' && ch != '\r' {
			return false
		}
	}
	return true
}

// finish ends the pass: at the end of the source it sets the digest.
func (s *scanner) finish(err error) error {
	if errors.Is(err, io.EOF) && !s.done {
		s.done = true
		if s.src.h != nil {
			s.report.Digest = "sha256:" + hex.EncodeToString(s.src.h.Sum(nil))
		}
	}
	return err
}
