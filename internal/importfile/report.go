package importfile

import "strconv"

const (
	// MaxLineBytes is the longest line (or CSV record) accepted, without its line
	// break. Longer lines are reported as invalid, never buffered whole: the
	// limit is what bounds a validator's memory whatever the file holds.
	MaxLineBytes = 1 << 20
	// MaxReportedErrors is how many LineErrors a Report keeps. Every invalid
	// line is still counted in InvalidLines.
	MaxReportedErrors = 20
	// MaxValueChars is the longest attribute value, in Unicode code points,
	// that the profile API accepts.
	MaxValueChars = 255
)

// Report sums up one pass over a file.
type Report struct {
	// Lines counts the records found: non-blank lines, or for CSV the rows
	// after the header (a quoted field may make one row span several lines).
	Lines int64
	// ValidLines and InvalidLines split Lines, with DuplicateLines.
	ValidLines, InvalidLines int64
	// DuplicateLines counts, for `lines` files only, the lines whose customer
	// id an earlier line of the file had already: they are neither valid nor
	// invalid, and not passed on, so Lines = ValidLines + InvalidLines +
	// DuplicateLines. Other formats pass on what they are given and leave it 0.
	DuplicateLines int64
	// Bytes is the size of the source, every byte included.
	Bytes int64
	// Digest is "sha256:<hex>" of the source bytes, set once the end of the
	// source was reached.
	Digest string
	// HasIncrement says a valid line holds an "increment" change: uploading
	// such a file twice applies it twice.
	HasIncrement bool
	// Errors holds the first MaxReportedErrors problems, in line order.
	Errors []LineError
	// Parts is how the file was cut into uploads, for a pass made with
	// CutInto; zero otherwise.
	Parts Parts
}

// LineError says why one line of a source file is invalid.
type LineError struct {
	// Line is the 1-based line number in the source file, blank lines
	// included, so that it matches what an editor shows. For a CSV row that
	// spans lines it is the row's first line.
	Line int64
	// Field is where in the line the problem is, e.g. "changes[1].value" or
	// `column 3 (email)`; empty when it concerns the whole line.
	Field string
	// Message says what is wrong, in words meant for the person fixing the file.
	Message string
}

func (e *LineError) Error() string {
	s := "line " + strconv.FormatInt(e.Line, 10) + ": "
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Message
}
