package sim

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Profile state is kept per scope (org scope and app scope are separate, as at
// the vendor) and per customer id. Attribute values are string, int64 or
// attrSet; Profiles converts sets to sorted slices on the way out.

// maxValueChars is the vendor's limit on a string attribute value.
const maxValueChars = 255

// maxLineBytes bounds one line of an import file; a longer line is reported as
// failed rather than held in memory.
const maxLineBytes = 1 << 20

// applyBatch is how many parsed lines are applied per lock of the state, so
// parsing runs outside the lock and inspection is never starved.
const applyBatch = 256

// The ops of a profile file line.
const (
	opAssign    = "assign"
	opIncrement = "increment"
	opSetAdd    = "set-add"
	opSetRemove = "set-remove"
	opDelete    = "delete"
)

// setMember is one member of a set attribute: a string or an integer.
type setMember struct {
	isInt bool
	i     int64
	s     string
}

func (m setMember) value() any {
	if m.isInt {
		return m.i
	}
	return m.s
}

// compareMembers orders integers first, ascending, then strings, ascending.
func compareMembers(a, b setMember) int {
	if a.isInt != b.isInt {
		if a.isInt {
			return -1
		}
		return 1
	}
	if a.isInt {
		return cmp.Compare(a.i, b.i)
	}
	return cmp.Compare(a.s, b.s)
}

// attrSet is the value of a set attribute.
type attrSet map[setMember]struct{}

// sorted renders the set as Profile documents it.
func (st attrSet) sorted() []any {
	ms := slices.SortedFunc(maps.Keys(st), compareMembers)
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = m.value()
	}
	return out
}

// change is one validated change of a profile file line.
type change struct {
	op      string
	attr    string
	value   any // assign: string or int64; increment: int64
	members []setMember
}

// profileLine is one parsed line, or the reason it could not be parsed.
type profileLine struct {
	line       int
	customerID string
	changes    []change
	err        string
}

// applyLocked applies a line's changes to a copy of the customer's profile and
// keeps the copy only when every change applied: a line is all or nothing.
func applyLocked(profiles map[string]Profile, pl profileLine) error {
	cur := profiles[pl.customerID]
	next := maps.Clone(cur)
	if next == nil {
		next = Profile{}
	}
	for _, c := range pl.changes {
		if err := applyChange(next, c); err != nil {
			return err
		}
	}
	profiles[pl.customerID] = next
	return nil
}

func applyChange(p Profile, c change) error {
	old, present := p[c.attr]
	switch c.op {
	case opAssign:
		p[c.attr] = c.value
	case opDelete:
		delete(p, c.attr)
	case opIncrement:
		n, isInt := old.(int64)
		if present && !isInt {
			return fmt.Errorf("cannot increment %q: it does not hold an integer", c.attr)
		}
		by := c.value.(int64)
		if (by > 0 && n > math.MaxInt64-by) || (by < 0 && n < math.MinInt64-by) {
			return fmt.Errorf("incrementing %q overflows a 64-bit integer", c.attr)
		}
		p[c.attr] = n + by
	case opSetAdd, opSetRemove:
		set, isSet := old.(attrSet)
		if present && !isSet {
			return fmt.Errorf("cannot %s on %q: it does not hold a set", c.op, c.attr)
		}
		if !present && c.op == opSetRemove {
			return nil
		}
		// Copy on write: the set is shared with the profile as it was before
		// this line, which must stay intact if a later change of the line fails.
		set = maps.Clone(set)
		if set == nil {
			set = attrSet{}
		}
		for _, m := range c.members {
			if c.op == opSetAdd {
				set[m] = struct{}{}
			} else {
				delete(set, m)
			}
		}
		// An emptied set stays as an empty set: only delete removes an attribute.
		p[c.attr] = set
	}
	return nil
}

// processProfileJob parses the uploaded file and applies every valid line to
// the job's scope. It returns why the job failed, or "".
func (s *Server) processProfileJob(j *job, r io.Reader) string {
	var err error
	if j.format == "csv" {
		err = eachCSVLine(r, func(batch []profileLine) { s.applyProfileBatch(j, batch) })
	} else {
		err = eachJSONLine(r, func(batch []profileLine) { s.applyProfileBatch(j, batch) }, parseProfileLine)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		return err.Error()
	case j.stats.successful == 0:
		return "the file has no valid lines"
	}
	return ""
}

