package importfile

import (
	"context"
	"io"
	"strings"
	"testing"
)

// validate runs Validate over input and fails the test on an error.
func validate(t testing.TB, f Format, input string) Report {
	t.Helper()
	rep, err := Validate(context.Background(), strings.NewReader(input), f)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return rep
}

// readAll reads everything a Reader yields over input.
func readAll(input string, f Format, m Mode) (string, Report, error) {
	r := NewReader(strings.NewReader(input), f, m)
	out, err := io.ReadAll(r)
	return string(out), r.Report(), err
}

// errorTexts returns the reported errors as a person reads them.
func errorTexts(rep Report) []string {
	texts := []string{}
	for _, e := range rep.Errors {
		texts = append(texts, e.Error())
	}
	return texts
}

// firstError checks a one-line file and returns its error text ("" if valid).
func firstError(t testing.TB, f Format, line string) string {
	t.Helper()
	rep := validate(t, f, line+"\n")
	if rep.Lines != 1 || rep.ValidLines+rep.InvalidLines != 1 {
		t.Fatalf("line %q: want one line, got %+v", line, rep)
	}
	if len(rep.Errors) == 0 {
		return ""
	}
	return rep.Errors[0].Error()
}
