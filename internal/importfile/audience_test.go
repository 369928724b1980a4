package importfile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestAudienceJSONLLines(t *testing.T) {
	tests := map[string]struct {
		line    string
		wantErr string // "" for a valid line
	}{
		"vendor example":         {line: `{"customer_id":"abc"}`},
		"whitespace around keys": {line: ` { "customer_id" : "abc123" } `},
		"escaped id":             {line: `{"customer_id":"a\"b\u00e9"}`},
		"plain id, as in a lines file": {
			line:    `abc123`,
			wantErr: `line 1: invalid JSON at column 1: expected '{' (each line must be a JSON object), found 'a'`,
		},
		"a string, not an object": {line: `"abc"`, wantErr: `line 1: a line must be a JSON object, got string`},
		"extra key": {
			line:    `{"customer_id":"abc","email":"a@b.c"}`,
			wantErr: `line 1: unknown key "email"; expected only "customer_id"`,
		},
		"id a number":  {line: `{"customer_id":123}`, wantErr: `line 1: customer_id: must be a string, got integer 123`},
		"id empty":     {line: `{"customer_id":""}`, wantErr: `line 1: customer_id: must not be empty`},
		"id missing":   {line: `{}`, wantErr: `line 1: missing "customer_id"`},
		"id twice":     {line: `{"customer_id":"a","customer_id":"b"}`, wantErr: `line 1: key "customer_id" appears twice`},
		"curly quotes": {line: `{“customer_id”:“abc”}`, wantErr: `line 1: invalid JSON at column 2: expected a quoted key or '}', found '“'`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(firstError(t, FormatAudienceJSONL, tc.line)).To(Equal(tc.wantErr))
			ref := refValidate([]byte(tc.line), FormatAudienceJSONL)
			if tc.wantErr == "" {
				g.Expect(ref.InvalidLines).To(BeZero(), "the reference rejects the line")
			} else {
				g.Expect(ref.InvalidLines).To(BeEquivalentTo(1), "the reference accepts the line")
			}
		})
	}
}

func TestAudienceLinesConversion(t *testing.T) {
	tests := map[string]struct {
		line    string
		wantOut string // the converted line, without its "\n"
		wantErr string
	}{
		"plain id":                  {line: "abc123", wantOut: `{"customer_id":"abc123"}`},
		"blanks around the id":      {line: " \tabc \t", wantOut: `{"customer_id":"abc"}`},
		"inner blanks kept":         {line: "a b", wantOut: `{"customer_id":"a b"}`},
		"quote and backslash":       {line: `a"b\c`, wantOut: `{"customer_id":"a\"b\\c"}`},
		"control characters":        {line: "a\x01b\x1fc\x7f", wantOut: `{"customer_id":"a\u0001b\u001fc` + "\x7f" + `"}`},
		"carriage return inside":    {line: "a\rb", wantOut: `{"customer_id":"a\rb"}`},
		"non-ASCII kept as UTF-8":   {line: "José-東京-😀", wantOut: `{"customer_id":"José-東京-😀"}`},
		"looks like HTML, no issue": {line: "<a&b>", wantOut: `{"customer_id":"<a&b>"}`},
		"a JSON line in a lines file": {
			line:    `{"customer_id":"abc"}`,
			wantErr: `line 1: the line looks like a JSON object, not a customer id; use sourceFormat "jsonl" for JSON Lines`,
		},
		"not UTF-8": {line: "ab\xc3", wantErr: `line 1: the text is not valid UTF-8 at column 3; save the file as UTF-8`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(firstError(t, FormatAudienceLines, tc.line)).To(Equal(tc.wantErr))
			out, rep, err := readAll(tc.line+"\n", FormatAudienceLines, SkipInvalid)
			g.Expect(err).NotTo(HaveOccurred())
			if tc.wantErr != "" {
				g.Expect(out).To(BeEmpty())
				g.Expect(rep.InvalidLines).To(BeEquivalentTo(1))
				return
			}
			g.Expect(out).To(Equal(tc.wantOut + "\n"))
			// What we produce is what the vendor reads: JSON that decodes
			// back to the id, and that this package accepts as jsonl.
			var v struct {
				CustomerID string `json:"customer_id"`
			}
			g.Expect(json.Unmarshal([]byte(out), &v)).To(Succeed())
			g.Expect(v.CustomerID).To(Equal(strings.Trim(tc.line, " \t")))
			g.Expect(validate(t, FormatAudienceJSONL, out).ValidLines).To(BeEquivalentTo(1))
		})
	}
}

func TestAppendAudienceLineEscapesEveryASCIIByte(t *testing.T) {
	g := NewWithT(t)
	var all []byte
	for ch := 0; ch < 0x80; ch++ {
		all = append(all, byte(ch))
	}
	for _, id := range []string{string(all), "\"", "\\", "\u2028é"} {
		out := appendAudienceLine(nil, []byte(id))
		var v struct {
			CustomerID string `json:"customer_id"`
		}
		g.Expect(json.Unmarshal(out, &v)).To(Succeed(), string(out))
		g.Expect(v.CustomerID).To(Equal(id))
		g.Expect(out).To(HaveSuffix("}\n"))
	}
}

