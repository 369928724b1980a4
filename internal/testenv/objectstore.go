package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ObjectStore is a running versitygw, the S3-compatible store built by
// hack/build-versitygw.sh, serving a temporary directory (its posix backend:
// buckets are directories, objects files) on a loopback port, with one root
// account.
type ObjectStore struct {
	// Endpoint is the store's base URL, e.g. http://127.0.0.1:41234.
	Endpoint string
	// AccessKey and SecretKey are the root account's credentials.
	AccessKey, SecretKey string
	// Region is the region the store answers for.
	Region string

	dir       string
	accessLog string
	server    *server
}

// VersityGW is the path of the versitygw binary: $VERSITYGW (the Makefile
// sets it) or, when a test runs from an editor, the first version under
// bin/versitygw.
func VersityGW() (string, error) {
	return findTool("VERSITYGW", "versitygw/*/versitygw", "object-store")
}

// StartObjectStore starts an empty store. Stop it when done.
func StartObjectStore() (*ObjectStore, error) {
	bin, err := VersityGW()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "objectstore-")
	if err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp("", "objectstore-log-")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s := &ObjectStore{
		Endpoint:  "http://" + addr,
		AccessKey: "test-access-key",
		SecretKey: "test-secret-key",
		Region:    "us-east-1",
		dir:       dir,
		accessLog: filepath.Join(logDir, "access.log"),
	}
	// The credentials go through the environment, not the command line,
	// where any process could read them; an unsigned request gets a 403.
	s.server, err = startServer("versitygw", bin,
		[]string{"--port", addr, "--region", s.Region, "--quiet", "--access-log", s.accessLog, "posix", dir},
		[]string{"ROOT_ACCESS_KEY_ID=" + s.AccessKey, "ROOT_SECRET_ACCESS_KEY=" + s.SecretKey}, s.Endpoint)
	if err != nil {
		_ = os.RemoveAll(dir)
		_ = os.RemoveAll(logDir)
		return nil, err
	}
	return s, nil
}

// Stop stops the store and removes its directory.
func (s *ObjectStore) Stop() error {
	s.server.stop()
	_ = os.RemoveAll(filepath.Dir(s.accessLog))
	return os.RemoveAll(s.dir)
}

// Requests counts the requests of an S3 operation (e.g. "GetObject",
// "HeadObject") on an object that the store has logged so far.
func (s *ObjectStore) Requests(operation, bucket, key string) int {
	log, err := os.ReadFile(s.accessLog)
	if err != nil {
		return 0
	}
	// A line holds, among other fields, " s3_GetObject key /bucket/key" and
	// then the query, if any, or a space.
	request := regexp.MustCompile(regexp.QuoteMeta(" s3_"+operation+" "+key+" /"+bucket+"/"+key) + "[ ?]")
	return len(request.FindAll(log, -1))
}

// URL is the s3:// URL of an object in this store, as a source names it.
func (s *ObjectStore) URL(bucket, key string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s", bucket, key, url.QueryEscape(s.Endpoint))
}

// Client is an S3 client of the store's root account.
func (s *ObjectStore) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// Put writes an object, creating its bucket if need be.
func (s *ObjectStore) Put(ctx context.Context, bucket, key string, body []byte) error {
	c := s.Client()
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("creating bucket %q: %w", bucket, err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	return err
}

// WriteFile puts a file in a bucket's directory behind the store's back, as
// one copied there by hand: the store knows no ETag for it. The bucket must
// exist.
func (s *ObjectStore) WriteFile(bucket, key string, content []byte) error {
	path := filepath.Join(s.dir, bucket, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, content, 0o644)
}

// Delete removes an object.
func (s *ObjectStore) Delete(ctx context.Context, bucket, key string) error {
	_, err := s.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	return err
}
