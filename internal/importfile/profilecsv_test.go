package importfile

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestProfileCSV(t *testing.T) {
	const header = "customer_id,email,plan\n"
	tests := map[string]struct {
		input       string
		wantValid   int64
		wantInvalid int64
		wantErrors  []string
		wantOut     string // what a SkipInvalid Reader yields; defaults to the input
		badHeader   bool   // a Reader stops at once, in either mode
	}{
		"simple rows": {
			input:     header + "1,a@x.com,pro\n2,,free\n",
			wantValid: 2,
		},
		"quoted fields with commas, doubled quotes and line breaks": {
			input:     header + `1,"a,b@x.com","say ""hi"""` + "\n" + `2,"two` + "\n" + `lines",""` + "\n",
			wantValid: 2,
		},
		"CRLF line ends": {
			input:     "customer_id,email\r\n1,a\r\n2,\"x\r\ny\"\r\n",
			wantValid: 2,
			wantOut:   "customer_id,email\n1,a\n2,\"x\ny\"\n",
		},
		"empty lines skipped, no final line break": {
			input:     "\n" + header + "\n1,a,b\n\r\n\n2,c,d",
			wantValid: 2,
			wantOut:   header + "1,a,b\n2,c,d\n",
		},
		"byte order mark dropped": {
			input:     "\xef\xbb\xbf" + header + "1,a,b\n",
			wantValid: 1,
			wantOut:   header + "1,a,b\n",
		},
		"header only": {input: header},
		"empty file":  {input: ""},
		"value of 255 characters": {
			input:     header + "1," + strings.Repeat("ü", 255) + ",b\n",
			wantValid: 1,
		},

		"too few columns": {
			input:       header + "1,a\n2,b,c\n",
			wantValid:   1,
			wantInvalid: 1,
			wantErrors:  []string{"line 2: the row has 2 columns; the header has 3"},
		},
		"too many columns": {
			input:       header + "1,a,b,c\n",
			wantInvalid: 1,
			wantErrors:  []string{"line 2: the row has 4 columns; the header has 3"},
		},
		"a line of spaces is a row": {
			input:       header + "  \n",
			wantInvalid: 1,
			wantErrors:  []string{"line 2: the row has 1 columns; the header has 3"},
		},
		"empty customer id": {
			input:       header + ",a,b\n",
			wantInvalid: 1,
			wantErrors:  []string{"line 2: column 1 (customer_id): the customer id is empty"},
		},
		"empty quoted customer id": {
			input:       header + `"",a,b` + "\n",
			wantInvalid: 1,
			wantErrors:  []string{"line 2: column 1 (customer_id): the customer id is empty"},
		},
		"value of 256 characters": {
			input:       header + "1,a," + strings.Repeat("x", 256) + "\n",
			wantInvalid: 1,
			wantErrors:  []string{"line 2: column 3 (plan): the value is 256 characters long; the limit is 255"},
		},
		"quote inside an unquoted field": {
			input:       header + "1,a\"b,c\n2,d,e\n",
			wantValid:   1,
			wantInvalid: 1,
			wantErrors: []string{`line 2: column 2 (email): a quote (") in a field that does not start with one; ` +
				`quote the whole field and double each quote inside it`},
		},
		"text after a closing quote": {
			input:       header + "1,\"a\"b,c\n2,d,e\n",
			wantValid:   1,
			wantInvalid: 1,
			wantErrors: []string{`line 2: column 2 (email): a quoted field must end with a quote followed by a comma ` +
				`or the end of the line; double each quote inside it`},
		},
		"quoted field never closed": {
			input:       header + "1,a,b\n2,\"c,d\n3,e,f\n",
			wantValid:   1,
			wantInvalid: 1,
			wantErrors:  []string{"line 3: column 2 (email): the quoted field is never closed"},
		},
		"not UTF-8": {
			input:       header + "1,\xe9t\xe9,b\n",
			wantInvalid: 1,
			wantErrors:  []string{"line 2: the text is not valid UTF-8 at column 3; save the file as UTF-8"},
		},
		"the first problem of a row is the one reported": {
			input:       header + ",\"a\n\xff\",b\n",
			wantInvalid: 1,
			wantErrors:  []string{"line 2: column 1 (customer_id): the customer id is empty"},
		},
		"error lines count the lines of earlier multi-line rows": {
			input:       header + "1,\"a\nb\nc\",d\n,e,f\n",
			wantValid:   1,
			wantInvalid: 1,
			wantErrors:  []string{"line 5: column 1 (customer_id): the customer id is empty"},
		},

		"header without attributes": {
			input:       "customer_id\n1\n2\n",
			wantInvalid: 2,
			wantErrors:  []string{"line 1: the header needs at least one attribute column after the customer id column"},
			badHeader:   true,
		},
		"header with an empty attribute name": {
			input:       "customer_id,email,,plan\n1,a,b,c\n",
			wantInvalid: 1,
			wantErrors:  []string{"line 1: column 3: the attribute name is empty"},
			badHeader:   true,
		},
		"header with a duplicate attribute": {
			input:       "id,email,plan,email\n1,a,b,c\n",
			wantInvalid: 1,
			wantErrors:  []string{`line 1: column 4 (email): attribute "email" is also column 2`},
			badHeader:   true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			rep := validate(t, FormatProfileCSV, tc.input)
			g.Expect(rep.ValidLines).To(Equal(tc.wantValid), "valid lines")
			g.Expect(rep.InvalidLines).To(Equal(tc.wantInvalid), "invalid lines")
			g.Expect(rep.Lines).To(Equal(tc.wantValid + tc.wantInvalid))
			g.Expect(errorTexts(rep)).To(Equal(append([]string{}, tc.wantErrors...)))

			ref := refValidate([]byte(tc.input), FormatProfileCSV)
			g.Expect(ref.ValidLines).To(Equal(tc.wantValid), "reference: valid lines")
			g.Expect(ref.InvalidLines).To(Equal(tc.wantInvalid), "reference: invalid lines")

			out, _, err := readAll(tc.input, FormatProfileCSV, SkipInvalid)
			if tc.badHeader {
				g.Expect(err).To(MatchError(tc.wantErrors[0]), "a bad header stops a Reader")
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			if tc.wantOut == "" && tc.wantInvalid == 0 {
				tc.wantOut = tc.input
			}
			if tc.wantInvalid == 0 {
				g.Expect(out).To(Equal(tc.wantOut))
			}
			g.Expect(out).To(Equal(string(ref.Output)), "reference: output")
		})
	}
}