func TestAudienceLinesFile(t *testing.T) {
	g := NewWithT(t)
	input := "\xef\xbb\xbfa\r\n\r\n  \nb\n{\"customer_id\":\"c\"}\nd" // BOM, CRLF, blank lines, no final break
	out, rep, err := readAll(input, FormatAudienceLines, SkipInvalid)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(`{"customer_id":"a"}` + "\n" + `{"customer_id":"b"}` + "\n" + `{"customer_id":"d"}` + "\n"))
	g.Expect(rep.Lines).To(BeEquivalentTo(4))
	g.Expect(rep.ValidLines).To(BeEquivalentTo(3))
	g.Expect(errorTexts(rep)).To(ConsistOf(HavePrefix("line 5: the line looks like a JSON object")))

	// Every output line is valid jsonl.
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		g.Expect(json.Valid(sc.Bytes())).To(BeTrue(), sc.Text())
	}
}

func TestAudienceLinesKeepDuplicatesOnce(t *testing.T) {
	var many strings.Builder
	for i := range 200_000 {
		fmt.Fprintf(&many, "cust-%d\n", i)
	}
	tests := map[string]struct {
		input          string
		wantIDs        []string // what a Reader passes on, in order
		wantDuplicates int64
		wantInvalid    int64
	}{
		"no repeat":               {input: "a\nb\nc\n", wantIDs: []string{"a", "b", "c"}},
		"a repeat":                {input: "a\nb\na\n", wantIDs: []string{"a", "b"}, wantDuplicates: 1},
		"first-seen order":        {input: "c\nb\nc\na\nb\nc", wantIDs: []string{"c", "b", "a"}, wantDuplicates: 3},
		"blanks around":           {input: "a\n  a\t\n\ta \n", wantIDs: []string{"a"}, wantDuplicates: 2},
		"blank lines between":     {input: "a\n\n  \n\na\n", wantIDs: []string{"a"}, wantDuplicates: 1},
		"CRLF and LF":             {input: "a\r\nb\na\r\nb\r\n", wantIDs: []string{"a", "b"}, wantDuplicates: 2},
		"byte order mark":         {input: "\xef\xbb\xbfa\na\n", wantIDs: []string{"a"}, wantDuplicates: 1},
		"case makes ids distinct": {input: "abc\nAbc\nABC\nabc\n", wantIDs: []string{"abc", "Abc", "ABC"}, wantDuplicates: 1},
		"inner blanks count":      {input: "a b\nab\na  b\n", wantIDs: []string{"a b", "ab", "a  b"}},
		"escaped ids":             {input: "a\"b\\c\na\"b\\c\n", wantIDs: []string{`a"b\c`}, wantDuplicates: 1},
		"invalid lines are no ids": {
			input:   `{"customer_id":"a"}` + "\n" + `{"customer_id":"a"}` + "\na\n",
			wantIDs: []string{"a"}, wantInvalid: 2,
		},
		// Enough ids for the set to grow many times; each is found again after.
		"many ids, twice": {input: many.String() + many.String(), wantIDs: nil, wantDuplicates: 200_000},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			rep := validate(t, FormatAudienceLines, tc.input)
			out, readerRep, err := readAll(tc.input, FormatAudienceLines, SkipInvalid)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(equalReports(readerRep, rep)).To(BeTrue(), "Reader %+v, Validate %+v", readerRep, rep)

			ids := audienceIDs(t, out)
			if tc.wantIDs != nil {
				g.Expect(ids).To(Equal(tc.wantIDs))
			} else {
				g.Expect(ids).To(HaveLen(200_000))
			}
			g.Expect(rep.DuplicateLines).To(Equal(tc.wantDuplicates), "duplicate lines")
			g.Expect(rep.InvalidLines).To(Equal(tc.wantInvalid), "invalid lines")
			g.Expect(rep.ValidLines).To(BeEquivalentTo(len(ids)), "a duplicate is not valid")
			g.Expect(rep.Lines).To(Equal(rep.ValidLines + rep.InvalidLines + rep.DuplicateLines))

			// A duplicate is no error: Strict passes on the same, unless a
			// line is invalid.
			if tc.wantInvalid == 0 {
				strictOut, _, err := readAll(tc.input, FormatAudienceLines, Strict)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(strictOut).To(Equal(out))
			}
		})
	}
}

func TestAudienceJSONLPassesDuplicatesOn(t *testing.T) {
	g := NewWithT(t)
	input := `{"customer_id":"a"}` + "\n" + `{"customer_id":"a"}` + "\n" + `{ "customer_id" : "a" }` + "\n"
	out, rep, err := readAll(input, FormatAudienceJSONL, SkipInvalid)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(input), "jsonl is the vendor's format, passed on unchanged")
	g.Expect(rep.ValidLines).To(BeEquivalentTo(3))
	g.Expect(rep.DuplicateLines).To(BeZero())
}
