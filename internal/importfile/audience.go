package importfile

import "hash/maphash"

// The `lines` format: one customer id per line, converted on the fly to the
// vendor's audience JSON Lines. Blanks (spaces and tabs) around an id are
// dropped, since a stray one in a hand-made list is never meant to be part of
// the id; an id that needs them must be written as jsonl. A repeated id is
// kept once: a list is a set, and a hand-made (or concatenated) list repeats
// ids often.

// idSet is the customer ids a pass over a `lines` file has seen, as 64-bit
// fingerprints rather than the ids themselves, so that it costs 11 to 21 bytes
// per distinct id (a slot of 8 bytes, at most 3/4 of them used) however long
// the ids are. A table of its own rather than a map[uint64]struct{}: it does
// not hash the fingerprint again, and it halves the time and memory.
// Two distinct ids share a fingerprint, and the second is wrongly dropped as
// a duplicate, with odds of about n²/2^65 for n distinct ids: 3·10^-6 for ten
// million. maphash rather than FNV: it is several times faster, and its seed
// is made per pass, so that no pair of ids collides in every pass, which
// would drop the same customer from every upload; Validate and a Reader of
// the same file agree but with those odds.
type idSet struct {
	seed  maphash.Seed
	slots []uint64 // open addressing with linear probing; 0 marks a free slot
	n     int
}

func newIDSet() *idSet {
	return &idSet{seed: maphash.MakeSeed(), slots: make([]uint64, 1<<10)}
}

// repeats reports whether id was seen before in this pass, and remembers it.
func (s *idSet) repeats(id []byte) bool {
	h := maphash.Bytes(s.seed, id)
	if h == 0 {
		h = 1 // 0 marks a free slot
	}
	if 4*(s.n+1) > 3*len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			s.n++
			return false
		case h:
			return true
		}
	}
}

func (s *idSet) grow() {
	old := s.slots
	s.slots = make([]uint64, 2*len(old))
	mask := uint64(len(s.slots) - 1)
	for _, h := range old {
		if h == 0 {
			continue
		}
		i := h & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = h
	}
}

// audienceID checks one line of a `lines` file and returns its customer id.
func audienceID(line []byte, f *fault) ([]byte, bool) {
	id := trimBlanks(line)
	// A JSON object here almost surely means the file is jsonl, declared as
	// lines; uploading it would create customers named `{"customer_id":...}`.
	if len(id) >= 2 && id[0] == '{' && id[len(id)-1] == '}' {
		*f = fault{code: faultLooksJSON}
		return nil, false
	}
	return id, true
}

// trimBlanks drops spaces and tabs around s (bytes.Trim builds a set on
// every call, which shows at millions of lines).
func trimBlanks(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// appendAudienceLine appends {"customer_id":"<id>"} and a line break, with id
// escaped as JSON requires. id is valid UTF-8 (checkText saw to it), so only
// quotes, backslashes and control characters need escaping.
func appendAudienceLine(dst, id []byte) []byte {
	dst = append(dst, `{"customer_id":"`...)
	start := 0
	for i, ch := range id {
		if ch >= 0x20 && ch != '"' && ch != '\\' {
			continue
		}
		dst = append(dst, id[start:i]...)
		start = i + 1
		switch ch {
		case '"', '\\':
			dst = append(dst, '\\', ch)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[ch>>4], hex[ch&0xf])
		}
	}
	dst = append(dst, id[start:]...)
	return append(dst, "\"}\n"...)
}
