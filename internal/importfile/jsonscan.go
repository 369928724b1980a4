package importfile

// This file and jsonstring.go are a small JSON tokenizer over one line. It
// checks exactly the shapes the import files need instead of decoding into
// structs: that is what makes validation run at hundreds of MB/s with no
// allocation per line, where encoding/json manages about 60 MB/s. It accepts
// and rejects what RFC 8259 (and encoding/json) does; the cross-check and fuzz
// tests hold it to that.

// valueKind is the JSON type of a value, as far as the import rules care.
type valueKind uint8

const (
	kindNone valueKind = iota // not a JSON value
	kindString
	kindInt // a number written without fraction or exponent
	kindFloat
	kindBool
	kindNull
	kindArray
	kindObject
)

func (k valueKind) String() string {
	switch k {
	case kindString:
		return "string"
	case kindInt:
		return "integer"
	case kindFloat:
		return "number"
	case kindBool:
		return "boolean"
	case kindNull:
		return "null"
	case kindArray:
		return "array"
	case kindObject:
		return "object"
	}
	return "invalid JSON"
}

// kindAt guesses a value's kind from its first byte; numbers are refined by num.
func kindAt(ch byte) valueKind {
	switch {
	case ch == '"':
		return kindString
	case ch == '{':
		return kindObject
	case ch == '[':
		return kindArray
	case ch == 't' || ch == 'f':
		return kindBool
	case ch == 'n':
		return kindNull
	case ch == '-' || ('0' <= ch && ch <= '9'):
		return kindInt
	}
	return kindNone
}

// cursor walks one line. Checks stop at the first problem, which fail records
// in f together with the path being checked.
type cursor struct {
	b     []byte
	i     int
	ascii bool // the line is pure ASCII, so characters can be counted as bytes
	f     *fault

	// The path of the value being checked, copied into a fault.
	key    string
	change int
	elem   int

	scratch []byte // unescaped keys and ops; reused across lines
}

func (c *cursor) reset(line []byte, ascii bool) {
	c.b, c.i, c.ascii = line, 0, ascii
	c.key, c.change, c.elem = "", -1, -1
}

func (c *cursor) fail(code faultCode) *fault {
	*c.f = fault{code: code, pos: c.i, key: c.key, change: c.change + 1, elem: c.elem + 1}
	return c.f
}

func (c *cursor) syntax(expected string) bool {
	c.fail(faultSyntax).hint = expected
	return false
}

// peek returns the byte at the cursor, or 0 at the end of the line: a raw
// NUL is invalid wherever peek looks, so the two need no telling apart.
func (c *cursor) peek() byte {
	if c.i < len(c.b) {
		return c.b[c.i]
	}
	return 0
}

// ws skips JSON whitespace.
func (c *cursor) ws() {
	i, b := c.i, c.b
	if i < len(b) && b[i] > ' ' {
		return // the common case: no whitespace at all
	}
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	c.i = i
}

// openObject consumes '{' (already peeked) and reports whether a key follows.
func (c *cursor) openObject() (more, ok bool) {
	c.i++
	c.ws()
	switch c.peek() {
	case '}':
		c.i++
		return false, true
	case '"':
		return true, true
	}
	return false, c.syntax(`a quoted key or '}'`)
}

// nextMember consumes what follows a member's value: ',' and the next key's
// quote, or the closing '}'.
func (c *cursor) nextMember() (more, ok bool) {
	c.ws()
	switch c.peek() {
	case ',':
		c.i++
		c.ws()
		if c.peek() == '"' {
			return true, true
		}
		return false, c.syntax("a quoted key")
	case '}':
		c.i++
		return false, true
	}
	return false, c.syntax(`',' or '}'`)
}

// nextElement consumes what follows an array element: ',' or the closing ']'.
func (c *cursor) nextElement() (more, ok bool) {
	c.ws()
	switch c.peek() {
	case ',':
		c.i++
		c.ws()
		return true, true
	case ']':
		c.i++
		return false, true
	}
	return false, c.syntax(`',' or ']'`)
}

