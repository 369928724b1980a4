package importfile

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// crossCheckSeeds are valid lines of each JSON format; the cross-check breaks
// them in every place it can think of.
var crossCheckSeeds = map[Format][]string{
	FormatProfileJSON: {
		`{"customer_id":"abc","changes":[{"op":"assign","attr":"a","value":"v"}]}`,
		`{"customer_id":"1","changes":[{"op":"increment","attr":"n","value":-12}]}`,
		`{"customer_id":"x","changes":[{"op":"set-add","attr":"s","value":["a","b"]},{"op":"delete","attr":"d"}]}`,
		`{ "changes" : [ { "value" : [ 1 , 2 ] , "attr" : "s" , "op" : "set-remove" } ] , "customer_id" : "é\u00e9" }`,
		`{"customer_id":"q\"\\","changes":[{"op":"assign","attr":"a","value":0}]}`,
	},
	FormatAudienceJSONL: {
		`{"customer_id":"abc"}`,
		` { "customer_id" : "a\u0062\n" } `,
	},
}

// crossCheckPieces are inserted at, or put in place of, every byte of a seed.
var crossCheckPieces = []string{
	`"`, `\`, `,`, `:`, `{`, `}`, `[`, `]`, ` `, "\t", "\r", "\x00", "\x1f", "\x7f",
	`0`, `1`, `-`, `+`, `.`, `e`, `E`, `t`, `n`, `u`, `/`,
	`\u`, `\ud800`, `\udc00`, `\u0041`, `é`, "\u2028", `true`, `null`, `1.5`, `1e2`,
	`99999999999999999999`, `""`, `[]`, `{}`, `"x"`, `,"op":"delete"`, `,"value":1`,
	`,"customer_id":"z"`, `,"extra":1`, `"increment"`, `"set-add"`, `"delete"`,
}

// mutations returns seed broken in many ways: each byte deleted, each piece
// inserted before each byte, each byte replaced by each piece.
func mutations(seed string) []string {
	out := []string{seed}
	for i := 0; i <= len(seed); i++ {
		if i < len(seed) {
			out = append(out, seed[:i]+seed[i+1:])
		}
		for _, p := range crossCheckPieces {
			out = append(out, seed[:i]+p+seed[i:])
			if i < len(seed) {
				out = append(out, seed[:i]+p+seed[i+1:])
			}
		}
	}
	return out
}

// decideLine runs the fast scanner on one non-blank line.
func decideLine(s *scanner, line []byte) bool {
	return s.checkLine(line)
}

// TestCrossCheckWithEncodingJSON holds the hand-written tokenizer to
// encoding/json: every line that encoding/json finds malformed must be
// rejected, and on well-formed JSON the decision must match the reference
// rules applied to what encoding/json decoded.
func TestCrossCheckWithEncodingJSON(t *testing.T) {
	for f, seeds := range crossCheckSeeds {
		t.Run(string(f), func(t *testing.T) {
			g := NewWithT(t)
			s := newScanner(nil, f, false)
			var checked, wellFormed, accepted int
			for _, seed := range seeds {
				for _, line := range mutations(seed) {
					if len(bytes.Trim([]byte(line), " \t\r")) == 0 {
						continue // blank lines are skipped, not judged
					}
					checked++
					got := decideLine(s, []byte(line))
					ok, _, _ := refLine([]byte(line), f)
					if json.Valid([]byte(line)) {
						wellFormed++
					} else {
						g.Expect(got).To(BeFalse(), "malformed JSON accepted: %q", line)
					}
					g.Expect(got).To(Equal(ok), "line %q: scanner says %v, reference %v (%s)", line, got, ok, s.f.message([]byte(line)))
					if got {
						accepted++
					}
				}
			}
			t.Logf("%d lines: %d well-formed JSON, %d accepted", checked, wellFormed, accepted)
			// The mutations must exercise both sides of each decision.
			g.Expect(wellFormed).To(BeNumerically(">", checked/10))
			g.Expect(accepted).To(BeNumerically(">", len(seeds)))
		})
	}
}

// TestCrossCheckTable names the cases a JSON tokenizer classically gets
// wrong, each with encoding/json's verdict on its syntax.
func TestCrossCheckTable(t *testing.T) {
	wrap := func(v string) string {
		return `{"customer_id":"a","changes":[{"op":"assign","attr":"a","value":` + v + `}]}`
	}
	audience := func(v string) string { return `{"customer_id":` + v + `}` }
	tests := map[string]struct {
		line string
		want bool
	}{
		"integer zero":              {line: wrap(`0`), want: true},
		"negative zero":             {line: wrap(`-0`), want: true},
		"leading zero":              {line: wrap(`00`)},
		"plus sign":                 {line: wrap(`+1`)},
		"bare minus":                {line: wrap(`-`)},
		"fraction without integer":  {line: wrap(`.5`)},
		"exponent without digits":   {line: wrap(`1e`)},
		"hex number":                {line: wrap(`0x1F`)},
		"NaN":                       {line: wrap(`NaN`)},
		"infinity":                  {line: wrap(`Infinity`)},
		"escaped solidus":           {line: wrap(`"a\/b"`), want: true},
		"every simple escape":       {line: wrap(`"\"\\\/\b\f\n\r\t"`), want: true},
		"upper-case unicode escape": {line: wrap(`"\u00E9"`), want: true},
		"lone surrogate":            {line: wrap(`"\ud800"`), want: true},
		"escaped NUL":               {line: wrap(`"\u0000"`), want: true},
		"raw NUL":                   {line: wrap("\"a\x00\"")},
		"raw DEL":                   {line: wrap("\"a\x7f\""), want: true},
		"raw line separator":        {line: wrap("\"a\u2028\""), want: true},
		"escaped single quote":      {line: wrap(`"\'"`)},
		"CR inside the line":        {line: audience("\r\"a\"\r"), want: true},
		"form feed as space":        {line: audience("\f\"a\"")},
		"comment":                   {line: audience(`"a"`) + ` // x`},
		"unquoted key":              {line: `{customer_id:"a"}`},
		"missing comma":             {line: `{"customer_id":"a" "changes":[{"op":"delete","attr":"a"}]}`},
		"double comma":              {line: `{"customer_id":"a",,"changes":[{"op":"delete","attr":"a"}]}`},
		"unclosed object":           {line: `{"customer_id":"a","changes":[{"op":"delete","attr":"a"}]`},
		"closing bracket mismatch":  {line: `{"customer_id":"a","changes":[{"op":"delete","attr":"a"}}}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			f := FormatProfileJSON
			if !strings.Contains(tc.line, "changes") {
				f = FormatAudienceJSONL
			}
			s := newScanner(nil, f, false)
			got := decideLine(s, []byte(tc.line))
			g.Expect(got).To(Equal(tc.want))
			ref, _, _ := refLine([]byte(tc.line), f)
			g.Expect(ref).To(Equal(tc.want), "reference")
			if !json.Valid([]byte(tc.line)) {
				g.Expect(got).To(BeFalse(), "encoding/json finds it malformed")
			}
		})
	}
}

// TestCrossCheckCSVWithEncodingCSV breaks CSV files at every byte and holds
// the whole result (counts, error lines, output) to the reference, which
// parses with encoding/csv.
func TestCrossCheckCSVWithEncodingCSV(t *testing.T) {
	seeds := []string{
		"id,email,plan\n1,a@x.com,pro\n2,\"b,c\",\"say \"\"hi\"\"\"\n3,\"multi\nline\",x\n",
		"id,a\r\n1,\"x\r\ny\"\r\n\r\n2,z",
	}
	pieces := []string{`"`, `""`, `,`, "\n", "\r", "\r\n", " ", "\xff", "é", ""}
	checked := 0
	for _, seed := range seeds {
		for i := 0; i <= len(seed); i++ {
			for _, p := range pieces {
				checkAgainstReference(t, []byte(seed[:i]+p+seed[i:]), FormatProfileCSV)
				if i < len(seed) {
					checkAgainstReference(t, []byte(seed[:i]+p+seed[i+1:]), FormatProfileCSV)
				}
				checked++
			}
		}
	}
	t.Logf("%d CSV files checked", checked)
}
