package sim

import (
	"bufio"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkProfileUploadReceive measures how fast the simulator takes in an
// upload (multipart parsing, counting, spooling), which bounds the operator's
// upload benchmark: the simulator must not be the bottleneck. "discard" is
// the sink of DiscardUploads, which hack/bench-upload.sh uses.
func BenchmarkProfileUploadReceive(b *testing.B) {
	for _, discard := range []bool{false, true} {
		name := "spool"
		if discard {
			name = "discard"
		}
		b.Run(name, func(b *testing.B) { benchmarkProfileUploadReceive(b, discard) })
	}
}

func benchmarkProfileUploadReceive(b *testing.B, discard bool) {
	const size = 64 << 20
	s := New(Config{
		Accounts:       []Account{key1},
		Limits:         Limits{ProfileUploads: -1, MaxUploadBytes: size},
		PendingFor:     time.Hour, // receive only: no processing inside the loop
		SpoolDir:       b.TempDir(),
		Clock:          NewFakeClock(epoch),
		DiscardUploads: discard,
	})
	defer s.Close()
	srv := newBenchServer(b, s)
	line := []byte(oneChange + "\n")
	b.SetBytes(size)
	for b.Loop() {
		pr, pw := io.Pipe()
		// Buffered like a real client's stream, so the benchmark measures
		// the simulator rather than tiny writes.
		bw := bufio.NewWriterSize(pw, 256<<10)
		mw := multipart.NewWriter(bw)
		go func() {
			_ = mw.WriteField("org_id", "60")
			_ = mw.WriteField("format", "json")
			fw, _ := mw.CreateFormFile("file", "f.json")
			for written := 0; written+len(line) <= size; written += len(line) {
				_, _ = fw.Write(line)
			}
			_ = mw.Close()
			_ = bw.Flush()
			_ = pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, srv+"/v1/imports/profiles/upload", pr)
		req.SetBasicAuth(key1.Key, key1.Secret)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatal(resp.Status)
		}
	}
}

// BenchmarkProfileJobProcessing measures parsing and applying a profile file.
func BenchmarkProfileJobProcessing(b *testing.B) {
	var sb strings.Builder
	for i := range 100_000 {
		sb.WriteString(`{"customer_id":"c` + formatInt(float64(i%5000)) + `","changes":[{"op":"increment","attr":"n","value":1},{"op":"set-add","attr":"t","value":["a","b"]}]}` + "\n")
	}
	file := sb.String()
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		s := New(Config{Accounts: []Account{key1}, Clock: NewFakeClock(epoch)})
		j := &job{kind: profileJob, scope: Scope{OrgID: 60}, format: "json"}
		if fail := s.processProfileJob(j, strings.NewReader(file)); fail != "" {
			b.Fatal(fail)
		}
	}
}

func newBenchServer(b *testing.B, s *Server) string {
	srv := httptest.NewServer(s)
	b.Cleanup(srv.Close)
	return srv.URL
}
