package importfile

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// A fast path for the lines nearly every file is made of: the compact shape
// that JSON encoders write, with the keys in the documented order and no
// whitespace,
//
//	{"customer_id":"…","changes":[{"op":"assign","attr":"…","value":…},…]}
//	{"customer_id":"…"}
//
// It matches the structure as fixed text instead of walking it key by key,
// and checks UTF-8 only where it can occur (inside strings), not over the
// whole line first.
//
// It only ever accepts. For anything else, valid or not (other key orders,
// whitespace, escaped keys, long strings, floats, ...), it says no and the
// caller runs the general tokenizer over the whole line from the start, so
// every error, and every decision on a line outside the shape, is still the
// general tokenizer's. What this file must guarantee is the converse: a line
// it accepts is one the general tokenizer accepts, with the same
// HasIncrement. The tests in fastpath_test.go hold the two to that.

// The fixed text of the compact shape. It is compared where it is used, as
// string(b[i:i+len(text)]) == text: a comparison with a constant, which the
// compiler turns into a word compare or two, where a helper taking the text as
// an argument would call memequal.
const (
	fastLineStart = `{"customer_id":"`
	fastChanges   = `,"changes":[`
	fastOpKey     = `{"op":"`
	fastAttrKey   = `,"attr":"`
	fastValueKey  = `,"value":`
)

// fastProfileLine accepts a compact profile line at the start of b and
// returns its length: the line is b[:n], and the caller checks that it ends
// there (n == len(b), or a line break at b[n]). Nothing the fast path accepts
// holds a line break (strings stop at control characters, the rest is fixed
// text, digits and the few bytes between them), so a match never runs on into
// the next line, and the scanner can match lines straight from its buffer
// before it has looked for their ends. increment reports an "increment"
// change, as profileLine does.
func fastProfileLine(b []byte) (n int, increment, ok bool) {
	if len(b) < len(fastLineStart) || string(b[:len(fastLineStart)]) != fastLineStart {
		return 0, false, false
	}
	i, ok := fastNonEmptyString(b, len(fastLineStart))
	if !ok || i+len(fastChanges) > len(b) || string(b[i:i+len(fastChanges)]) != fastChanges {
		return 0, false, false
	}
	i += len(fastChanges)
	for {
		var op opKind
		if i, op, ok = fastChange(b, i); !ok {
			return 0, false, false
		}
		increment = increment || op == opIncrement
		if i < len(b) && b[i] == ',' {
			i++
			continue
		}
		// The changes end with "]}", and so does the line.
		if i+2 > len(b) || b[i] != ']' || b[i+1] != '}' {
			return 0, false, false
		}
		return i + 2, increment, true
	}
}

// fastAudienceLine accepts a compact audience line, {"customer_id":"…"}, at
// the start of b and returns its length, as fastProfileLine does.
func fastAudienceLine(b []byte) (n int, ok bool) {
	if len(b) < len(fastLineStart) || string(b[:len(fastLineStart)]) != fastLineStart {
		return 0, false
	}
	i, ok := fastNonEmptyString(b, len(fastLineStart))
	if !ok || i >= len(b) || b[i] != '}' {
		return 0, false
	}
	return i + 1, true
}

// fastChange accepts one change, {"op":"…","attr":"…"[,"value":…]}, at b[i],
// and returns the index after it.
func fastChange(b []byte, i int) (next int, op opKind, ok bool) {
	if i+len(fastOpKey) > len(b) || string(b[i:i+len(fastOpKey)]) != fastOpKey {
		return 0, opNone, false
	}
	i += len(fastOpKey)
	op, n := fastOp(b[i:])
	if i += n; op == opNone || i+len(fastAttrKey) > len(b) || string(b[i:i+len(fastAttrKey)]) != fastAttrKey {
		return 0, opNone, false
	}
	i += len(fastAttrKey)
	if i, ok = fastNonEmptyString(b, i); !ok {
		return 0, opNone, false
	}
	if op != opDelete { // delete takes no value; the others need one
		if i+len(fastValueKey) > len(b) || string(b[i:i+len(fastValueKey)]) != fastValueKey {
			return 0, opNone, false
		}
		if i, ok = fastValue(b, i+len(fastValueKey), op); !ok {
			return 0, opNone, false
		}
	}
	if i >= len(b) || b[i] != '}' {
		return 0, opNone, false
	}
	return i + 1, op, true
}

