package importfile

import (
	"encoding/binary"
	"math/bits"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON strings and the text of a line: scanning, escapes, counting
// characters, and the UTF-8 check every line goes through.

// strPlain marks the bytes that can stand for themselves inside a JSON string.
var strPlain = func() (t [256]bool) {
	for i := 0x20; i < 256; i++ {
		t[i] = true
	}
	t['"'], t['\\'] = false, false
	return t
}()

// str reads a string at c.i (which holds '"') and returns its raw content and
// whether it holds escapes.
func (c *cursor) str() (s []byte, escaped, ok bool) {
	b := c.b
	start := c.i + 1
	i := start
	for {
		// Eight bytes at a time while none of them can end the plain run.
		for i+8 <= len(b) {
			if m := stringStops(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			c.fail(faultBadString).hint = "the string is not closed"
			return nil, false, false
		}
		switch b[i] {
		case '"':
			c.i = i + 1
			return b[start:i], escaped, true
		case '\\':
			escaped = true
			if i+1 < len(b) {
				switch b[i+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					i += 2
					continue
				case 'u':
					if i+6 <= len(b) && isHex(b[i+2]) && isHex(b[i+3]) && isHex(b[i+4]) && isHex(b[i+5]) {
						i += 6
						continue
					}
				}
			}
			c.i = i
			c.fail(faultBadString).hint = `invalid escape in a string: a backslash must be followed by one of " \ / b f n r t or uXXXX`
			return nil, false, false
		default:
			c.i = i
			c.fail(faultBadString).hint = `a control character inside a string must be escaped (write \n, \t or \u00XX)`
			return nil, false, false
		}
	}
}

// stringStops flags (in the top bit of each byte) the bytes of w, eight bytes
// read little-endian, that end a plain run in a string: '"', '\\' and control
// characters. A flag can be wrong only above a right one, so the lowest flag
// is exact, and that is the one used.
func stringStops(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	return ((quote-ones)&^quote | (backslash-ones)&^backslash | (w-ones*0x20)&^w) & highs
}

func isHex(ch byte) bool {
	return '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F'
}

func hexVal(ch byte) rune {
	switch {
	case ch <= '9':
		return rune(ch - '0')
	case ch <= 'F':
		return rune(ch - 'A' + 10)
	}
	return rune(ch - 'a' + 10)
}

func hex4(s []byte) rune {
	return hexVal(s[0])<<12 | hexVal(s[1])<<8 | hexVal(s[2])<<4 | hexVal(s[3])
}

// chars counts the characters (Unicode code points) of a string's raw
// content, an escape counting as the one character it stands for. Only called
// for strings longer than MaxValueChars bytes, since a string never has more
// characters than bytes.
func (c *cursor) chars(s []byte, escaped bool) int {
	if !escaped {
		if c.ascii {
			return len(s)
		}
		return utf8.RuneCount(s)
	}
	n := 0
	for i := 0; i < len(s); n++ {
		if s[i] != '\\' {
			_, size := utf8.DecodeRune(s[i:])
			i += size
			continue
		}
		if s[i+1] != 'u' {
			i += 2
			continue
		}
		i += 6
		if _, ok := surrogatePair(s, i); ok {
			i += 6 // a surrogate pair is one character
		}
	}
	return n
}

// appendUnescaped decodes a string's raw content (already checked by str) the
// way encoding/json does: a lone surrogate becomes U+FFFD.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		ch := s[i]
		if ch != '\\' {
			dst = append(dst, ch)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r = utf8.RuneError
				if pair, ok := surrogatePair(s, i); ok {
					r = pair
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

// surrogatePair decodes the escape at s[i:] as the low half of a surrogate
// pair whose high half is the \uXXXX escape just before i.
func surrogatePair(s []byte, i int) (rune, bool) {
	if i < 6 || i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
		return 0, false
	}
	r := utf16.DecodeRune(hex4(s[i-4:]), hex4(s[i+2:]))
	return r, r != unicode.ReplacementChar
}

// isASCII reports whether b holds only ASCII bytes, eight at a time.
func isASCII(b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// checkText reports whether a line is valid UTF-8, and whether it is plain
// ASCII (the common case, checked eight bytes at a time). Lines must be UTF-8:
// the vendor reads text, and a JSON decoder would quietly turn bad bytes into
// U+FFFD.
func checkText(line []byte) (ascii, valid bool) {
	if isASCII(line) {
		return true, true
	}
	return false, utf8.Valid(line)
}

// notUTF8 describes a line that checkText found invalid.
func notUTF8(line []byte) fault {
	return fault{code: faultNotUTF8, n1: int64(charColumn(line, firstInvalidUTF8(line)))}
}
