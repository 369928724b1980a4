package testenv

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// The object stores of the tests (versitygw, fake-gcs-server, Azurite) are
// real processes on loopback, built or installed into bin/ by hack/ scripts.

// findTool is the path of a store's program: $env (the Makefile sets it) or,
// when a test runs from an editor, the first match of glob under bin/.
func findTool(env, glob, makeTarget string) (string, error) {
	if path := os.Getenv(env); path != "" {
		return path, nil
	}
	matches, _ := filepath.Glob(filepath.Join(RepoRoot(), "bin", glob))
	if len(matches) == 0 {
		return "", fmt.Errorf("no %s under bin/: run 'make %s' or set %s", glob, makeTarget, env)
	}
	return matches[0], nil
}

// server is a store's running process, its output kept for the message of
// a failure to start.
type server struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
}

func (s *server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Write(p)
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// startServer starts bin with args and env (added to the test's), and
// waits until readyURL answers HTTP, whatever the status.
func startServer(name, bin string, args, env []string, readyURL string) (*server, error) {
	s := &server{name: name, cmd: exec.Command(bin, args...)}
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(exited)
	}()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited at start: %s", name, s.output())
		default:
		}
		if resp, err := client.Get(readyURL); err == nil {
			_ = resp.Body.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("%s did not answer on %s within a minute: %s", name, readyURL, s.output())
}

func (s *server) stop() {
	if s != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
