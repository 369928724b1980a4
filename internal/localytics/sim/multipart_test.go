package sim

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// chunked hides the length of r so the request is sent without
// Content-Length and the simulator must count the bytes as they stream in.
func chunked(r io.Reader) io.Reader { return struct{ io.Reader }{r} }

func TestUploadSizeCap(t *testing.T) {
	const limit = 1000
	audience := strings.Repeat(" ", limit-len(`{"customer_id":"a"}`)) + `{"customer_id":"a"}`
	cases := map[string]struct {
		path, method string
		fields       func(file string) []field
		file         string
		hideLength   bool
		want         int
	}{
		"P1 one byte over": {
			path: "/v1/imports/profiles/upload", method: http.MethodPost,
			fields: func(f string) []field { return []field{org60, {"format", "json"}, {"file", f}} },
			file:   strings.Repeat("\n", limit) + "x", hideLength: true, want: http.StatusRequestEntityTooLarge,
		},
		"P1 exactly at the cap": {
			path: "/v1/imports/profiles/upload", method: http.MethodPost,
			fields: func(f string) []field { return []field{org60, {"format", "json"}, {"file", f}} },
			file:   strings.Repeat("\n", limit-len(oneChange)) + oneChange, hideLength: true, want: http.StatusAccepted,
		},
		"P1 declared far over the cap": {
			path: "/v1/imports/profiles/upload", method: http.MethodPost,
			fields: func(f string) []field { return []field{org60, {"format", "json"}, {"file", f}} },
			file:   strings.Repeat("\n", 2<<20), want: http.StatusRequestEntityTooLarge,
		},
		"A1 one byte over": {
			path: "/v1/imports/audiences/list/", method: http.MethodPost,
			fields: func(f string) []field {
				return []field{app1, {"audience_name", "n"}, {"identifier_type", "customer_id"}, {"file", f}}
			},
			file: audience + "\n", hideLength: true, want: http.StatusRequestEntityTooLarge,
		},
		"A1 exactly at the cap": {
			path: "/v1/imports/audiences/list/", method: http.MethodPost,
			fields: func(f string) []field {
				return []field{app1, {"audience_name", "n"}, {"identifier_type", "customer_id"}, {"file", f}}
			},
			file: audience, hideLength: true, want: http.StatusAccepted,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := newHarness(t, func(c *Config) { c.Limits.MaxUploadBytes = limit })
			body, ct := form(tc.fields(tc.file)...)
			if tc.hideLength {
				body = chunked(body)
			}
			r := h.send(tc.method, tc.path, as1, body, ct)
			g.Expect(r.status).To(Equal(tc.want), "%s", r.body)
			if tc.want == http.StatusRequestEntityTooLarge {
				g.Expect(r.text()).To(ContainSubstring("1000 bytes"))
				g.Expect(h.sim.Uploads()).To(BeEmpty())
				g.Expect(h.sim.Budgets(key1.Key)[0].Used).To(BeZero(), "a refused upload spends no upload budget")
			} else {
				g.Expect(h.sim.Uploads()).To(ConsistOf(HaveField("Bytes", int64(limit))))
			}
		})
	}
}

func TestReplaceSizeCap(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) { c.Limits.MaxUploadBytes = 100 })
	listID := h.createdListID(as1, "app-1", "vip", `{"customer_id":"a"}`)
	r := h.replaceAudience(as1, listID, strings.Repeat(`{"customer_id":"a"}`+"\n", 10))
	g.Expect(r.status).To(Equal(http.StatusRequestEntityTooLarge))
	g.Expect(h.sim.AudienceLists("app-1")).To(ConsistOf(HaveField("Version", 1)))
}

