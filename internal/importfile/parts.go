package importfile

import "slices"

// Parts says how a pass cut a file into uploads of at most a number of
// bytes each (CutInto): runs of whole records, in order, each holding at
// least one record, and for CSV the header again at the top of each.
type Parts struct {
	// Count is how many parts the file takes; 1 when it fits in one.
	Count int64
	// Starts are the numbers of the records (as Lines counts them, from 1)
	// where the second and later parts start: the first maxStarts of them.
	Starts []int64
	// OversizedLine is the line of the first record that is over the size
	// even in a part of its own, 0 if none is.
	OversizedLine int64
}

// cutter cuts the records that a pass passes on into parts.
type cutter struct {
	max       int64
	maxStarts int
	header    int64 // what every part begins with (a CSV header and its break)
	size      int64 // of the current part
	parts     Parts
}

// CutInto makes a pass (Validate) cut the file into parts of at most
// maxBytes of what a Reader passes on, recording in Report.Parts the first
// record of each of the first maxParts parts. Records a Reader would drop
// (invalid ones in SkipInvalid mode) take no room. It is for the profile
// formats: a `lines` audience file's conversion to JSON is not counted.
func CutInto(maxBytes int64, maxParts int) ReaderOption {
	return func(s *scanner) { s.cut = &cutter{max: maxBytes, maxStarts: max(maxParts-1, 0)} }
}

// Records makes a Reader pass on only the records numbered from..to (from
// 1, as Lines counts them; to 0 for the end), and stop reading after to:
// the records of one part. The records before from are still read and
// checked, since a line's number is known only by reading up to it; a CSV
// header is passed on first, as in every part.
func Records(from, to int64) ReaderOption {
	return func(s *scanner) { s.from, s.to = from, to }
}

// headerTook counts a CSV header of size bytes (its break included).
func (c *cutter) headerTook(size int64) {
	if c == nil {
		return
	}
	c.header = size
	c.size += size
}

// took counts the record number record, starting on line, which passes on
// size bytes.
func (c *cutter) took(record, line, size int64) {
	if c == nil {
		return
	}
	if c.parts.Count == 0 {
		c.parts.Count = 1
	}
	if c.size > c.header && c.size+size > c.max {
		c.parts.Count++
		if len(c.parts.Starts) < c.maxStarts {
			c.parts.Starts = append(c.parts.Starts, record)
		}
		c.size = c.header
	}
	c.size += size
	if c.size > c.max && c.parts.OversizedLine == 0 {
		c.parts.OversizedLine = line
	}
}

func (c *cutter) snapshot() Parts {
	if c == nil {
		return Parts{}
	}
	p := c.parts
	p.Starts = slices.Clone(p.Starts)
	return p
}

// window tells where record n is against a Reader's Records: before
// them (skip), in them, or past them (stop).
func (s *scanner) window(n int64) (skip, stop bool) {
	return n < s.from, s.to > 0 && n > s.to
}

// fastLimit bounds the lines one fast run may take, so that a run never
// spans the start or the end of the Records window: -1 for no bound.
func (s *scanner) fastLimit() int64 {
	switch n := s.report.Lines; {
	case n+1 < s.from:
		return s.from - 1 - n
	case s.to > 0:
		return s.to - n
	}
	return -1
}
