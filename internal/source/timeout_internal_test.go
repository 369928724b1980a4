package source

import "testing"

// A store that accepts a request and never answers must not hold a worker
// beyond the header timeout (its body reads end with the caller's context).
func TestStoreRequestsHaveAHeaderTimeout(t *testing.T) {
	if got := s3HTTPClient.GetTransport().ResponseHeaderTimeout; got != storeHeaderTimeout || got <= 0 {
		t.Fatalf("the store client waits %v for an answer, want %v", got, storeHeaderTimeout)
	}
	if got := s3HTTPClient.GetDialer().Timeout; got <= 0 {
		t.Fatalf("the store client connects without a deadline")
	}
}