func TestLargeUploadsSpoolToDiskAndAreCleanedUp(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	h := newHarness(t, func(c *Config) {
		c.SpoolDir = dir
		c.PendingFor = time.Hour
	})
	// More than the in-memory part of a spool: five long blank lines, which
	// the parser skips, then one change.
	file := strings.Repeat(strings.Repeat(" ", spoolMemory/4)+"\n", 5) + oneChange
	body, ct := form(org60, field{"format", "json"}, field{"file", file})
	r := h.send(http.MethodPost, "/v1/imports/profiles/upload", as1, chunked(body), ct)
	g.Expect(r.status).To(Equal(http.StatusAccepted))
	id := activityID(t, r)
	g.Expect(os.ReadDir(dir)).To(HaveLen(1), "the file waits on disk for its job")

	h.clock.Advance(time.Hour)
	st := h.profileStatus(as1, id)
	g.Expect(st).To(HaveKeyWithValue("status", "Completed"))
	g.Expect(st["upload_statistics"]).To(HaveKeyWithValue("total_number_of_imports", 1.0))
	g.Expect(os.ReadDir(dir)).To(BeEmpty(), "processed files are removed")

	// Close removes the files of jobs never processed.
	body, ct = form(org60, field{"format", "json"}, field{"file", file})
	g.Expect(h.send(http.MethodPost, "/v1/imports/profiles/upload", as1, body, ct).status).To(Equal(http.StatusAccepted))
	g.Expect(os.ReadDir(dir)).To(HaveLen(1))
	h.sim.Close()
	g.Expect(os.ReadDir(dir)).To(BeEmpty())
}

func TestLongLinesAreReportedNotHeld(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	long := `{"customer_id":"big","changes":[{"op":"assign","attr":"a","value":"` + strings.Repeat("x", maxLineBytes) + `"}]}`
	id := h.uploadProfiles(as1, org60, "json", lines(long, oneChange))
	g.Expect(h.profileStatus(as1, id)["upload_statistics"]).To(HaveKeyWithValue("successful_imports", 1.0))
	log, _ := h.sim.ErrorLog(id)
	g.Expect(log).To(ConsistOf(LineError{Line: 1, Error: "line is longer than 1048576 bytes"}))
}

func TestLinesWithoutTrailingNewlineAndCRLF(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	file := oneChange + "\r\n" + `{"customer_id":"c2","changes":[{"op":"assign","attr":"a","value":"v"}]}`
	id := h.uploadProfiles(as1, org60, "json", file)
	g.Expect(h.profileStatus(as1, id)["upload_statistics"]).To(HaveKeyWithValue("successful_imports", 2.0))
	g.Expect(h.sim.Profiles(Scope{OrgID: 60})).To(HaveKeyWithValue("c2", Profile{"a": "v"}))
}

// countingReader counts the bytes the HTTP client took from it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestEarlyRefusalDoesNotReadTheFile(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, nil)
	// The scope comes before the file, so the 403 is known before the file is
	// read: the client gets its answer having sent a small part of the file.
	const size = 64 << 20
	head, ct := form(field{"org_id", "61"}, field{"format", "json"})
	headBytes, _ := io.ReadAll(head)
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	closing := []byte("--" + boundary + "--\r\n")
	headBytes = bytes.TrimSuffix(headBytes, closing)
	filePart := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.json\"\r\n\r\n"
	body := &countingReader{r: io.MultiReader(bytes.NewReader(headBytes), strings.NewReader(filePart),
		io.LimitReader(zeros{}, size), strings.NewReader("\r\n"), bytes.NewReader(closing))}
	r := h.send(http.MethodPost, "/v1/imports/profiles/upload", as1, body, ct)
	g.Expect(r.status).To(Equal(http.StatusForbidden), "%s", r.body)
	g.Expect(body.n.Load()).To(BeNumerically("<", size/2), "most of the file was never sent")
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestUnwritableSpoolIsTheSimulatorsFault(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(c *Config) { c.SpoolDir = "/nonexistent/spool" })
	body, ct := form(org60, field{"format", "json"}, field{"file", strings.Repeat(" ", spoolMemory+1)})
	r := h.send(http.MethodPost, "/v1/imports/profiles/upload", as1, body, ct)
	g.Expect(r.status).To(Equal(http.StatusInternalServerError))
	g.Expect(r.text()).To(ContainSubstring("storing the upload"))
	g.Expect(h.sim.Budgets(key1.Key)[0].Used).To(BeZero())
}
