package jitter

import (
	"testing"
	"time"
)

func TestRanges(t *testing.T) {
	tests := map[string]struct {
		jitter   func(time.Duration) time.Duration
		d        time.Duration
		min, max time.Duration
	}{
		"Up spans [0, d]":          {Up, 100, 0, 100},
		"Up of 1":                  {Up, 1, 0, 1},
		"Up of 0 is 0":             {Up, 0, 0, 0},
		"Up of a negative is 0":    {Up, -time.Second, 0, 0},
		"Equal spans [d/2, d]":     {Equal, 100, 50, 100},
		"Equal of an odd d":        {Equal, 101, 50, 100},
		"Equal of 1 is 0":          {Equal, 1, 0, 0},
		"Equal of 0 is 0":          {Equal, 0, 0, 0},
		"Equal of a negative is 0": {Equal, -100, 0, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			lo, hi := tc.max, tc.min
			for range 2000 {
				got := tc.jitter(tc.d)
				if got < tc.min || got > tc.max {
					t.Fatalf("got %v, want within [%v, %v]", got, tc.min, tc.max)
				}
				lo, hi = min(lo, got), max(hi, got)
			}
			// Random, not constant: over 2000 draws both ends come close.
			if span := tc.max - tc.min; span >= 100 && (lo > tc.min+span/10 || hi < tc.max-span/10) {
				t.Errorf("draws span [%v, %v], want most of [%v, %v]", lo, hi, tc.min, tc.max)
			}
		})
	}
}
