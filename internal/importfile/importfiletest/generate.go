// Package importfiletest generates realistic, valid import files for
// benchmarks and tests: the same mix of lines wherever the upload path is
// measured, so that figures from different packages compare.
package importfiletest

import (
	"fmt"
	"math/rand/v2"
)

// Cities are attribute values with and without non-ASCII characters.
var Cities = []string{"Boston", "Berlin", "São Paulo", "Zürich", "Kraków", "東京", "Lagos", "Austin"}

// ProfileLines generates valid profile JSON Lines deterministically.
type ProfileLines struct {
	rng  *rand.Rand
	next int
}

// NewProfileLines starts the same sequence of lines every time.
func NewProfileLines() *ProfileLines {
	return &ProfileLines{rng: rand.New(rand.NewPCG(1, 2))}
}

// Append appends the next line, "\n" included: ids, emails, dates, counters
// and sets, now and then a non-ASCII city or an escape.
func (p *ProfileLines) Append(b []byte) []byte {
	rng := p.rng
	b = fmt.Appendf(b, `{"customer_id":"cust-%08d","changes":[`, p.next)
	p.next++
	for j := range 1 + rng.IntN(4) {
		if j > 0 {
			b = append(b, ',')
		}
		switch rng.IntN(7) {
		case 0:
			b = fmt.Appendf(b, `{"op":"assign","attr":"email","value":"user.%d@example.com"}`, rng.IntN(1e6))
		case 1:
			b = fmt.Appendf(b, `{"op":"assign","attr":"city","value":%q}`, Cities[rng.IntN(len(Cities))])
		case 2:
			b = fmt.Appendf(b, `{"op":"assign","attr":"signup","value":"20%02d-%02d-%02d"}`, rng.IntN(25), 1+rng.IntN(12), 1+rng.IntN(28))
		case 3:
			b = fmt.Appendf(b, `{"op":"increment","attr":"visits","value":%d}`, rng.IntN(100)-10)
		case 4:
			b = fmt.Appendf(b, `{"op":"set-add","attr":"tags","value":["vip","beta-%d","say \"hi\""]}`, rng.IntN(9))
		case 5:
			b = fmt.Appendf(b, `{"op":"assign","attr":"lifetime_value","value":%d}`, rng.IntN(1e9))
		default:
			b = append(b, `{"op":"delete","attr":"trial_ends"}`...)
		}
	}
	return append(b, "]}\n"...)
}

// ProfileJSON returns whole lines of at least size bytes.
func ProfileJSON(size int) []byte {
	lines := NewProfileLines()
	var b []byte
	for len(b) < size {
		b = lines.Append(b)
	}
	return b
}