// fastOp reads an op written without escapes, with its closing quote, and
// returns how many bytes that took; opNone if there is none.
func fastOp(b []byte) (opKind, int) {
	const assign, increment, setAdd, setRemove, del = `assign"`, `increment"`, `set-add"`, `set-remove"`, `delete"`
	switch {
	case len(b) >= len(assign) && string(b[:len(assign)]) == assign:
		return opAssign, len(assign)
	case len(b) >= len(increment) && string(b[:len(increment)]) == increment:
		return opIncrement, len(increment)
	case len(b) >= len(setAdd) && string(b[:len(setAdd)]) == setAdd:
		return opSetAdd, len(setAdd)
	case len(b) >= len(setRemove) && string(b[:len(setRemove)]) == setRemove:
		return opSetRemove, len(setRemove)
	case len(b) >= len(del) && string(b[:len(del)]) == del:
		return opDelete, len(del)
	}
	return opNone, 0
}

// fastValue accepts the value of a change with op at b[i], of the type the op
// takes, and returns the index after it.
func fastValue(b []byte, i int, op opKind) (next int, ok bool) {
	if i >= len(b) {
		return 0, false
	}
	switch {
	case b[i] == '"' && op == opAssign:
		return fastShortString(b, i+1)
	case b[i] == '[' && op.isSet():
		return fastSet(b, i+1)
	case op == opAssign || op == opIncrement:
		return fastInt(b, i)
	}
	return 0, false
}

// fastSet accepts the elements of a set-add or set-remove array after its
// '[', all strings or all integers, and returns the index after its ']'.
func fastSet(b []byte, i int) (next int, ok bool) {
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	strs := i < len(b) && b[i] == '"'
	for {
		if strs {
			if i >= len(b) || b[i] != '"' {
				return 0, false
			}
			i, ok = fastShortString(b, i+1)
		} else {
			i, ok = fastInt(b, i)
		}
		switch {
		case !ok || i >= len(b):
			return 0, false
		case b[i] == ']':
			return i + 1, true
		case b[i] != ',':
			return 0, false
		}
		i++
	}
}

// fastInt accepts an integer (no fraction, no exponent: the caller checks
// that a delimiter follows) that fits in an int64, at b[i].
func fastInt(b []byte, i int) (next int, ok bool) {
	start := i
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
		return 0, false
	}
	return i, fitsInt64(b[start:i])
}

// fastNonEmptyString accepts a non-empty string (a customer id or an
// attribute name) whose content starts at b[i], just after its opening quote,
// and returns the index after the closing quote.
func fastNonEmptyString(b []byte, i int) (next int, ok bool) {
	next, ok = fastString(b, i)
	return next, ok && next > i+1
}

// fastShortString accepts a string value of at most MaxValueChars bytes: a
// longer one may still be short enough in characters, which only the general
// tokenizer counts.
func fastShortString(b []byte, i int) (next int, ok bool) {
	next, ok = fastString(b, i)
	return next, ok && next-i-1 <= MaxValueChars
}

// fastString accepts a string's content from b[i] (just after its opening
// quote) and returns the index after its closing quote. Plain ASCII goes
// eight bytes at a time; escapes are checked as str checks them, and
// non-ASCII as UTF-8, since the fast path skips the check of the whole line.
func fastString(b []byte, i int) (next int, ok bool) {
	for {
		for i+8 <= len(b) {
			if m := fastStringStops(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(b) && strPlain[b[i]] && b[i] < utf8.RuneSelf {
			i++
		}
		if i >= len(b) {
			return 0, false
		}
		switch ch := b[i]; {
		case ch == '"':
			return i + 1, true
		case ch == '\\':
			n := escapeLen(b[i:])
			if n == 0 {
				return 0, false
			}
			i += n
		case ch >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false
			}
			i += size
		default: // a control character
			return 0, false
		}
	}
}

// fastStringStops is stringStops that also flags non-ASCII bytes, which the
// fast path must check as UTF-8.
func fastStringStops(w uint64) uint64 {
	return stringStops(w) | w&0x8080808080808080
}

// escapeLen returns the length of the valid escape at the start of s (which
// holds '\\'), or 0 if it is not one.
func escapeLen(s []byte) int {
	if len(s) < 2 {
		return 0
	}
	switch s[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(s) >= 6 && isHex(s[2]) && isHex(s[3]) && isHex(s[4]) && isHex(s[5]) {
			return 6
		}
	}
	return 0
}
