// Package importfile checks Localytics import files in one streaming pass, so
// that a bad file is refused before it spends an upload (10 an hour) and a good
// one goes from its source to the API without ever being held in memory.
//
// # API
//
//	Validate(ctx, r, format) (Report, error)  // check only; run first
//	NewReader(r, format, mode) *Reader        // what to upload; Read, then Report()
//
// Both produce the same Report (a Reader's once Read has returned io.EOF):
// line counts, source size, the sha256 digest of the source bytes
// ("sha256:<hex>", the identity of an import; a Reader made WithoutDigest,
// for a revision validated already, leaves it out), whether an "increment" change
// is present (such a file must not be applied twice), and the first
// MaxReportedErrors errors with their line numbers. A Reader in Strict mode
// fails its Read with a *LineError at the first invalid line so that an upload
// in progress aborts; in SkipInvalid mode it drops invalid lines. Validate
// takes no mode: the mode changes what is uploaded, not what is found.
//
// # Formats
//
// FormatProfileJSON ("json"): one object per line,
// {"customer_id": "...", "changes": [...]}, with customer_id a non-empty
// string and changes a non-empty array of:
//
//	{"op": "assign",     "attr": A, "value": V}  // V: string of at most 255 characters (a date
//	                                              // YYYY-MM-DD is a string), or integer
//	{"op": "increment",  "attr": A, "value": N}  // N: integer, may be negative
//	{"op": "set-add",    "attr": A, "value": [...]}  // strings or integers, not both;
//	{"op": "set-remove", "attr": A, "value": [...]}  // strings of at most 255 characters
//	{"op": "delete",     "attr": A}              // no value
//
// A is a non-empty string. Integers are written without fraction or exponent
// and fit in 64 bits. Decimal numbers, booleans and null are refused, since
// the API takes only strings, integers and dates (to clear an attribute, use
// delete). Lengths count Unicode code points, an escape counting as the
// character it stands for.
//
// FormatAudienceJSONL ("jsonl"): one object per line, {"customer_id": "..."}.
//
// In both JSON formats keys may come in any order with any JSON whitespace;
// unknown keys and repeated keys are errors, because the vendor does not say
// what it does with them and a misspelt key is best caught before the upload.
// Each line must be valid JSON (RFC 8259) as encoding/json reads it.
//
// FormatAudienceLines ("lines"): one customer id per line, with surrounding
// spaces and tabs dropped. Each is converted to {"customer_id":"<id>"} with
// JSON escaping. A line that looks like a JSON object is refused, as it means
// the file is jsonl. An id repeated later in the file (compared byte for
// byte, so case matters) is kept once, at its first line: the later lines are
// counted in Report.DuplicateLines and not passed on.
//
// FormatProfileCSV ("csv"): a header row whose first column is the customer id
// (under any name) and whose other columns are distinct, non-empty attribute
// names; then rows with as many columns as the header, a non-empty customer
// id and values of at most 255 characters (an empty value clears the
// attribute). Quoting is encoding/csv's: a quoted field may hold commas,
// doubled quotes and line breaks; a stray quote is an error. The header is
// passed on but not counted in Report.Lines; a bad header makes every row
// invalid and stops a Reader in either mode.
//
// # Lines
//
// Lines end in "\n" or "\r\n"; the last one needs no line break. Blank lines
// (only spaces and tabs; for CSV only empty ones, as in encoding/csv) are
// skipped and not counted, but line numbers count them, so that they match
// what an editor shows. Every line must be valid UTF-8; a byte order mark at
// the start of the file is ignored. A line (or a CSV row) longer than
// MaxLineBytes (1 MiB) is invalid: it is skipped over, never buffered whole.
// A pass holds a 64 KiB buffer, and about 1 MiB more only while a longer line
// (or CSV row) comes by, whatever the size of the file; a pass over a `lines`
// file also holds a 64-bit fingerprint of each distinct id (11 to 21 bytes
// each, see idSet). The Reader passes
// lines on with "\n" endings.
//
// # Speed
//
// Lines are checked by a small hand-written JSON tokenizer (jsonscan.go) that
// checks exactly these shapes, with no allocation per line. Before it, an
// accept-only fast path (fastpath.go) takes the compact lines encoders write
// (keys in the order above, no whitespace) by matching their fixed text; any
// line it does not accept goes through the tokenizer from the start, so every
// error comes from the tokenizer. Runs of such lines are matched straight in
// the read buffer and passed on whole, without a search for each line's end. encoding/json runs at about 60 MB/s here,
// far below the operator's 500 MB/s target; the decisions of both are held to
// encoding/json's by cross-check and fuzz tests.
package importfile
