package source_test

import (
	"context"
	"io"
	"testing"

	"github.com/localytics-operator/localytics-operator/internal/importfile/importfiletest"
	"github.com/localytics-operator/localytics-operator/internal/source"
)

// BenchmarkOpenObject reads a 64 MiB profile file from versitygw over
// loopback, as the operator's validation and upload passes do: the store's
// side of the upload path (hack/bench-upload.sh measures the API's side).
func BenchmarkOpenObject(b *testing.B) {
	ctx := context.Background()
	file := importfiletest.ProfileJSON(64 << 20)
	if err := store.Put(ctx, "bench", "profiles.json", file); err != nil {
		b.Fatal(err)
	}
	createStoreSecret(b, "bench-creds", storeCredentials())
	src := objectSource(store.URL("bench", "profiles.json"), "bench-creds")
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := source.Open(ctx, k8sClient, "default", src, storeOptions())
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		_ = f.Close()
		if err != nil || n != int64(len(file)) {
			b.Fatalf("read %d of %d bytes: %v", n, len(file), err)
		}
	}
}