// memberKey reads `"key" :` and returns the key's index in keys. An unknown key
// is a fault: hint lists the keys allowed.
func (c *cursor) memberKey(keys []string, hint string) (int, bool) {
	k := c.plainKey(keys)
	if k < 0 {
		s, escaped, ok := c.str()
		if !ok {
			return 0, false
		}
		if escaped {
			c.scratch = appendUnescaped(c.scratch[:0], s)
			s = c.scratch
		}
		for j, name := range keys {
			if string(s) == name {
				k = j
				break
			}
		}
		if k < 0 {
			c.i -= len(s) // point the column at the key
			f := c.fail(faultUnknownKey)
			f.text, f.hint = s, hint
			return 0, false
		}
	}
	c.ws()
	if c.peek() != ':' {
		return 0, c.syntax(`':' after the key`)
	}
	c.i++
	c.ws()
	return k, true
}

// plainKey is memberKey's fast path: a known key written without escapes,
// which is how nearly every file writes every key.
func (c *cursor) plainKey(keys []string) int {
	i, b := c.i+1, c.b
	for j, name := range keys {
		end := i + len(name)
		if end < len(b) && b[end] == '"' && string(b[i:end]) == name {
			c.i = end + 1
			return j
		}
	}
	return -1
}

// duplicate records a key seen twice. encoding/json keeps the last one and the
// vendor's parser may not: a person should decide, not the parser.
func (c *cursor) duplicate(name string) bool {
	c.fail(faultDuplicateKey).hint = name
	return false
}

// num reads a number at c.i and tells an integer (no fraction, no exponent)
// from any other number.
func (c *cursor) num() (text []byte, kind valueKind, ok bool) {
	b := c.b
	start := c.i
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
	default:
		return nil, 0, c.badNumber(start, i)
	}
	kind = kindInt
	if i < len(b) && b[i] == '.' {
		kind = kindFloat
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, 0, c.badNumber(start, i)
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		kind = kindFloat
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, 0, c.badNumber(start, i)
		}
	}
	c.i = i
	return b[start:i], kind, true
}

func (c *cursor) badNumber(start, end int) bool {
	// Show the malformed number up to the next delimiter.
	for end < len(c.b) && !isDelimiter(c.b[end]) {
		end++
	}
	c.i = start
	c.fail(faultBadNumber).text = c.b[start:end]
	return false
}

func isDelimiter(ch byte) bool {
	switch ch {
	case ',', ']', '}', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// fitsInt64 reports whether an integer's text (as num returned it) fits in an
// int64, without parsing: the vendor stores 64-bit integers.
func fitsInt64(text []byte) bool {
	limit := "9223372036854775807"
	digits := text
	if digits[0] == '-' {
		limit = "9223372036854775808"
		digits = digits[1:]
	}
	if len(digits) != len(limit) {
		return len(digits) < len(limit)
	}
	return string(digits) <= limit
}

// literal reads true, false or null at c.i.
func (c *cursor) literal() (text []byte, kind valueKind, ok bool) {
	rest := c.b[c.i:]
	for _, lit := range [...]struct {
		text string
		kind valueKind
	}{{"true", kindBool}, {"false", kindBool}, {"null", kindNull}} {
		if len(rest) >= len(lit.text) && string(rest[:len(lit.text)]) == lit.text {
			c.i += len(lit.text)
			return rest[:len(lit.text)], lit.kind, true
		}
	}
	c.fail(faultBadLiteral)
	return nil, 0, false
}

// scalar reads a string, number or literal at c.i. For a string, text is its
// raw content.
func (c *cursor) scalar() (text []byte, kind valueKind, escaped, ok bool) {
	switch kindAt(c.peek()) {
	case kindString:
		text, escaped, ok = c.str()
		return text, kindString, escaped, ok
	case kindInt:
		text, kind, ok = c.num()
		return text, kind, false, ok
	case kindBool, kindNull:
		text, kind, ok = c.literal()
		return text, kind, false, ok
	}
	return nil, kindNone, false, c.syntax("a value")
}

// wrongType records that the value at c.i is not what the path needs, naming
// what it is instead. A scalar is read first so that a malformed one is
// reported as the syntax error it is.
func (c *cursor) wrongType(code faultCode, want string, op opKind) bool {
	pos := c.i
	var text []byte
	k := kindAt(c.peek())
	switch k {
	case kindNone:
		return c.syntax("a value")
	case kindString, kindInt, kindBool, kindNull:
		var ok bool
		if text, k, _, ok = c.scalar(); !ok {
			return false
		}
	}
	c.i = pos
	f := c.fail(code)
	f.hint, f.kind, f.text, f.op = want, k, text, op
	return false
}
