// Command chartgen writes the Helm chart charts/localytics-operator from
// `kubectl kustomize config/default`, rendered with the pinned kubectl as
// build-installer does: `make chart`. See internal/chartgen.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/localytics-operator/localytics-operator/internal/chartgen"
)

func main() {
	kubectl := flag.String("kubectl", "kubectl", "the kubectl that renders config/default")
	config := flag.String("config", "config/default", "the kustomization to render")
	out := flag.String("out", "charts/localytics-operator", "the chart's directory")
	flag.Parse()
	if err := run(*kubectl, *config, *out); err != nil {
		fmt.Fprintln(os.Stderr, "chartgen:", err)
		os.Exit(1)
	}
}

func run(kubectl, config, out string) error {
	var stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", config)
	cmd.Stderr = &stderr
	rendered, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s kustomize %s: %w\n%s", kubectl, config, err, stderr.String())
	}
	files, err := chartgen.Generate(rendered, chartgen.DefaultOptions)
	if err != nil {
		return err
	}
	// templates/ and crds/ are the generator's alone: files of objects that
	// config/default no longer has go.
	for _, dir := range []string{"templates", "crds"} {
		if err := os.RemoveAll(filepath.Join(out, dir)); err != nil {
			return err
		}
	}
	for name, content := range files {
		p := filepath.Join(out, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %s (%d files)\n", out, len(files))
	return nil
}
