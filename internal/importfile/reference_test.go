package importfile

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a slow reference implementation of the package's rules, built
// on encoding/json and encoding/csv and written for clarity, not speed. Tests
// and fuzz targets hold the fast scanner to its decisions.

// refResult is what the reference expects of a pass over a file.
type refResult struct {
	Lines, ValidLines, InvalidLines int64
	DuplicateLines                  int64   // lines: an id seen on an earlier line
	InvalidAt                       []int64 // line numbers of the invalid records, in order
	HasIncrement                    bool
	Output                          []byte // what a SkipInvalid Reader yields
	HeaderBad                       bool   // CSV: the header is invalid
}

func refValidate(data []byte, f Format) refResult {
	data = bytes.TrimPrefix(data, bom)
	if f == FormatProfileCSV {
		return refCSV(data)
	}
	var res refResult
	seen := map[string]bool{} // lines: the ids themselves, not fingerprints
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		lineNo := int64(i + 1)
		if i == len(lines)-1 && len(line) == 0 {
			break // the file ends with a line break (or is empty)
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) <= MaxLineBytes && len(bytes.Trim(line, " \t\r")) == 0 {
			continue
		}
		res.Lines++
		ok, increment, out := false, false, []byte(nil)
		if len(line) <= MaxLineBytes {
			ok, increment, out = refLine(line, f)
		}
		if !ok {
			res.InvalidLines++
			res.InvalidAt = append(res.InvalidAt, lineNo)
			continue
		}
		if f == FormatAudienceLines {
			id := string(bytes.Trim(line, " \t"))
			if seen[id] {
				res.DuplicateLines++
				continue
			}
			seen[id] = true
		}
		res.ValidLines++
		res.HasIncrement = res.HasIncrement || increment
		res.Output = append(res.Output, out...)
	}
	return res
}

// refLine checks one non-blank line and returns what a Reader passes on for it.
func refLine(line []byte, f Format) (ok, increment bool, out []byte) {
	if !utf8.Valid(line) {
		return false, false, nil
	}
	if f == FormatAudienceLines {
		id := bytes.Trim(line, " \t")
		if len(id) >= 2 && id[0] == '{' && id[len(id)-1] == '}' {
			return false, false, nil
		}
		b, err := json.Marshal(map[string]string{"customer_id": string(id)})
		if err != nil {
			panic(err)
		}
		return true, false, append(b, '\n')
	}
	v, err := refDecodeLine(line)
	if err != nil {
		return false, false, nil
	}
	out = append(append([]byte(nil), line...), '\n')
	if f == FormatAudienceJSONL {
		return refAudience(v), false, out
	}
	ok, increment = refProfile(v)
	return ok, increment, out
}

// refMember keeps an object's members in order, duplicates included, which a
// map would hide.
type refMember struct {
	Key   string
	Value any
}

type refObject []refMember

// refDecodeLine decodes exactly one JSON value with encoding/json's tokenizer.
func refDecodeLine(line []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	v, err := refDecode(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one value")
	}
	return v, nil
}

func refDecode(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		var obj refObject
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := refDecode(dec)
			if err != nil {
				return nil, err
			}
			obj = append(obj, refMember{k.(string), v})
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return obj, nil
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			v, err := refDecode(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return arr, nil
	}
	return tok, nil
}

// refFields returns an object's members by key if it has exactly the allowed
// keys at most once each.
func refFields(v any, allowed ...string) (map[string]any, bool) {
	obj, ok := v.(refObject)
	if !ok {
		return nil, false
	}
	m := map[string]any{}
	for _, mem := range obj {
		if _, dup := m[mem.Key]; dup {
			return nil, false
		}
		found := false
		for _, a := range allowed {
			found = found || a == mem.Key
		}
		if !found {
			return nil, false
		}
		m[mem.Key] = mem.Value
	}
	return m, true
}

