package localytics

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"testing"

	. "github.com/onsi/gomega"
)

// readerOnly hides every method of an io.Reader but Read, as an
// io.LimitedReader hides WriteTo from net/http's copy.
type readerOnly struct{ io.Reader }

// TestFormBodySendsTheSameForm: the transport sends a body with WriteTo
// (chunked) or Read (with a Content-Length); both must give the same, whole
// form, with the file intact, whatever its length against the chunks.
func TestFormBodySendsTheSameForm(t *testing.T) {
	sizes := map[string]int{
		"empty file":             0,
		"one byte":               1,
		"exactly one chunk":      chunkSize,
		"more chunks than ahead": readAheadChunks*chunkSize + 12345,
	}
	for name, size := range sizes {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			content := make([]byte, size)
			rng := rand.New(rand.NewPCG(1, uint64(size)))
			for i := range content {
				content[i] = byte(rng.Uint32())
			}
			send := map[string]func(*formBody) ([]byte, error){
				"WriteTo": func(b *formBody) ([]byte, error) {
					var out bytes.Buffer
					_, err := b.WriteTo(&out)
					return out.Bytes(), err
				},
				"Read": func(b *formBody) ([]byte, error) {
					return io.ReadAll(readerOnly{b})
				},
			}
			for how, sendBody := range send {
				form := &uploadForm{
					fields:      []formField{{"org_id", "60"}, {"format", "json"}},
					file:        UploadFile{Content: bytes.NewReader(content), Size: int64(size)},
					defaultName: "profiles.json",
				}
				body := form.open()
				sent, err := sendBody(body)
				g.Expect(err).NotTo(HaveOccurred(), how)
				g.Expect(body.finish()).To(Succeed(), how)
				if size > 0 {
					g.Expect(int64(len(sent))).To(Equal(body.length), how)
				}

				_, params, err := mime.ParseMediaType(body.contentType)
				g.Expect(err).NotTo(HaveOccurred())
				mr := multipart.NewReader(bytes.NewReader(sent), params["boundary"])
				got := map[string][]byte{}
				for {
					part, err := mr.NextPart()
					if errors.Is(err, io.EOF) {
						break
					}
					g.Expect(err).NotTo(HaveOccurred(), how)
					got[part.FormName()], err = io.ReadAll(part)
					g.Expect(err).NotTo(HaveOccurred(), how)
				}
				g.Expect(got).To(HaveLen(3), how)
				g.Expect(string(got["org_id"])).To(Equal("60"), how)
				g.Expect(string(got["format"])).To(Equal("json"), how)
				g.Expect(bytes.Equal(got["file"], content)).To(BeTrue(), "%s: the file arrived changed", how)
			}
		})
	}
}
