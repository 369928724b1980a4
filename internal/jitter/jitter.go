// Package jitter spreads waits out at random, so that callers that failed or
// were throttled together (retries, requeues, conflicting writers) do not all
// come back at the same instant. It is the one home of the operator's random
// delays; each caller says which shape it uses and why.
package jitter

import (
	"math/rand/v2"
	"time"
)

// Up returns a random duration uniform in [0, d], 0 when d <= 0: added to a
// wait, it delays by up to d more.
func Up(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// Equal returns d with "equal jitter": half of it fixed, half random, so a
// uniform duration in [d/2, d], 0 when d <= 0. Waits spread out but never
// shrink to nothing.
func Equal(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + Up(d/2)
}