func refNonEmptyString(v any) bool {
	s, ok := v.(string)
	return ok && s != ""
}

var refIntPattern = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

func refInt(v any) bool {
	n, ok := v.(json.Number)
	if !ok || !refIntPattern.MatchString(string(n)) {
		return false
	}
	_, err := strconv.ParseInt(string(n), 10, 64)
	return err == nil
}

func refShortString(v any) bool {
	s, ok := v.(string)
	return ok && utf8.RuneCountInString(s) <= MaxValueChars
}

func refAudience(v any) bool {
	m, ok := refFields(v, "customer_id")
	return ok && refNonEmptyString(m["customer_id"])
}

func refProfile(v any) (ok, increment bool) {
	m, ok := refFields(v, "customer_id", "changes")
	if !ok || !refNonEmptyString(m["customer_id"]) {
		return false, false
	}
	changes, ok := m["changes"].([]any)
	if !ok || len(changes) == 0 {
		return false, false
	}
	for _, ch := range changes {
		c, ok := refFields(ch, "op", "attr", "value")
		if !ok || !refNonEmptyString(c["attr"]) {
			return false, false
		}
		value, hasValue := c["value"]
		switch c["op"] {
		case "assign":
			ok = hasValue && (refShortString(value) || refInt(value))
		case "increment":
			ok = hasValue && refInt(value)
			increment = true
		case "set-add", "set-remove":
			ok = hasValue && refSet(value)
		case "delete":
			ok = !hasValue
		default:
			ok = false
		}
		if !ok {
			return false, false
		}
	}
	return true, increment
}

func refSet(v any) bool {
	arr, ok := v.([]any)
	if !ok {
		return false
	}
	strs, ints := 0, 0
	for _, e := range arr {
		switch {
		case refShortString(e):
			strs++
		case refInt(e):
			ints++
		default:
			return false
		}
	}
	return strs == 0 || ints == 0
}

// refCSV checks a CSV file with encoding/csv.
func refCSV(data []byte) refResult {
	var res refResult
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	var header []string
	prevOffset := int64(0)
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return res
		}
		raw := data[prevOffset:r.InputOffset()]
		prevOffset = r.InputOffset()
		var start int64
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			start = int64(pe.StartLine)
		} else if err != nil {
			panic(err)
		} else {
			line, _ := r.FieldPos(0)
			start = int64(line)
		}
		ok := err == nil && utf8.Valid(raw)
		if header == nil && !res.HeaderBad {
			ok = ok && len(rec) >= 2 && refHeaderNames(rec[1:])
			if !ok {
				res.HeaderBad = true
				res.InvalidAt = append(res.InvalidAt, start)
				continue
			}
			header = rec
			res.Output = append(res.Output, refRecordLines(raw)...)
			continue
		}
		res.Lines++
		ok = ok && !res.HeaderBad && len(rec) == len(header) && rec[0] != ""
		for i := 1; ok && i < len(rec); i++ {
			ok = utf8.RuneCountInString(rec[i]) <= MaxValueChars
		}
		if !ok {
			res.InvalidLines++
			if !res.HeaderBad {
				res.InvalidAt = append(res.InvalidAt, start)
			}
			continue
		}
		res.ValidLines++
		res.Output = append(res.Output, refRecordLines(raw)...)
	}
}

func refHeaderNames(names []string) bool {
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			return false
		}
		seen[n] = true
	}
	return true
}

// refRecordLines turns a record's raw text (with the empty lines skipped
// before it) into what a Reader passes on: its lines, "\n"-terminated.
func refRecordLines(raw []byte) []byte {
	lines := strings.Split(string(raw), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for len(lines) > 0 && strings.TrimSuffix(lines[0], "\r") == "" {
		lines = lines[1:]
	}
	var out []byte
	for _, l := range lines {
		out = append(out, strings.TrimSuffix(l, "\r")+"\n"...)
	}
	return out
}
