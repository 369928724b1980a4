package importfile

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// faultCode names one way a line can be wrong. Every message a person sees is
// written in lineError below, in one place, so that they read alike.
type faultCode uint8

const (
	_ faultCode = iota // the zero fault is no fault
	// Whole-line problems.
	faultTooLong    // n1: length in bytes
	faultNotUTF8    // n1: column of the first bad byte
	faultNotObject  // kind: what the line holds instead
	faultLooksJSON  // a `lines` file line that is a JSON object
	faultSyntax     // hint: what was expected; pos: where
	faultTrailing   // pos: text after the object
	faultBadString  // hint: what is wrong in the string; pos
	faultBadNumber  // pos, text: the malformed number
	faultBadLiteral // pos
	// Shape problems, located by the field path.
	faultUnknownKey   // text: the key; hint: the keys allowed
	faultDuplicateKey // hint: the key
	faultMissingKey   // hint: the key
	faultWrongType    // hint: what is wanted; kind, text: what was found
	faultMessage      // hint: the whole message
	faultUnknownOp    // text: the op
	faultValueType    // op, kind, text
	faultElemType     // op, kind, text
	faultMixedSet     // op
	faultValueTooLong // n1: characters
	faultIntRange     // text: the integer
	// CSV problems.
	faultBareQuote
	faultBadQuote
	faultUnclosedQuote
	faultColumnCount // n1: columns in the row, n2: in the header
	faultRecordTooLong
	faultHeaderShort
	faultDuplicateColumn // hint: the name; n1: the column that has it first
)

// fault is a cheap description of why a line is invalid: static strings,
// integers and a slice of the line. Building the readable LineError (with fmt)
// is left to lineError, which runs only for the errors a Report keeps, so that
// a file of a million bad lines costs no million allocations.
type fault struct {
	code faultCode
	pos  int // byte offset in the line, for "column N" in syntax errors

	// Where: a JSON path (key, change index, element index) or a CSV column.
	// Counted from 1 so that the zero fault concerns the whole line.
	key    string // "customer_id", "changes", "op", "attr", "value" or ""
	change int    // 1 + index in "changes", or 0
	elem   int    // 1 + index in an array value, or 0
	column int    // CSV: 1-based column, or 0

	op     opKind
	kind   valueKind
	n1, n2 int64
	text   []byte // borrowed from the line or a scratch buffer: copy before keeping
	hint   string
}

// lineError writes the fault for a person. line is the line the fault was found
// in (for column numbers); header names CSV columns and may be nil.
func (f *fault) lineError(lineNo int64, line []byte, header []string) LineError {
	return LineError{Line: lineNo, Field: f.field(header), Message: f.message(line)}
}

func (f *fault) field(header []string) string {
	if f.column > 0 {
		s := "column " + strconv.Itoa(f.column)
		if f.column <= len(header) && header[f.column-1] != "" {
			s += " (" + clip(header[f.column-1]) + ")"
		}
		return s
	}
	s := ""
	if f.change > 0 {
		s = "changes[" + strconv.Itoa(f.change-1) + "]"
		if f.key != "" {
			s += "."
		}
	}
	s += f.key
	if f.elem > 0 {
		s += "[" + strconv.Itoa(f.elem-1) + "]"
	}
	return s
}

func (f *fault) message(line []byte) string {
	at := func() string { return "invalid JSON at column " + strconv.Itoa(charColumn(line, f.pos)) + ": " }
	switch f.code {
	case faultTooLong:
		return fmt.Sprintf("the line is %d bytes long; the limit is %d bytes (1 MiB)", f.n1, MaxLineBytes)
	case faultRecordTooLong:
		return fmt.Sprintf("the row is longer than %d bytes (1 MiB)", MaxLineBytes)
	case faultNotUTF8:
		return "the text is not valid UTF-8 at column " + strconv.FormatInt(f.n1, 10) + "; save the file as UTF-8"
	case faultNotObject:
		return "a line must be a JSON object, got " + f.got()
	case faultLooksJSON:
		return `the line looks like a JSON object, not a customer id; use sourceFormat "jsonl" for JSON Lines`
	case faultSyntax:
		return at() + "expected " + f.hint + ", found " + describeByteAt(line, f.pos)
	case faultTrailing:
		return at() + "unexpected text after the end of the object"
	case faultBadString:
		return at() + f.hint
	case faultBadNumber:
		return at() + "malformed number " + strconv.Quote(clip(string(f.text)))
	case faultBadLiteral:
		return at() + "expected true, false or null"
	case faultUnknownKey:
		return "unknown key " + strconv.Quote(clip(string(f.text))) + "; expected " + f.hint
	case faultDuplicateKey:
		return "key " + strconv.Quote(f.hint) + " appears twice"
	case faultMissingKey:
		return "missing " + strconv.Quote(f.hint)
	case faultWrongType:
		return "must be " + f.hint + ", got " + f.got()
	case faultMessage:
		return f.hint
	case faultUnknownOp:
		return "unknown op " + strconv.Quote(clip(string(f.text))) + "; use assign, increment, set-add, set-remove or delete"
	case faultValueType:
		if f.op == opNone {
			return "must be a string, an integer or an array of strings or integers, got " + f.got()
		}
		return f.op.String() + " needs " + f.op.wants() + ", got " + f.got()
	case faultElemType:
		return "array elements must be strings or integers, got " + f.got()
	case faultMixedSet:
		if f.op == opNone {
			return "array elements must be all strings or all integers, not both"
		}
		return f.op.String() + " needs all strings or all integers, not both"
	case faultValueTooLong:
		return fmt.Sprintf("the value is %d characters long; the limit is %d", f.n1, MaxValueChars)
	case faultIntRange:
		return "integer " + clip(string(f.text)) + " does not fit in 64 bits"
	case faultBareQuote:
		return `a quote (") in a field that does not start with one; quote the whole field and double each quote inside it`
	case faultBadQuote:
		return `a quoted field must end with a quote followed by a comma or the end of the line; double each quote inside it`
	case faultUnclosedQuote:
		return "the quoted field is never closed"
	case faultColumnCount:
		return fmt.Sprintf("the row has %d columns; the header has %d", f.n1, f.n2)
	case faultHeaderShort:
		return "the header needs at least one attribute column after the customer id column"
	case faultDuplicateColumn:
		return fmt.Sprintf("attribute %q is also column %d", clip(f.hint), f.n1)
	}
	return "invalid line"
}

// got names the value found where another was wanted; numbers and literals are
// shown as written, since "got 1.5" says more than "got number".
func (f *fault) got() string {
	switch f.kind {
	case kindFloat, kindBool, kindNull:
		return clip(string(f.text))
	case kindInt:
		return "integer " + clip(string(f.text))
	}
	return f.kind.String()
}

// maxQuoted is how much of a file's text a message repeats: errors end up in
// the resource's status, which must stay small whatever the file holds.
const maxQuoted = 64

// clip shortens text from the file for a message.
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// charColumn turns a byte offset into the 1-based column an editor shows.
func charColumn(line []byte, pos int) int {
	if pos > len(line) {
		pos = len(line)
	}
	return utf8.RuneCount(line[:pos]) + 1
}

func firstInvalidUTF8(line []byte) int {
	for i := 0; i < len(line); {
		r, n := utf8.DecodeRune(line[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(line)
}

func describeByteAt(line []byte, pos int) string {
	if pos >= len(line) {
		return "the end of the line"
	}
	r, _ := utf8.DecodeRune(line[pos:])
	return strconv.QuoteRune(r)
}
