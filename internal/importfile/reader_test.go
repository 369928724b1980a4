package importfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	. "github.com/onsi/gomega"
)

const (
	goodLine = `{"customer_id":"a","changes":[{"op":"assign","attr":"plan","value":"pro"}]}`
	incLine  = `{"customer_id":"b","changes":[{"op":"increment","attr":"visits","value":2}]}`
	badLine  = `{"customer_id":"c","changes":[{"op":"increment","attr":"visits","value":"2"}]}`
)

func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestReaderModes(t *testing.T) {
	input := goodLine + "\n" + badLine + "\n" + incLine + "\n"
	tests := map[string]struct {
		mode      Mode
		wantOut   string
		wantErr   string
		wantLines int64
	}{
		"SkipInvalid passes on the valid lines": {
			mode:      SkipInvalid,
			wantOut:   goodLine + "\n" + incLine + "\n",
			wantLines: 3,
		},
		"Strict stops at the first invalid line": {
			mode:      Strict,
			wantOut:   goodLine + "\n",
			wantErr:   "line 2: changes[0].value: increment needs an integer, got string",
			wantLines: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := NewReader(strings.NewReader(input), FormatProfileJSON, tc.mode)
			out, err := io.ReadAll(r)
			g.Expect(string(out)).To(Equal(tc.wantOut))
			rep := r.Report()
			g.Expect(rep.Lines).To(Equal(tc.wantLines))
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(rep.Digest).To(Equal(digestOf(input)))
				g.Expect(rep.HasIncrement).To(BeTrue())
				return
			}
			var lineErr *LineError
			g.Expect(errors.As(err, &lineErr)).To(BeTrue(), "a Strict Reader fails with a *LineError")
			g.Expect(lineErr.Line).To(BeEquivalentTo(2))
			g.Expect(err).To(MatchError(tc.wantErr))
			// The error sticks: an upload that reads on gets it again.
			_, err = r.Read(make([]byte, 10))
			g.Expect(err).To(MatchError(tc.wantErr))
		})
	}
}

func TestDigestIsOverTheSourceBytes(t *testing.T) {
	inputs := map[string]string{
		"empty":                       "",
		"valid lines":                 goodLine + "\n" + incLine + "\n",
		"invalid and blank lines":     "\n" + badLine + "\n  \n" + goodLine,
		"CRLF and a byte order mark":  "\xef\xbb\xbf" + goodLine + "\r\n" + goodLine + "\r\n",
		"larger than the read buffer": strings.Repeat(goodLine+"\n", 5000),
	}
	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			rep := validate(t, FormatProfileJSON, input)
			g.Expect(rep.Digest).To(Equal(digestOf(input)))
			g.Expect(rep.Bytes).To(BeEquivalentTo(len(input)))
			for _, mode := range []Mode{SkipInvalid, Strict} {
				r := NewReader(strings.NewReader(input), FormatProfileJSON, mode)
				out, err := io.ReadAll(r)
				if err == nil {
					g.Expect(r.Report()).To(Equal(rep), "a Reader reports what Validate does")
				}
				// Without the digest: the same lines and report, but the digest.
				r = NewReader(strings.NewReader(input), FormatProfileJSON, mode, WithoutDigest())
				outNoDigest, errNoDigest := io.ReadAll(r)
				g.Expect(outNoDigest).To(Equal(out), "WithoutDigest passes on the same lines")
				if err != nil {
					g.Expect(errNoDigest).To(MatchError(err.Error()))
					continue
				}
				g.Expect(errNoDigest).NotTo(HaveOccurred())
				want := rep
				want.Digest = ""
				g.Expect(r.Report()).To(Equal(want), "WithoutDigest leaves only the digest out")
			}
		})
	}
}

func TestLineEndsAndBlankLines(t *testing.T) {
	tests := map[string]struct {
		input     string
		wantOut   string
		wantLines int64
		wantErrAt []int64
	}{
		"CRLF becomes LF": {
			input:     goodLine + "\r\n" + incLine + "\r\n",
			wantOut:   goodLine + "\n" + incLine + "\n",
			wantLines: 2,
		},
		"no line break at the end": {
			input:     goodLine + "\n" + incLine,
			wantOut:   goodLine + "\n" + incLine + "\n",
			wantLines: 2,
		},
		"blank lines are skipped but numbered": {
			input:     "\n \t\n" + goodLine + "\n\r\n" + badLine + "\n\n",
			wantOut:   goodLine + "\n",
			wantLines: 2,
			wantErrAt: []int64{5},
		},
		"a lone CR ends no line": {
			input:     goodLine + "\r" + goodLine + "\n",
			wantLines: 1,
			wantErrAt: []int64{1},
		},
		"only blank lines": {input: "\n\n  \r\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			out, rep, err := readAll(tc.input, FormatProfileJSON, SkipInvalid)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(Equal(tc.wantOut))
			g.Expect(rep.Lines).To(Equal(tc.wantLines))
			var at []int64
			for _, e := range rep.Errors {
				at = append(at, e.Line)
			}
			g.Expect(at).To(Equal(tc.wantErrAt))
		})
	}
}

