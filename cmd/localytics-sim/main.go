// Command localytics-sim runs the Localytics Import API simulator
// (internal/localytics/sim) as a stand-alone HTTP server, so that people can
// rehearse imports with the vendor's curl examples and the end-to-end tests can
// run the operator against it.
//
//	localytics-sim --addr 127.0.0.1:8787 --account demo:demo-secret:org=60,app=*
//	curl -u demo:demo-secret -F org_id=60 -F format=json -F file=@profiles.jsonl \
//	    http://127.0.0.1:8787/v1/imports/profiles/upload
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "localytics-sim:", err)
		os.Exit(1)
	}
}

// run parses args, serves until ctx ends or SIGINT/SIGTERM, and reports the
// address it listens on to stdout (logs go to stderr).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return err
	}
	simulator := sim.New(opts.config(newLogger(opts.logFormat, stderr)))
	defer simulator.Close()
	simulator.SetFaults(opts.faults)
	srv := &http.Server{
		Handler: simulator,
		// No read timeout: uploads of 100 MB and more may take a while.
		ReadHeaderTimeout: 10 * time.Second,
	}

	fmt.Fprintf(stdout, "localytics-sim listening on http://%s\n", ln.Addr())
	for _, a := range opts.accounts {
		fmt.Fprintf(stdout, "account %s: orgs %v, apps %v\n", a.Key, a.OrgIDs, a.AppIDs)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
