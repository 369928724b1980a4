// Command uploadbench validates and uploads one profile file the way the
// operator's upload does, in one pass: file → importfile.NewReader (Strict,
// WithoutDigest: the operator hashed this revision when it validated it
// first) → localytics.Client.UploadProfiles → the API. hack/bench-upload.sh
// times it against curl sending the same file to the same simulator.
//
//	uploadbench --url http://127.0.0.1:8787 --key demo --secret demo-secret --org 60 profiles.json
//
// It prints one line on stdout: the source bytes, the lines, the seconds from
// opening the file to the reply, and the MB/s (10^6 bytes) that make.
// --digest hashes the file as well (sha256, as Validate does), for a tool
// that uploads a file it has not seen before; --cpuprofile writes a CPU
// profile of the upload.
//
//	uploadbench --generate 300 profiles.json
//
// writes a realistic profile file of about 300 MB instead (the same mix of
// changes as internal/importfile's benchmarks) and exits.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/localytics-operator/localytics-operator/internal/importfile"
	"github.com/localytics-operator/localytics-operator/internal/importfile/importfiletest"
	"github.com/localytics-operator/localytics-operator/internal/localytics"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "uploadbench:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "http://127.0.0.1:8787", "base URL of the API (the simulator)")
	key := flag.String("key", "demo", "API key")
	secret := flag.String("secret", "demo-secret", "API secret")
	org := flag.Int64("org", 60, "org id the profiles belong to")
	generate := flag.Int64("generate", 0, "write a profile file of about this many MB to FILE instead of uploading")
	digest := flag.Bool("digest", false, "also hash the file while uploading it (the operator does not: it uploads a revision it validated, and hashed, before)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the upload to this file")
	flag.Parse()
	if flag.NArg() != 1 {
		return errors.New("usage: uploadbench [flags] FILE (a profile JSON Lines file)")
	}
	if *generate > 0 {
		return generateFile(flag.Arg(0), *generate*1e6)
	}
	c, err := localytics.New(*url, localytics.Credentials{Key: *key, Secret: *secret},
		// The simulator enforces the budgets; the client's own would stop a
		// benchmark after ten uploads. The cap is lifted for large files.
		localytics.WithLimits(localytics.Limits{}), localytics.WithMaxUploadBytes(1<<40))
	if err != nil {
		return err
	}

	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}

	start := time.Now()
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	var opts []importfile.ReaderOption
	if !*digest {
		opts = append(opts, importfile.WithoutDigest())
	}
	r := importfile.NewReader(f, importfile.FormatProfileJSON, importfile.Strict, opts...)
	// Size 0: what the Reader passes on is not known in advance (it drops a
	// byte order mark and turns "\r\n" into "\n"), so the body is chunked.
	if _, err := c.UploadProfiles(context.Background(), localytics.ProfileUpload{
		Scope:  localytics.Scope{OrgID: *org},
		Format: localytics.ProfileFormatJSON,
		File:   localytics.UploadFile{Content: r},
	}); err != nil {
		return err
	}
	elapsed := time.Since(start)

	fi, err := f.Stat()
	if err != nil {
		return err
	}
	rep := r.Report()
	if rep.InvalidLines > 0 || rep.Bytes != fi.Size() || *digest && rep.Digest == "" {
		return fmt.Errorf("the file was not read to its end as valid: %+v", rep)
	}
	fmt.Printf("%d bytes %d lines %.3f s %.1f MB/s\n", rep.Bytes, rep.Lines, elapsed.Seconds(), float64(rep.Bytes)/elapsed.Seconds()/1e6)
	return nil
}

// generateFile writes about size bytes of valid profile lines, the mix of
// the Go benchmarks (importfiletest).
func generateFile(name string, size int64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	lines := importfiletest.NewProfileLines()
	var line []byte
	for n := int64(0); n < size; n += int64(len(line)) {
		line = lines.Append(line[:0])
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// startCPUProfile profiles the process until the returned func is called.
func startCPUProfile(name string) (stop func(), err error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
