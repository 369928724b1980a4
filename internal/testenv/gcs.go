package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
)

// GCSEmulator is a running fake-gcs-server, built by
// hack/build-fake-gcs-server.sh, keeping its objects in memory, on a
// loopback port. It checks no credentials: the operator reaches it through
// STORAGE_EMULATOR_HOST (Host), without any.
type GCSEmulator struct {
	// Host is host:port, what STORAGE_EMULATOR_HOST names.
	Host   string
	server *server
}

// FakeGCSServer is the path of the fake-gcs-server binary: $FAKE_GCS_SERVER
// or the first version under bin/fake-gcs-server.
func FakeGCSServer() (string, error) {
	return findTool("FAKE_GCS_SERVER", "fake-gcs-server/*/fake-gcs-server", "gcs-emulator")
}

// StartGCSEmulator starts an empty emulator. Stop it when done.
func StartGCSEmulator() (*GCSEmulator, error) {
	bin, err := FakeGCSServer()
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	// Without -public-host, reads of objects answer 404.
	s, err := startServer("fake-gcs-server", bin,
		[]string{"-scheme", "http", "-host", host, "-port", port, "-public-host", addr, "-backend", "memory", "-log-level", "error"},
		nil, "http://"+addr+"/storage/v1/b")
	if err != nil {
		return nil, err
	}
	return &GCSEmulator{Host: addr, server: s}, nil
}

// Stop stops the emulator.
func (e *GCSEmulator) Stop() { e.server.stop() }

// URL is the gs:// URL of an object, as a source names it.
func (e *GCSEmulator) URL(bucket, key string) string { return "gs://" + bucket + "/" + key }

// Put writes an object, creating its bucket if need be.
func (e *GCSEmulator) Put(ctx context.Context, bucket, key string, body []byte) error {
	if err := e.CreateBucket(ctx, bucket); err != nil {
		return err
	}
	u := fmt.Sprintf("http://%s/upload/storage/v1/b/%s/o?uploadType=media&name=%s", e.Host, url.PathEscape(bucket), url.QueryEscape(key))
	return e.call(ctx, http.MethodPost, u, body, http.StatusOK)
}

// CreateBucket creates a bucket unless it exists.
func (e *GCSEmulator) CreateBucket(ctx context.Context, bucket string) error {
	body, _ := json.Marshal(map[string]string{"name": bucket})
	err := e.call(ctx, http.MethodPost, "http://"+e.Host+"/storage/v1/b", body, http.StatusOK)
	var se *statusError
	if err != nil && (!errors.As(err, &se) || se.code != http.StatusConflict) {
		return err
	}
	return nil
}

// Delete removes an object.
func (e *GCSEmulator) Delete(ctx context.Context, bucket, key string) error {
	u := fmt.Sprintf("http://%s/storage/v1/b/%s/o/%s", e.Host, url.PathEscape(bucket), url.PathEscape(key))
	return e.call(ctx, http.MethodDelete, u, nil, http.StatusNoContent)
}

func (e *GCSEmulator) call(ctx context.Context, method, u string, body []byte, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return &statusError{code: resp.StatusCode, msg: method + " " + u + ": " + resp.Status + ": " + string(bytes.TrimSpace(answer))}
	}
	return nil
}

// statusError is an answer of another status than the one expected.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

var (
	serviceAccountOnce sync.Once
	serviceAccountPEM  string
	serviceAccountErr  error
)

// ServiceAccountKey is a service account key as the Google Cloud console
// writes it, of an RSA key made once per test binary (fake-gcs-server checks
// no credentials), with its fields changed by edit if not nil.
func ServiceAccountKey(edit func(fields map[string]any)) (string, error) {
	serviceAccountOnce.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			serviceAccountErr = err
			return
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			serviceAccountErr = err
			return
		}
		serviceAccountPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	})
	if serviceAccountErr != nil {
		return "", serviceAccountErr
	}
	fields := map[string]any{
		"type": "service_account", "project_id": "imports", "private_key_id": "k1", "private_key": serviceAccountPEM,
		"client_email": "importer@imports.iam.gserviceaccount.com", "client_id": "1",
		"token_uri": "https://oauth2.googleapis.com/token",
	}
	if edit != nil {
		edit(fields)
	}
	out, err := json.Marshal(fields)
	return string(out), err
}