// applyProfileBatch applies parsed lines under one lock and counts them.
func (s *Server) applyProfileBatch(j *job, batch []profileLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	profiles := s.profiles[j.scope]
	if profiles == nil {
		profiles = map[string]Profile{}
		s.profiles[j.scope] = profiles
	}
	for _, pl := range batch {
		j.stats.total++
		if pl.err != "" {
			j.addError(pl.line, pl.customerID, pl.err)
			continue
		}
		j.stats.parsed++
		if err := applyLocked(profiles, pl); err != nil {
			j.addError(pl.line, pl.customerID, err.Error())
			continue
		}
		j.stats.successful++
	}
}

// eachJSONLine reads a JSON Lines file, parses each non-blank line with parse
// and hands the results over in batches. Lines are numbered from 1, blank lines
// included, so the numbers match an editor's.
func eachJSONLine(r io.Reader, apply func([]profileLine), parse func(n int, line []byte) profileLine) error {
	br := bufio.NewReaderSize(r, 64<<10)
	batch := make([]profileLine, 0, applyBatch)
	var long []byte
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br, &long)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the uploaded file: %w", err)
		}
		if tooLong {
			batch = append(batch, profileLine{line: n, err: fmt.Sprintf("line is longer than %d bytes", maxLineBytes)})
		} else if len(bytes.TrimSpace(line)) > 0 {
			batch = append(batch, parse(n, line))
		}
		if len(batch) == applyBatch || (errors.Is(err, io.EOF) && len(batch) > 0) {
			apply(batch)
			batch = batch[:0]
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}

// readLine returns the next line without its line ending. A line longer than
// maxLineBytes is skipped and reported as tooLong. buf is reused between calls.
func readLine(br *bufio.Reader, buf *[]byte) (line []byte, tooLong bool, err error) {
	*buf = (*buf)[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		if len(*buf)+len(chunk) > maxLineBytes+2 {
			tooLong = true
		} else {
			*buf = append(*buf, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			*buf = (*buf)[:0]
		}
		return bytes.TrimRight(*buf, "\r\n"), tooLong, err
	}
}

// rawProfileLine is the vendor's line: {"customer_id": "...", "changes": [...]}.
type rawProfileLine struct {
	CustomerID json.RawMessage `json:"customer_id"`
	Changes    []struct {
		Op    string          `json:"op"`
		Attr  *string         `json:"attr"`
		Value json.RawMessage `json:"value"`
	} `json:"changes"`
}

// parseProfileLine validates one line of a json profile file.
func parseProfileLine(n int, line []byte) profileLine {
	var raw rawProfileLine
	if err := json.Unmarshal(line, &raw); err != nil {
		return profileLine{line: n, err: "invalid JSON: " + err.Error()}
	}
	pl := profileLine{line: n}
	id, err := parseCustomerID(raw.CustomerID)
	if err != nil {
		pl.err = err.Error()
		return pl
	}
	pl.customerID = id
	if len(raw.Changes) == 0 {
		pl.err = `"changes" is missing or empty`
		return pl
	}
	for i, rc := range raw.Changes {
		c, err := parseChange(rc.Op, rc.Attr, rc.Value)
		if err != nil {
			pl.err = fmt.Sprintf("change %d: %v", i+1, err)
			return pl
		}
		pl.changes = append(pl.changes, c)
	}
	return pl
}

func parseCustomerID(raw json.RawMessage) (string, error) {
	var id string
	if len(raw) == 0 || json.Unmarshal(raw, &id) != nil || id == "" {
		return "", errors.New(`"customer_id" must be a non-empty string`)
	}
	return id, nil
}

func parseChange(op string, attr *string, raw json.RawMessage) (change, error) {
	if attr == nil || *attr == "" {
		return change{}, errors.New(`"attr" must be a non-empty string`)
	}
	c := change{op: op, attr: *attr}
	switch op {
	case opAssign:
		v, err := decodeScalar(raw)
		if err != nil {
			return c, fmt.Errorf("assign %q: %w", c.attr, err)
		}
		c.value = v
	case opIncrement:
		v, err := decodeScalar(raw)
		i, isInt := v.(int64)
		if err != nil || !isInt {
			return c, fmt.Errorf("increment %q: the value must be an integer", c.attr)
		}
		c.value = i
	case opSetAdd, opSetRemove:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil || items == nil {
			return c, fmt.Errorf("%s %q: the value must be an array of strings or integers", op, c.attr)
		}
		for _, item := range items {
			v, err := decodeScalar(item)
			if err != nil {
				return c, fmt.Errorf("%s %q: %w", op, c.attr, err)
			}
			if i, isInt := v.(int64); isInt {
				c.members = append(c.members, setMember{isInt: true, i: i})
			} else {
				c.members = append(c.members, setMember{s: v.(string)})
			}
		}
	case opDelete:
	case "":
		return c, errors.New(`"op" is missing`)
	default:
		return c, fmt.Errorf("unknown op %q (want assign, increment, set-add, set-remove or delete)", op)
	}
	return c, nil
}

// decodeScalar reads an attribute value: a string of at most 255 characters or
// an integer. Dates are strings ("YYYY-MM-DD") and stay strings. It looks at
// the raw bytes instead of running a decoder per value, which dominated the
// cost of processing a file.
func decodeScalar(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("the value is missing")
	}
	switch c := raw[0]; {
	case c == '"':
		var v string
		if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			v = string(inner) // no escapes: the bytes are the string
		} else if err := json.Unmarshal(raw, &v); err != nil {
			return nil, errors.New("the value is not a valid JSON string")
		}
		if err := checkString(v); err != nil {
			return nil, err
		}
		return v, nil
	case c == '-' || ('0' <= c && c <= '9'):
		i, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a 64-bit integer", raw)
		}
		return i, nil
	default:
		return nil, errors.New("the value must be a string or an integer")
	}
}

