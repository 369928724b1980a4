package importfile

// The `lines` format: one customer id per line, converted on the fly to the
// vendor's audience JSON Lines. Blanks (spaces and tabs) around an id are
// dropped, since a stray one in a hand-made list is never meant to be part of
// the id; an id that needs them must be written as jsonl.

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
