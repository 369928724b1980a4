package importfile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/localytics-operator/localytics-operator/internal/importfile/importfiletest"
)

// benchSize is about how large the generated benchmark files are: a few MB,
// large enough that per-file costs vanish, small enough to stay in memory.
const benchSize = 4 << 20

var benchCities = importfiletest.Cities

// profileJSONFile generates a realistic profile file (importfiletest's mix).
func profileJSONFile(size int) []byte { return importfiletest.ProfileJSON(size) }

func profileCSVFile(size int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	var b bytes.Buffer
	b.WriteString("customer_id,first_name,email,city,signup,plan,notes\n")
	for i := 0; b.Len() < size; i++ {
		note := ""
		if rng.IntN(5) == 0 {
			note = `"called, said ""later"""`
		}
		fmt.Fprintf(&b, "cust-%08d,Name%d,user.%d@example.com,%s,20%02d-%02d-%02d,%s,%s\n",
			i, rng.IntN(1000), rng.IntN(1e6), benchCities[rng.IntN(len(benchCities))],
			rng.IntN(25), 1+rng.IntN(12), 1+rng.IntN(28), []string{"free", "pro", ""}[rng.IntN(3)], note)
	}
	return b.Bytes()
}

func audienceJSONLFile(size int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `{"customer_id":"cust-%08d"}`+"\n", i)
	}
	return b.Bytes()
}

func audienceLinesFile(size int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "cust-%08d\n", i)
	}
	return b.Bytes()
}

func benchmarkValidate(b *testing.B, data []byte, f Format) {
	lines := bytes.Count(data, []byte("\n"))
	rep, err := Validate(context.Background(), bytes.NewReader(data), f)
	if err != nil || rep.InvalidLines != 0 {
		b.Fatalf("generated file is not valid: %v %+v", err, rep.Errors)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Validate(context.Background(), bytes.NewReader(data), f); err != nil {
			b.Fatal(err)
		}
	}
	reportPerLine(b, lines, func() {
		_, _ = Validate(context.Background(), bytes.NewReader(data), f)
	})
}

func benchmarkReader(b *testing.B, data []byte, f Format) {
	lines := bytes.Count(data, []byte("\n"))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	buf := make([]byte, 256<<10)
	run := func() {
		// As an upload reads it: 256 KiB at a time, and without the digest,
		// which the operator took when it validated the file.
		r := NewReader(bytes.NewReader(data), f, Strict, WithoutDigest())
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		run()
	}
	reportPerLine(b, lines, run)
}

// reportPerLine reports the allocations of one whole pass per line of the
// file: what a pass costs beyond its fixed buffers, which is nothing.
func reportPerLine(b *testing.B, lines int, run func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(lines), "allocs/line")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(lines), "B/line")
}

// BenchmarkValidateProfileJSON runs over the same lines written three ways:
// compact, as encoders write them (the fast path, in runs); compact with
// "\r\n" line ends (the fast path, a line at a time); and with a space after
// every ':' and ',' (the general tokenizer).
func BenchmarkValidateProfileJSON(b *testing.B) {
	compact := profileJSONFile(benchSize)
	shapes := []struct {
		name string
		data []byte
	}{
		{"compact", compact},
		{"crlf", bytes.ReplaceAll(compact, []byte("\n"), []byte("\r\n"))},
		{"spaced", spaced(compact)},
	}
	for _, shape := range shapes {
		b.Run(shape.name, func(b *testing.B) { benchmarkValidate(b, shape.data, FormatProfileJSON) })
	}
}

// spaced puts a space after every ':' and ',' of a compact JSON Lines file,
// outside strings: the same lines, no longer in the fast path's shape.
func spaced(compact []byte) []byte {
	out := make([]byte, 0, len(compact)*5/4)
	inString, escaped := false, false
	for _, ch := range compact {
		out = append(out, ch)
		switch {
		case escaped:
			escaped = false
		case inString && ch == '\\':
			escaped = true
		case ch == '"':
			inString = !inString
		case !inString && (ch == ':' || ch == ','):
			out = append(out, ' ')
		}
	}
	return out
}

func BenchmarkValidateProfileCSV(b *testing.B) {
	benchmarkValidate(b, profileCSVFile(benchSize), FormatProfileCSV)
}

func BenchmarkValidateAudienceJSONL(b *testing.B) {
	benchmarkValidate(b, audienceJSONLFile(benchSize), FormatAudienceJSONL)
}

func BenchmarkValidateAudienceLines(b *testing.B) {
	benchmarkValidate(b, audienceLinesFile(benchSize), FormatAudienceLines)
}

func BenchmarkReaderProfileJSON(b *testing.B) {
	benchmarkReader(b, profileJSONFile(benchSize), FormatProfileJSON)
}

func BenchmarkReaderProfileCSV(b *testing.B) {
	benchmarkReader(b, profileCSVFile(benchSize), FormatProfileCSV)
}

func BenchmarkReaderAudienceLines(b *testing.B) {
	benchmarkReader(b, audienceLinesFile(benchSize), FormatAudienceLines)
}

// BenchmarkEncodingJSONProfile is the yardstick: decoding each line into
// structs with encoding/json, as the operator would without this package.
func BenchmarkEncodingJSONProfile(b *testing.B) {
	data := profileJSONFile(benchSize)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		for line := range bytes.Lines(data) {
			var v struct {
				CustomerID string `json:"customer_id"`
				Changes    []struct {
					Op    string `json:"op"`
					Attr  string `json:"attr"`
					Value any    `json:"value"`
				} `json:"changes"`
			}
			if err := json.Unmarshal(line, &v); err != nil {
				b.Fatal(err)
			}
		}
	}
}
