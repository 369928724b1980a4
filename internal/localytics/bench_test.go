package localytics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// BenchmarkUploadProfiles streams a generated profile file, never held in
// memory, to the simulator (which spools it to disk, as the vendor stores
// it) and to a handler that only reads it (the client's own cost).
func BenchmarkUploadProfiles(b *testing.B) {
	const size = 64 << 20
	const line = `{"customer_id":"c-0001","changes":[{"op":"assign","attr":"plan","value":"gold"}]}` + "\n"

	simulator := sim.New(sim.Config{
		Accounts: []sim.Account{account},
		// Budgets off: this measures throughput. A fake clock keeps the jobs
		// queued rather than processed in the background.
		Limits:   sim.Limits{ProfileUploads: -1, ProfileStatus: -1, AudienceCalls: -1, MaxUploadBytes: 1 << 30},
		Clock:    sim.NewFakeClock(time.Now()),
		SpoolDir: b.TempDir(),
	})
	b.Cleanup(simulator.Close)
	discard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"activity_id":"x"}`))
	})
	targets := map[string]struct {
		handler http.Handler
		reset   func()
	}{
		"simulator": {handler: simulator, reset: simulator.Reset},
		"discard":   {handler: discard, reset: func() {}},
	}
	for name, target := range targets {
		b.Run(name, func(b *testing.B) {
			srv := httptest.NewServer(target.handler)
			b.Cleanup(srv.Close)
			c, err := localytics.New(srv.URL, localytics.Credentials{Key: apiKey, Secret: apiSecret},
				localytics.WithLimits(localytics.Limits{}), localytics.WithMaxUploadBytes(1<<30))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				_, err := c.UploadProfiles(ctx, localytics.ProfileUpload{
					Scope:  localytics.Scope{OrgID: orgID},
					Format: localytics.ProfileFormatJSON,
					File:   localytics.UploadFile{Content: io.LimitReader(repeatReader(line), size), Size: size},
				})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				target.reset() // drop the spooled file
				b.StartTimer()
			}
		})
	}
}
