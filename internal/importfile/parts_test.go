package importfile

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	. "github.com/onsi/gomega"
)

// profileFile is a profile file of n JSON lines of varied lengths, with an
// invalid line every 7th, a blank one every 11th and CRLF every 5th.
func profileFile(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		switch {
		case i%7 == 0:
			b.WriteString(badLine + "\n")
		case i%11 == 0:
			b.WriteString("\n")
		}
		line := fmt.Sprintf(`{"customer_id":"c%d","changes":[{"op":"assign","attr":"note","value":"%s"}]}`, i, strings.Repeat("x", i%40))
		if i%5 == 0 {
			b.WriteString(line + "\r\n")
		} else {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func csvFile(n int) string {
	var b strings.Builder
	b.WriteString("customer_id,plan,note\n")
	for i := 1; i <= n; i++ {
		if i%9 == 0 {
			fmt.Fprintf(&b, "c%d,\"multi\nline\",%s\n", i, strings.Repeat("y", i%30))
			continue
		}
		fmt.Fprintf(&b, "c%d,pro,%s\n", i, strings.Repeat("y", i%30))
	}
	return b.String()
}

// TestPartsJoinToTheWhole cuts files into parts, reads each part with
// Records, and checks that every part fits and that the parts, joined,
// are what one Reader passes on for the whole file.
func TestPartsJoinToTheWhole(t *testing.T) {
	tests := map[string]struct {
		file   string
		format Format
		mode   Mode
		header string
	}{
		"JSON lines, invalid ones skipped": {file: profileFile(400), format: FormatProfileJSON, mode: SkipInvalid},
		"JSON lines, Strict":               {file: strings.ReplaceAll(profileFile(400), badLine+"\n", ""), format: FormatProfileJSON, mode: Strict},
		"CSV, the header in every part":    {file: csvFile(300), format: FormatProfileCSV, mode: Strict, header: "customer_id,plan,note\n"},
	}
	for name, tt := range tests {
		for _, maxBytes := range []int64{1024, 4096, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d", name, maxBytes), func(t *testing.T) {
				g := NewWithT(t)
				whole, err := io.ReadAll(NewReader(strings.NewReader(tt.file), tt.format, tt.mode))
				g.Expect(err).NotTo(HaveOccurred())

				// One byte at a time too, so that the fast path meets the
				// window's edges at every place in its buffer.
				for _, src := range []func() io.Reader{
					func() io.Reader { return strings.NewReader(tt.file) },
					func() io.Reader { return iotest.OneByteReader(strings.NewReader(tt.file)) },
				} {
					report, err := Validate(context.Background(), src(), tt.format, CutInto(maxBytes, 1000))
					g.Expect(err).NotTo(HaveOccurred())
					parts := report.Parts
					g.Expect(parts.OversizedLine).To(BeZero())
					g.Expect(parts.Starts).To(HaveLen(int(parts.Count) - 1))
					if int64(len(whole)) <= maxBytes {
						g.Expect(parts.Count).To(Equal(int64(1)))
					} else {
						g.Expect(parts.Count).To(BeNumerically(">", int64(len(whole))/maxBytes))
					}

					var joined strings.Builder
					starts := append(append([]int64{1}, parts.Starts...), 0)
					for i := range parts.Count {
						to := starts[i+1] - 1
						if i == parts.Count-1 {
							to = 0
						}
						part, err := io.ReadAll(NewReader(src(), tt.format, tt.mode, WithoutDigest(), Records(starts[i], to)))
						g.Expect(err).NotTo(HaveOccurred())
						g.Expect(int64(len(part))).To(BeNumerically("<=", maxBytes), "part %d", i+1)
						g.Expect(string(part)).To(HavePrefix(tt.header))
						if i > 0 {
							part = part[len(tt.header):]
						}
						joined.Write(part)
					}
					g.Expect(joined.String()).To(Equal(string(whole)))
				}
			})
		}
	}
}

func TestPartsBounds(t *testing.T) {
	g := NewWithT(t)
	file := profileFile(400)
	report, err := Validate(context.Background(), strings.NewReader(file), FormatProfileJSON, CutInto(1024, 3))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(report.Parts.Count).To(BeNumerically(">", 3), "counted past the bound")
	g.Expect(report.Parts.Starts).To(HaveLen(2), "kept only the starts of the first three parts")

	long := goodLine + "\n" + fmt.Sprintf(`{"customer_id":"big","changes":[{"op":"assign","attr":"n","value":"%s"}]}`, strings.Repeat("z", 200)) + "\n"
	report, err = Validate(context.Background(), strings.NewReader(long), FormatProfileJSON, CutInto(150, 10))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(report.Parts.OversizedLine).To(Equal(int64(2)), "the line that fits in no part")

	report, err = Validate(context.Background(), strings.NewReader(file), FormatProfileJSON)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(report.Parts).To(BeZero(), "no cut asked for")
}