func TestHugeLines(t *testing.T) {
	// A line of exactly MaxLineBytes is accepted; one byte more is not, and
	// neither is one far larger than the buffer. Lines after them still count.
	padded := goodLine[:len(goodLine)-1] + strings.Repeat(" ", MaxLineBytes-len(goodLine)) + "}"
	tests := map[string]struct {
		line    string
		wantErr string
	}{
		"exactly the limit": {line: padded},
		"one byte over the limit": {
			line:    padded + " ",
			wantErr: "line 2: the line is 1048577 bytes long; the limit is 1048576 bytes (1 MiB)",
		},
		"three times the limit": {
			line:    strings.Repeat("x", 3*MaxLineBytes),
			wantErr: "line 2: the line is 3145728 bytes long; the limit is 1048576 bytes (1 MiB)",
		},
		"over the limit with CRLF": {
			line:    strings.Repeat("x", 2*MaxLineBytes) + "\r",
			wantErr: "line 2: the line is 2097152 bytes long; the limit is 1048576 bytes (1 MiB)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			input := goodLine + "\n" + tc.line + "\n" + incLine + "\n"
			rep := validate(t, FormatProfileJSON, input)
			g.Expect(rep.Lines).To(BeEquivalentTo(3))
			g.Expect(rep.Digest).To(Equal(digestOf(input)))
			if tc.wantErr == "" {
				g.Expect(rep.Errors).To(BeEmpty())
				return
			}
			g.Expect(errorTexts(rep)).To(Equal([]string{tc.wantErr}))
			g.Expect(rep.ValidLines).To(BeEquivalentTo(2))

			out, _, err := readAll(input, FormatProfileJSON, SkipInvalid)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(out).To(Equal(goodLine + "\n" + incLine + "\n"))

			csv := "id,a\n1,x\n" + tc.line + "\n2,y\n"
			rep = validate(t, FormatProfileCSV, csv)
			g.Expect(rep.ValidLines).To(BeEquivalentTo(2))
			g.Expect(rep.InvalidLines).To(BeEquivalentTo(1))
		})
	}
}

func TestCSVRowLongerThanTheLimit(t *testing.T) {
	g := NewWithT(t)
	// Each line is short, but a quoted field joins them into one huge row.
	half := strings.Repeat("x", MaxLineBytes/2)
	input := "id,notes\n1,\"" + half + "\n" + half + "\n\"\n2,ok\n"
	rep := validate(t, FormatProfileCSV, input)
	g.Expect(errorTexts(rep)).To(Equal([]string{"line 2: the row is longer than 1048576 bytes (1 MiB)"}))
	g.Expect(rep.ValidLines).To(BeEquivalentTo(1))
	out, _, err := readAll(input, FormatProfileCSV, SkipInvalid)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal("id,notes\n2,ok\n"))
}

func TestOnlyTheFirstErrorsAreKept(t *testing.T) {
	g := NewWithT(t)
	var b strings.Builder
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&b, "%s\n%s\n", goodLine, badLine)
	}
	rep := validate(t, FormatProfileJSON, b.String())
	g.Expect(rep.Lines).To(BeEquivalentTo(100))
	g.Expect(rep.InvalidLines).To(BeEquivalentTo(50))
	g.Expect(rep.ValidLines).To(BeEquivalentTo(50))
	g.Expect(rep.Errors).To(HaveLen(MaxReportedErrors))
	g.Expect(rep.Errors[0].Line).To(BeEquivalentTo(2))
	g.Expect(rep.Errors[MaxReportedErrors-1].Line).To(BeEquivalentTo(40))
}

func TestSourceErrors(t *testing.T) {
	g := NewWithT(t)
	boom := errors.New("connection reset")
	src := func() io.Reader { return io.MultiReader(strings.NewReader(goodLine+"\n"), iotest.ErrReader(boom)) }

	rep, err := Validate(context.Background(), src(), FormatProfileJSON)
	g.Expect(err).To(MatchError(boom))
	g.Expect(rep.Digest).To(BeEmpty(), "no digest for a source not read to its end")

	r := NewReader(src(), FormatProfileJSON, SkipInvalid)
	_, err = io.ReadAll(r)
	g.Expect(err).To(MatchError(boom))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Validate(ctx, strings.NewReader(goodLine), FormatProfileJSON)
	g.Expect(err).To(MatchError(context.Canceled))
}

func TestUnknownFormatAndMode(t *testing.T) {
	g := NewWithT(t)
	_, err := Validate(context.Background(), strings.NewReader(""), Format("xml"))
	g.Expect(err).To(MatchError(`importfile: unknown format "xml" (want json, csv, jsonl or lines)`))
	_, err = io.ReadAll(NewReader(strings.NewReader(""), FormatProfileJSON, Mode("Lenient")))
	g.Expect(err).To(MatchError(`importfile: unknown validation mode "Lenient" (want Strict or SkipInvalid)`))
	g.Expect(NewReader(strings.NewReader(""), Format("xml"), Strict).Report()).To(Equal(Report{}))
}

// TestReadSizesDoNotMatter reads sources that deliver a byte at a time into
// callers that take a byte at a time: the same bytes come out.
func TestReadSizesDoNotMatter(t *testing.T) {
	inputs := map[Format]string{
		FormatProfileJSON:   goodLine + "\r\n" + badLine + "\n\n" + incLine,
		FormatProfileCSV:    "id,a,b\n1,\"x\ny\",z\n,bad,row\n2,c,d",
		FormatAudienceJSONL: `{"customer_id":"a"}` + "\n" + `{"customer_id":""}` + "\n" + `{"customer_id":"b"}`,
		FormatAudienceLines: "a\n\"quoted\"\n\nb\\c\n a \n\"quoted\"",
	}
	for f, input := range inputs {
		t.Run(string(f), func(t *testing.T) {
			g := NewWithT(t)
			want, wantRep, err := readAll(input, f, SkipInvalid)
			g.Expect(err).NotTo(HaveOccurred())
			r := NewReader(iotest.OneByteReader(strings.NewReader(input)), f, SkipInvalid)
			got, err := io.ReadAll(iotest.OneByteReader(r))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(got)).To(Equal(want))
			g.Expect(r.Report()).To(Equal(wantRep))
			g.Expect(iotest.TestReader(NewReader(strings.NewReader(input), f, SkipInvalid), []byte(want))).To(Succeed())
		})
	}
}