func checkString(v string) error {
	if n := utf8.RuneCountInString(v); n > maxValueChars {
		return fmt.Errorf("the string is %d characters long, the limit is %d", n, maxValueChars)
	}
	return nil
}

// eachCSVLine reads a csv profile file: a header whose first column is the
// customer id and whose other columns name attributes; every row assigns its
// cells, and an empty cell clears (deletes) the attribute. Cells are strings:
// CSV carries no types.
func eachCSVLine(r io.Reader, apply func([]profileLine)) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil // no lines: the job fails for having no valid lines
	}
	if err != nil {
		return fmt.Errorf("reading the CSV header: %w", err)
	}
	header = slices.Clone(header)
	header[0] = string(bytes.TrimPrefix([]byte(header[0]), []byte("\uFEFF")))
	seen := map[string]bool{}
	for i, name := range header[1:] {
		if name == "" || seen[name] {
			return fmt.Errorf("CSV header column %d must name a distinct attribute", i+2)
		}
		seen[name] = true
	}
	batch := make([]profileLine, 0, applyBatch)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			batch = append(batch, profileLine{line: pe.StartLine, err: "invalid CSV: " + pe.Err.Error()})
		case err != nil:
			return fmt.Errorf("reading the uploaded file: %w", err)
		default:
			line, _ := cr.FieldPos(0)
			batch = append(batch, csvRow(line, header, rec))
		}
		if len(batch) == applyBatch {
			apply(batch)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		apply(batch)
	}
	return nil
}

// csvRow turns one CSV record into changes.
func csvRow(line int, header, rec []string) profileLine {
	pl := profileLine{line: line}
	if len(rec) > 0 {
		pl.customerID = rec[0]
	}
	switch {
	case len(rec) != len(header):
		pl.err = fmt.Sprintf("the row has %d fields, the header has %d", len(rec), len(header))
	case rec[0] == "":
		pl.err = "the customer id is empty"
	}
	if pl.err != "" {
		return pl
	}
	for i, cell := range rec[1:] {
		attr := header[i+1]
		if cell == "" {
			pl.changes = append(pl.changes, change{op: opDelete, attr: attr})
			continue
		}
		if err := checkString(cell); err != nil {
			pl.err = fmt.Sprintf("column %q: %v", attr, err)
			return pl
		}
		pl.changes = append(pl.changes, change{op: opAssign, attr: attr, value: cell})
	}
	return pl
}

// exportProfile deep-copies a profile for callers outside the lock.
func exportProfile(p Profile) Profile {
	out := make(Profile, len(p))
	for k, v := range p {
		if set, ok := v.(attrSet); ok {
			out[k] = set.sorted()
			continue
		}
		out[k] = v
	}
	return out
}
