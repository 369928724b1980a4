package importfile

import (
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

// The fast path (fastpath.go) may only accept lines that the general
// tokenizer accepts, with the same HasIncrement; everything else it leaves to
// the general tokenizer. These tests hold it to that, and to the encoding/json
// reference, on the lines most likely to fool it: those that almost have the
// compact shape.

// generalLine runs the general tokenizer alone on one line, as checkLine did
// before the fast path.
func generalLine(f Format, line []byte) (ok, increment bool) {
	var flt fault
	c := cursor{f: &flt}
	ascii, valid := checkText(line)
	if !valid {
		return false, false
	}
	c.reset(line, ascii)
	if f == FormatAudienceJSONL {
		return c.audienceLine(), false
	}
	increment, ok = c.profileLine()
	return ok, increment
}

// fastLine runs the fast path over a whole line, as the scanner does when
// it has the line's end already.
func fastLine(f Format, line []byte) (ok, increment bool) {
	n := 0
	if f == FormatAudienceJSONL {
		n, ok = fastAudienceLine(line)
	} else {
		n, increment, ok = fastProfileLine(line)
	}
	return ok && n == len(line), increment
}

// checkFastPath fails the test if the fast path accepts line where the general
// tokenizer or the reference does not, or disagrees on increment. It returns
// whether the fast path accepted it.
func checkFastPath(t *testing.T, f Format, line string) bool {
	t.Helper()
	fast, fastInc := fastLine(f, []byte(line))
	checkFastPathInBuffer(t, f, line, fast)
	if !fast {
		return false
	}
	ok, inc := generalLine(f, []byte(line))
	refOK, refInc, _ := refLine([]byte(line), f)
	if !ok || !refOK || inc != fastInc || refInc != fastInc {
		t.Fatalf("fast path accepts %q (increment %v); general tokenizer: %v (increment %v), reference: %v (increment %v)",
			line, fastInc, ok, inc, refOK, refInc)
	}
	return true
}

// checkFastPathInBuffer fails the test if the fast path, matching line at
// the start of a buffer where more lines follow (as the scanner runs it),
// decides otherwise than on the line alone (fast), or runs past its end.
func checkFastPathInBuffer(t *testing.T, f Format, line string, fast bool) {
	t.Helper()
	if strings.ContainsRune(line, '\n') {
		return // the scanner never has such a line: it is two
	}
	for _, rest := range []string{"\n", "\n" + `{"customer_id":"x","changes":[]}` + "\n", "\r\n", "\n\"}]}\n"} {
		buf := []byte(line + rest)
		var n int
		var ok bool
		if f == FormatAudienceJSONL {
			n, ok = fastAudienceLine(buf)
		} else {
			n, _, ok = fastProfileLine(buf)
		}
		if ok && n > len(line) {
			t.Fatalf("the fast path ran past the end of %q into %q (matched %d bytes)", line, rest, n)
		}
		if got := ok && n == len(line); got != fast {
			t.Fatalf("the fast path accepts %q followed by %q: %v; on its own: %v", line, rest, got, fast)
		}
	}
}

// compactLine wraps changes in a compact profile line.
func compactLine(changes ...string) string {
	return `{"customer_id":"c1","changes":[` + strings.Join(changes, ",") + `]}`
}

func assignLine(value string) string {
	return compactLine(`{"op":"assign","attr":"a","value":` + value + `}`)
}

func TestFastPathProfileLines(t *testing.T) {
	long := func(n int, s string) string { return `"` + strings.Repeat(s, n) + `"` }
	for _, tc := range []struct {
		line string
		fast bool // whether the fast path takes it (it must only when valid)
	}{
		// The compact shape: taken.
		{assignLine(`"v"`), true},
		{assignLine(`0`), true},
		{assignLine(`-0`), true},
		{assignLine(`""`), true},
		{compactLine(`{"op":"increment","attr":"n","value":-12}`), true},
		{compactLine(`{"op":"set-add","attr":"s","value":["a","b"]}`), true},
		{compactLine(`{"op":"set-remove","attr":"s","value":[1,2,3]}`), true},
		{compactLine(`{"op":"set-add","attr":"s","value":[]}`), true},
		{compactLine(`{"op":"delete","attr":"d"}`), true},
		{compactLine(`{"op":"delete","attr":"d"}`, `{"op":"increment","attr":"n","value":1}`, `{"op":"assign","attr":"a","value":"x"}`), true},
		// Escapes and Unicode inside strings: taken, checked.
		{`{"customer_id":"q\"\\\/\b\f\n\r\t","changes":[{"op":"assign","attr":"a\u00e9","value":"\ud83d\ude00"}]}`, true},
		{assignLine(`"\ud800"`), true}, // a lone surrogate escape is valid JSON
		{`{"customer_id":"東京","changes":[{"op":"assign","attr":"Zürich","value":"São Paulo 😀"}]}`, true},
		{assignLine(`"` + "\uFFFD" + `"`), true},
		{assignLine(`"\x"`), false},
		{assignLine(`"\u12"`), false},
		{assignLine(`"\u12G4"`), false},
		{assignLine(`"\`), false},
		{assignLine("\"a\x00b\""), false},
		{assignLine("\"a\tb\""), false},
		{assignLine("\"a\x1fb\""), false},
		{assignLine("\"a\x7fb\""), true}, // DEL needs no escape
		{assignLine("\"\xff\""), false},
		{assignLine("\"\xc0\x80\""), false},     // overlong
		{assignLine("\"\xed\xa0\x80\""), false}, // an encoded surrogate
		{assignLine("\"\xe6\x9d\""), false},     // truncated
		{"{\"customer_id\":\"\xe6\x9d", false},
		// Near misses of the structure: left to the general tokenizer.
		{`{"changes":[{"op":"assign","attr":"a","value":"v"}],"customer_id":"c1"}`, false},
		{compactLine(`{"attr":"a","op":"assign","value":"v"}`), false},
		{compactLine(`{"op":"assign","value":"v","attr":"a"}`), false},
		{compactLine(`{"value":"v","op":"assign","attr":"a"}`), false},
		{`{"customer\u005fid":"c1","changes":[{"op":"assign","attr":"a","value":"v"}]}`, false},
		{compactLine(`{"op":"assig\u006e","attr":"a","value":"v"}`), false},
		{` ` + assignLine(`"v"`), false},
		{assignLine(`"v"`) + ` `, false},
		{assignLine(`"v"`) + "\t", false},
		{assignLine(` "v"`), false},
		{`{"customer_id": "c1","changes":[{"op":"assign","attr":"a","value":"v"}]}`, false},
		{compactLine(`{"op":"assign","attr":"a","value":"v"}`, ` {"op":"delete","attr":"d"}`), false},
		{assignLine(`"v"`) + `}`, false},
		{assignLine(`"v"`)[:len(assignLine(`"v"`))-1], false},
		{compactLine(`{"op":"assign","attr":"a","value":"v"}`, ``), false},
		{compactLine(`{"op":"assign","attr":"a","value":"v","value":"w"}`), false},
		{compactLine(`{"op":"assign","attr":"a","value":"v","extra":1}`), false},
		{compactLine(`{"op":"delete","attr":"d","value":1}`), false},
		{compactLine(`{"op":"assign","attr":"a"}`), false},
		{compactLine(`{"op":"Assign","attr":"a","value":"v"}`), false},
		{compactLine(`{"op":"assignx","attr":"a","value":"v"}`), false},
		{compactLine(), false},
		{`{"customer_id":"","changes":[{"op":"assign","attr":"a","value":"v"}]}`, false},
		{compactLine(`{"op":"assign","attr":"","value":"v"}`), false},
		{`{"customer_id":"c1","changes":[{"op":"assign","attr":"a","value":"v"}],"customer_id":"c2"}`, false},
		// Values of the wrong type.
		{compactLine(`{"op":"increment","attr":"n","value":"1"}`), false},
		{compactLine(`{"op":"assign","attr":"a","value":["v"]}`), false},
		{compactLine(`{"op":"set-add","attr":"s","value":"v"}`), false},
		{compactLine(`{"op":"set-add","attr":"s","value":["a",1]}`), false},
		{compactLine(`{"op":"set-add","attr":"s","value":[1,"a"]}`), false},
		{compactLine(`{"op":"set-add","attr":"s","value":[1.5]}`), false},
		{compactLine(`{"op":"set-add","attr":"s","value":[["a"]]}`), false},
		{compactLine(`{"op":"set-add","attr":"s","value":[true]}`), false},
		{compactLine(`{"op":"set-add","attr":"s","value":["a",]}`), false},
		{compactLine(`{"op":"set-add","attr":"s","value":[,"a"]}`), false},
		{assignLine(`true`), false},
		{assignLine(`null`), false},
		{assignLine(`{}`), false},
		// Integers at the bounds of int64, and things that are not integers.
		{assignLine(`9223372036854775807`), true},
		{assignLine(`-9223372036854775808`), true},
		{assignLine(`9223372036854775808`), false},
		{assignLine(`-9223372036854775809`), false},
		{assignLine(`09223372036854775807`), false},
		{assignLine(`99999999999999999999`), false},
		{compactLine(`{"op":"set-add","attr":"s","value":[9223372036854775807,-9223372036854775808]}`), true},
		{compactLine(`{"op":"set-add","attr":"s","value":[9223372036854775808]}`), false},
		{assignLine(`00`), false},
		{assignLine(`01`), false},
		{assignLine(`-`), false},
		{assignLine(`+1`), false},
		{assignLine(`1.0`), false},
		{assignLine(`1e3`), false},
		{assignLine(`1E3`), false},
		{assignLine(`-0.0`), false},
		// Lengths around MaxValueChars: 255 bytes are taken; more are left to
		// the general tokenizer, which counts characters.
		{assignLine(long(255, "a")), true},
		{assignLine(long(256, "a")), false},
		{assignLine(long(255, "é")), false}, // valid: 255 characters
		{assignLine(long(256, "é")), false},
		{assignLine(long(127, `\n`)), true},
		{assignLine(long(128, `\n`)), false}, // valid: 128 characters
		{compactLine(`{"op":"set-add","attr":"s","value":[` + long(255, "b") + `,` + long(256, "b") + `]}`), false},
		{`{"customer_id":` + long(5000, "c") + `,"changes":[{"op":"assign","attr":` + long(300, "a") + `,"value":1}]}`, true},
	} {
		if got := checkFastPath(t, FormatProfileJSON, tc.line); got != tc.fast {
			t.Errorf("fast path takes %q: %v, want %v", tc.line, got, tc.fast)
		}
		// Whatever the path, the decision is the reference's.
		gotOK := firstError(t, FormatProfileJSON, tc.line) == ""
		if refOK, _, _ := refLine([]byte(tc.line), FormatProfileJSON); gotOK != refOK {
			t.Errorf("line %q: valid %v, reference %v", tc.line, gotOK, refOK)
		}
	}
}

func TestFastPathAudienceLines(t *testing.T) {
	for _, tc := range []struct {
		line string
		fast bool
	}{
		{`{"customer_id":"a"}`, true},
		{`{"customer_id":"東京\u00e9\""}`, true},
		{`{"customer_id":""}`, false},
		{`{"customer_id":"a" }`, false},
		{`{"customer_id":"a"}}`, false},
		{`{"customer_id":"a"`, false},
		{`{"customer_id":"a","x":1}`, false},
		{`{"customer_id":"a","customer_id":"b"}`, false},
		{`{"customer_id":1}`, false},
		{`{ "customer_id":"a"}`, false},
		{"{\"customer_id\":\"a\xff\"}", false},
	} {
		if got := checkFastPath(t, FormatAudienceJSONL, tc.line); got != tc.fast {
			t.Errorf("fast path takes %q: %v, want %v", tc.line, got, tc.fast)
		}
	}
	// Every length across the eight-byte steps of the string scan, up to the
	// end of the line.
	for n := 1; n <= 40; n++ {
		line := `{"customer_id":"` + strings.Repeat("x", n) + `"}`
		if !checkFastPath(t, FormatAudienceJSONL, line) {
			t.Errorf("fast path does not take %q", line)
		}
		if checkFastPath(t, FormatAudienceJSONL, line[:len(line)-2]+"\x01\"}") {
			t.Errorf("fast path takes a control character at %d", n)
		}
	}
}

// TestFastPathRandomMutations breaks compact lines in one to three random
// places, many times over, and checks every line the fast path accepts.
func TestFastPathRandomMutations(t *testing.T) {
	seeds := append([]string{
		compactLine(`{"op":"assign","attr":"email","value":"user.1@example.com"}`, `{"op":"increment","attr":"visits","value":-7}`),
		compactLine(`{"op":"set-add","attr":"tags","value":["vip","say \"hi\""]}`, `{"op":"delete","attr":"t"}`),
		compactLine(`{"op":"set-remove","attr":"ids","value":[9223372036854775807,0]}`, `{"op":"assign","attr":"city","value":"Zürich"}`),
	}, crossCheckSeeds[FormatProfileJSON]...)
	rng := rand.New(rand.NewPCG(5, 6))
	n := 200000
	if testing.Short() {
		n = 20000
	}
	taken := 0
	for range n {
		line := seeds[rng.IntN(len(seeds))]
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(line) + 1)
			p := crossCheckPieces[rng.IntN(len(crossCheckPieces))]
			switch j := min(i+1, len(line)); rng.IntN(3) {
			case 0:
				line = line[:i] + line[j:]
			case 1:
				line = line[:i] + p + line[i:]
			default:
				line = line[:i] + p + line[j:]
			}
		}
		if checkFastPath(t, FormatProfileJSON, line) {
			taken++
		}
	}
	t.Logf("%d lines, %d taken by the fast path", n, taken)
	if taken < n/100 {
		t.Errorf("only %d of %d mutated lines took the fast path: the test no longer exercises it", taken, n)
	}
}

// TestFastStringStops checks that the lowest flag of fastStringStops is the
// first byte that stops a plain run, on words made of the bytes around each
// boundary.
func TestFastStringStops(t *testing.T) {
	interesting := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 0x7e, 0x7f, 0x80, 0x81, 0xc3, 0xfe, 0xff, 'a'}
	rng := rand.New(rand.NewPCG(7, 8))
	var w [8]byte
	for range 200000 {
		for j := range w {
			w[j] = interesting[rng.IntN(len(interesting))]
		}
		want := 8
		for j, ch := range w {
			if !strPlain[ch] || ch >= 0x80 {
				want = j
				break
			}
		}
		got := 8
		if m := fastStringStops(uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56); m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if got != want {
			t.Fatalf("% x: first stop at %d, want %d", w, got, want)
		}
	}
}
