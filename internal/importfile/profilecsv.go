package importfile

import (
	"bytes"
	"unicode/utf8"
)

// The rules for a profile file in CSV (format csv): a header row whose first
// column is the customer id and whose other columns are attribute names, then
// one row per customer assigning those attributes. Quoting follows
// encoding/csv (RFC 4180, strict quotes): a field that starts with a quote
// ends with a quote, a quote inside it is doubled, and it may span lines. A
// stray quote elsewhere is an error, and like encoding/csv the reader then
// goes on with the next line. Empty lines between rows are skipped.

var lineBreak = []byte{'\n'}

// csvRecord follows one CSV record (the header or a row) across the lines it
// spans, without keeping its fields: it counts characters per field and stops
// at the first problem, while still finding where the record ends.
type csvRecord struct {
	f *fault

	header     []string // the column names, once the header was read
	headerRead bool     // the first record was read
	headerBad  bool     // ... and is unusable, so no row can be checked

	isHeader bool
	open     bool // inside a quoted field that goes on in the next line
	field    int  // 0-based index of the field being read
	chars    int  // characters read so far in that field
	size     int  // bytes of the record so far, inner line breaks included
	faulted  bool
	name     []byte // the header field being read
	ignored  fault  // where fail writes once the record has its first fault
}

// begin starts a record; the first one is the header.
func (p *csvRecord) begin() {
	p.isHeader = !p.headerRead
	p.open, p.field, p.chars, p.size, p.faulted = false, 0, 0, 0, false
	if p.isHeader {
		p.header = p.header[:0]
		p.name = p.name[:0]
	}
}

// fail records the record's first problem; column 0 means the whole record.
func (p *csvRecord) fail(code faultCode, column int) *fault {
	if p.faulted {
		return &p.ignored // keep the first problem
	}
	p.faulted = true
	*p.f = fault{code: code, column: column}
	return p.f
}

// line reads one physical line of the record and reports whether the record
// ends with it. ascii says the line is pure ASCII, so characters are bytes.
func (p *csvRecord) line(line []byte, ascii bool) (done bool) {
	i := 0
	quoted := p.open
	if p.open {
		p.open = false
		p.text(lineBreak, true) // the line break belongs to the quoted field
	}
	for {
		if !quoted {
			if i < len(line) && line[i] == '"' {
				quoted = true
				i++
				continue
			}
			end := len(line)
			if j := bytes.IndexByte(line[i:], ','); j >= 0 {
				end = i + j
			}
			field := line[i:end]
			if bytes.IndexByte(field, '"') >= 0 {
				p.fail(faultBareQuote, p.field+1)
				return true
			}
			p.text(field, ascii)
			p.endField()
			if end == len(line) {
				return true
			}
			i = end + 1
			continue
		}
		j := bytes.IndexByte(line[i:], '"')
		if j < 0 {
			p.text(line[i:], ascii)
			p.open = true
			return false
		}
		p.text(line[i:i+j], ascii)
		i += j + 1
		switch {
		case i < len(line) && line[i] == '"': // a doubled quote stands for one
			p.text(line[i:i+1], true)
			i++
		case i < len(line) && line[i] == ',':
			p.endField()
			quoted = false
			i++
		case i == len(line):
			p.endField()
			return true
		default:
			p.fail(faultBadQuote, p.field+1)
			return true
		}
	}
}

// text adds a piece of the current field.
func (p *csvRecord) text(s []byte, ascii bool) {
	if p.isHeader {
		p.name = append(p.name, s...)
	}
	if ascii {
		p.chars += len(s)
	} else {
		p.chars += utf8.RuneCount(s)
	}
}

func (p *csvRecord) endField() {
	switch {
	case p.isHeader:
		p.header = append(p.header, string(p.name))
		p.name = p.name[:0]
	case p.field == 0 && p.chars == 0:
		p.fail(faultMessage, 1).hint = "the customer id is empty"
	case p.field > 0 && p.chars > MaxValueChars:
		p.fail(faultValueTooLong, p.field+1).n1 = int64(p.chars)
	}
	p.field++
	p.chars = 0
}

// finish checks what can only be checked once the record is complete, and
// reports whether it is valid.
func (p *csvRecord) finish() bool {
	if p.isHeader {
		p.headerRead = true
		p.checkHeader()
		p.headerBad = p.faulted
		return !p.faulted
	}
	if p.headerBad {
		return false
	}
	if !p.faulted && p.field != len(p.header) {
		f := p.fail(faultColumnCount, 0)
		f.n1, f.n2 = int64(p.field), int64(len(p.header))
	}
	return !p.faulted
}

func (p *csvRecord) checkHeader() {
	if p.faulted {
		return
	}
	if len(p.header) < 2 {
		p.fail(faultHeaderShort, 0)
		return
	}
	columns := make(map[string]int, len(p.header))
	for i, name := range p.header[1:] {
		column := i + 2
		if name == "" {
			p.fail(faultMessage, column).hint = "the attribute name is empty"
			return
		}
		if first, ok := columns[name]; ok {
			f := p.fail(faultDuplicateColumn, column)
			f.hint, f.n1 = name, int64(first)
			return
		}
		columns[name] = column
	}
}
