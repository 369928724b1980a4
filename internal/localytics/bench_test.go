package localytics_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/localytics-operator/localytics-operator/internal/importfile"
	"github.com/localytics-operator/localytics-operator/internal/importfile/importfiletest"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// newBenchSimulator serves a simulator with its budgets off. With sink set
// it drops upload bodies after counting them (DiscardUploads), so that it is
// faster than the client being measured; otherwise it spools them to disk as
// it normally does.
func newBenchSimulator(tb testing.TB, sink bool) (*sim.Server, *localytics.Client) {
	tb.Helper()
	simulator := sim.New(sim.Config{
		Accounts: []sim.Account{account},
		// Budgets off: this measures throughput. A fake clock keeps the jobs
		// queued rather than processed in the background.
		Limits:         sim.Limits{ProfileUploads: -1, ProfileStatus: -1, AudienceCalls: -1, MaxUploadBytes: 1 << 40},
		Clock:          sim.NewFakeClock(time.Now()),
		SpoolDir:       tb.TempDir(),
		DiscardUploads: sink,
	})
	tb.Cleanup(simulator.Close)
	return simulator, newBenchClient(tb, simulator)
}

func newBenchClient(tb testing.TB, h http.Handler) *localytics.Client {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	c, err := localytics.New(srv.URL, localytics.Credentials{Key: apiKey, Secret: apiSecret},
		localytics.WithLimits(localytics.Limits{}), localytics.WithMaxUploadBytes(1<<40))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// BenchmarkUploadProfiles streams a file that is never held in memory to the
// simulator (spooling it to disk, as the vendor stores it, or dropping it)
// and to a handler that only reads it: the client's own cost, no validation.
func BenchmarkUploadProfiles(b *testing.B) {
	const size = 64 << 20
	const line = `{"customer_id":"c-0001","changes":[{"op":"assign","attr":"plan","value":"gold"}]}` + "\n"

	discard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"activity_id":"x"}`))
	})
	targets := map[string]func(b *testing.B) (*localytics.Client, func()){
		"simulator": func(b *testing.B) (*localytics.Client, func()) {
			s, c := newBenchSimulator(b, false)
			return c, s.Reset // drop the spooled file
		},
		"simulator-sink": func(b *testing.B) (*localytics.Client, func()) {
			s, c := newBenchSimulator(b, true)
			return c, s.Reset
		},
		"discard": func(b *testing.B) (*localytics.Client, func()) {
			return newBenchClient(b, discard), func() {}
		},
	}
	for name, target := range targets {
		b.Run(name, func(b *testing.B) {
			c, reset := target(b)
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
				reset()
				b.StartTimer()
			}
		})
	}
}

// profileBlock is about 1 MiB of realistic profile lines (the mix of
// internal/importfile's benchmarks), which profileSource repeats.
var profileBlock = sync.OnceValue(func() []byte { return importfiletest.ProfileJSON(1 << 20) })

// profileSource is a valid profile file of about size bytes (whole blocks of
// lines), generated as it is read: never held in memory.
func profileSource(size int64) (r io.Reader, n int64, lines int) {
	block := profileBlock()
	blocks := max(size/int64(len(block)), 1)
	return io.LimitReader(repeatReader(string(block)), blocks*int64(len(block))),
		blocks * int64(len(block)), int(blocks) * bytes.Count(block, []byte("\n"))
}

// validateUpload is the operator's upload, one pass: source →
// importfile.Reader (Strict; WithoutDigest unless digest, since the operator
// hashed the revision when it validated it) → UploadProfiles → the simulator.
func validateUpload(tb testing.TB, c *localytics.Client, src io.Reader, lines int, digest bool) {
	tb.Helper()
	var opts []importfile.ReaderOption
	if !digest {
		opts = append(opts, importfile.WithoutDigest())
	}
	r := importfile.NewReader(src, importfile.FormatProfileJSON, importfile.Strict, opts...)
	_, err := c.UploadProfiles(context.Background(), localytics.ProfileUpload{
		Scope:  localytics.Scope{OrgID: orgID},
		Format: localytics.ProfileFormatJSON,
		File:   localytics.UploadFile{Content: r},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if rep := r.Report(); rep.ValidLines != int64(lines) || digest && rep.Digest == "" {
		tb.Fatalf("not all %d lines were read and valid: %+v", lines, rep)
	}
}

// BenchmarkValidateUploadProfiles is the project's speed target (docs/benchmarks.md) measured in
// process: validate + upload of realistic profile lines to the simulator over
// loopback HTTP, in one pass. "simulator-sink" drops the body after counting
// it, so the client is what is measured; "simulator" spools it to disk;
// "+digest" hashes the file as well. hack/bench-upload.sh compares the same
// path, as a binary, with curl.
func BenchmarkValidateUploadProfiles(b *testing.B) {
	cases := []struct {
		name         string
		sink, digest bool
	}{
		{"simulator-sink", true, false},
		{"simulator-sink+digest", true, true},
		{"simulator", false, false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s, c := newBenchSimulator(b, tc.sink)
			_, size, lines := profileSource(64 << 20)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				src, _, _ := profileSource(size)
				validateUpload(b, c, src, lines, tc.digest)
				b.StopTimer()
				s.Reset()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(lines), "ns/line")
		})
	}
}

// BenchmarkValidateUploadMemory shows that memory does not grow with the
// file: the same path for 64 MiB and 512 MiB, reporting the peak of the live
// heap of the whole process (client and simulator) while it runs, and B/op,
// everything allocated per upload. Both stay the same whatever the size.
func BenchmarkValidateUploadMemory(b *testing.B) {
	for _, size := range []int64{64 << 20, 512 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			s, c := newBenchSimulator(b, true)
			_, n, lines := profileSource(size)
			b.SetBytes(n)
			b.ReportAllocs()
			var peak uint64
			for b.Loop() {
				src, _, _ := profileSource(size)
				peak = max(peak, heapPeakDuring(func() { validateUpload(b, c, src, lines, false) }))
				s.Reset()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// heapPeakDuring runs f and returns the largest heap (live and not yet
// collected objects) seen, sampled every millisecond, after a collection at
// the start.
func heapPeakDuring(f func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	peak := read()
	done := make(chan struct{})
	sampled := make(chan uint64)
	go func() {
		p := peak
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				sampled <- max(p, read())
				return
			case <-t.C:
				p = max(p, read())
			}
		}
	}()
	f()
	close(done)
	return <-sampled
}

// TestValidateUploadMemoryDoesNotGrowWithTheFile checks the streaming target
// at a size the race detector can afford: uploading eight times as much
// allocates about as much, far less than the file.
func TestValidateUploadMemoryDoesNotGrowWithTheFile(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 36 MiB")
	}
	s, c := newBenchSimulator(t, true)
	allocated := func(size int64) uint64 {
		src, n, lines := profileSource(size)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		validateUpload(t, c, src, lines, false)
		runtime.ReadMemStats(&after)
		s.Reset()
		t.Logf("%.1f MiB: %d KiB allocated", float64(n)/(1<<20), (after.TotalAlloc-before.TotalAlloc)>>10)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := allocated(4<<20), allocated(32<<20)
	// A file's worth of allocation would be 28 MiB more; buffers and the
	// requests' own allocations differ by far less.
	if large > small+2<<20 {
		t.Errorf("uploading 8 times as much allocated %d KiB instead of %d KiB: memory grows with the file", large>>10, small>>10)
	}
}
