package importfile_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"strings"

	"github.com/localytics-operator/localytics-operator/internal/importfile"
)

// The operator's flow: validate first (nothing spent yet), then stream the
// same source through a Reader into the multipart body of the upload.
func Example() {
	const source = `{"customer_id":"a","changes":[{"op":"assign","attr":"plan","value":"pro"}]}
{"customer_id":"b","changes":[{"op":"increment","attr":"visits","value":"1"}]}
`
	rep, err := importfile.Validate(context.Background(), strings.NewReader(source), importfile.FormatProfileJSON)
	if err != nil {
		panic(err) // the source could not be read
	}
	fmt.Printf("%d lines, %d invalid, increments: %v\n", rep.Lines, rep.InvalidLines, rep.HasIncrement)
	for _, e := range rep.Errors {
		fmt.Println(e.Error())
	}

	// SkipInvalid: upload the valid line. (A Strict upload would not start.)
	pr, pw := io.Pipe()
	body := multipart.NewWriter(pw)
	lines := importfile.NewReader(strings.NewReader(source), importfile.FormatProfileJSON, importfile.SkipInvalid)
	go func() {
		part, err := body.CreateFormFile("file", "profiles.json")
		if err == nil {
			_, err = io.Copy(part, lines)
		}
		if err == nil {
			err = body.Close()
		}
		pw.CloseWithError(err) // a *importfile.LineError here aborts the upload
	}()
	sent, err := io.ReadAll(pr) // stands for the HTTP client sending the body
	var lineErr *importfile.LineError
	fmt.Println(errors.As(err, &lineErr), strings.Count(string(sent), `"customer_id"`), lines.Report().Digest == rep.Digest)
	// Output:
	// 2 lines, 1 invalid, increments: false
	// line 2: changes[0].value: increment needs an integer, got string
	// false 1 true
}
