package importfile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// The fuzz targets feed arbitrary files to Validate and to both kinds of
// Reader, and hold every result to the slow reference (reference_test.go):
// the same counts, the same invalid lines, the same output, the right digest,
// and no panic. Seeds live in testdata/fuzz/<FuzzName>/.

func FuzzValidateProfileJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { checkAgainstReference(t, data, FormatProfileJSON) })
}

func FuzzValidateProfileCSV(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { checkAgainstReference(t, data, FormatProfileCSV) })
}

func FuzzValidateAudienceJSONL(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { checkAgainstReference(t, data, FormatAudienceJSONL) })
}

func FuzzConvertAudienceLines(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { checkAgainstReference(t, data, FormatAudienceLines) })
}

func checkAgainstReference(t *testing.T, data []byte, format Format) {
	rep, err := Validate(context.Background(), bytes.NewReader(data), format)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	ref := refValidate(data, format)
	checkReport(t, data, format, rep, ref)

	// What a SkipInvalid Reader passes on.
	out, readerRep, err := readAll(string(data), format, SkipInvalid)
	var lineErr *LineError
	switch {
	case ref.HeaderBad:
		if !errors.As(err, &lineErr) || lineErr.Line != ref.InvalidAt[0] {
			t.Fatalf("a bad CSV header must stop the Reader with its error, got %v", err)
		}
		return
	case err != nil:
		t.Fatalf("SkipInvalid Reader: %v", err)
	}
	if !equalReports(readerRep, rep) {
		t.Fatalf("Reader report %+v, Validate's %+v", readerRep, rep)
	}
	if format == FormatAudienceLines {
		if got, want := audienceIDs(t, out), audienceIDs(t, string(ref.Output)); !slices.Equal(got, want) {
			t.Fatalf("converted ids %q, reference %q", got, want)
		}
		// The conversion yields what the vendor's format needs.
		if r := validate(t, FormatAudienceJSONL, out); r.InvalidLines != 0 {
			t.Fatalf("converted output is not valid jsonl: %v", errorTexts(r))
		}
	} else if out != string(ref.Output) {
		t.Fatalf("output %q, reference %q", out, ref.Output)
	}

	// A Strict Reader passes on the same, or stops at the first invalid line.
	strictOut, _, err := readAll(string(data), format, Strict)
	if rep.InvalidLines == 0 {
		if err != nil || strictOut != out {
			t.Fatalf("Strict Reader: %v, output %q, want %q", err, strictOut, out)
		}
		return
	}
	if !errors.As(err, &lineErr) || lineErr.Line != ref.InvalidAt[0] || !strings.HasPrefix(out, strictOut) {
		t.Fatalf("Strict Reader: %v after %q; want the error of line %d", err, strictOut, ref.InvalidAt[0])
	}
}

// checkReport compares Validate's report with the reference's.
func checkReport(t *testing.T, data []byte, format Format, rep Report, ref refResult) {
	t.Helper()
	// The report.
	sum := sha256.Sum256(data)
	if want := "sha256:" + hex.EncodeToString(sum[:]); rep.Digest != want || rep.Bytes != int64(len(data)) {
		t.Fatalf("digest %s of %d bytes, want %s of %d", rep.Digest, rep.Bytes, want, len(data))
	}
	if rep.Lines != ref.Lines || rep.ValidLines != ref.ValidLines || rep.InvalidLines != ref.InvalidLines ||
		rep.DuplicateLines != ref.DuplicateLines {
		t.Fatalf("lines %d (valid %d, invalid %d, duplicate %d), reference %d (%d, %d, %d); errors %v",
			rep.Lines, rep.ValidLines, rep.InvalidLines, rep.DuplicateLines,
			ref.Lines, ref.ValidLines, ref.InvalidLines, ref.DuplicateLines, errorTexts(rep))
	}
	if rep.Lines != rep.ValidLines+rep.InvalidLines+rep.DuplicateLines || format != FormatAudienceLines && rep.DuplicateLines != 0 {
		t.Fatalf("lines %d are not valid %d + invalid %d + duplicate %d", rep.Lines, rep.ValidLines, rep.InvalidLines, rep.DuplicateLines)
	}
	if rep.HasIncrement != ref.HasIncrement {
		t.Fatalf("HasIncrement %v, reference %v", rep.HasIncrement, ref.HasIncrement)
	}
	wantAt := ref.InvalidAt[:min(len(ref.InvalidAt), MaxReportedErrors)]
	if len(rep.Errors) != len(wantAt) {
		t.Fatalf("errors %v, reference expects them at lines %v", errorTexts(rep), wantAt)
	}
	for i, e := range rep.Errors {
		if e.Line != wantAt[i] || e.Message == "" || !strings.HasPrefix(e.Error(), "line ") {
			t.Fatalf("error %d is %q, reference expects one at line %d", i, e.Error(), wantAt[i])
		}
	}
}

func equalReports(a, b Report) bool {
	return a.Lines == b.Lines && a.ValidLines == b.ValidLines && a.InvalidLines == b.InvalidLines &&
		a.DuplicateLines == b.DuplicateLines && a.Bytes == b.Bytes && a.Digest == b.Digest && a.HasIncrement == b.HasIncrement &&
		slices.Equal(errorTexts(a), errorTexts(b))
}

// audienceIDs decodes the customer ids of an audience JSON Lines file.
func audienceIDs(t *testing.T, jsonl string) []string {
	ids := []string{}
	sc := bufio.NewScanner(strings.NewReader(jsonl))
	sc.Buffer(nil, 4*MaxLineBytes)
	for sc.Scan() {
		var v struct {
			CustomerID string `json:"customer_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		ids = append(ids, v.CustomerID)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}
