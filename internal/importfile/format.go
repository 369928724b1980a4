package importfile

import "fmt"

// Format names the layout of a source file. The values are the ones users write
// in ProfileImport.spec.format and AudienceList.spec.sourceFormat.
type Format string

const (
	// FormatProfileJSON is the vendor's profile file: JSON Lines of
	// {"customer_id": "...", "changes": [...]}. Uploaded with format=json.
	FormatProfileJSON Format = "json"
	// FormatProfileCSV is a profile file as CSV: a header row naming the
	// customer id column and then the attributes, one row per customer.
	// Uploaded with format=csv.
	FormatProfileCSV Format = "csv"
	// FormatAudienceJSONL is the vendor's audience file: JSON Lines of
	// {"customer_id": "..."}.
	FormatAudienceJSONL Format = "jsonl"
	// FormatAudienceLines is one plain customer id per line. It is converted
	// to FormatAudienceJSONL while streaming, since the vendor accepts only that.
	FormatAudienceLines Format = "lines"
)

// Mode says what happens to invalid lines.
type Mode string

const (
	// Strict rejects the whole file when any line is invalid: a Reader stops
	// with the first invalid line's *LineError, so an upload in progress aborts.
	Strict Mode = "Strict"
	// SkipInvalid passes on the valid lines and drops (and reports) the rest.
	SkipInvalid Mode = "SkipInvalid"
)

func (f Format) check() error {
	switch f {
	case FormatProfileJSON, FormatProfileCSV, FormatAudienceJSONL, FormatAudienceLines:
		return nil
	}
	return fmt.Errorf("importfile: unknown format %q (want json, csv, jsonl or lines)", string(f))
}

func (m Mode) check() error {
	switch m {
	case Strict, SkipInvalid:
		return nil
	}
	return fmt.Errorf("importfile: unknown validation mode %q (want Strict or SkipInvalid)", string(m))
}
