// Package testenv starts the real Kubernetes control plane the tests run
// against: etcd and kube-apiserver built by hack/build-control-plane.sh, with
// the operator's generated CRDs installed.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the root of this repository, found from this file's path so
// that tests work from any package directory and from an editor.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BinaryAssetsDir is where etcd, kube-apiserver and kubectl are: the
// KUBEBUILDER_ASSETS the Makefile sets or, when a test runs from an editor,
// the first version under bin/k8s.
func BinaryAssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	base := filepath.Join(RepoRoot(), "bin", "k8s")
	entries, err := os.ReadDir(base)
	if err != nil {
		return "", fmt.Errorf("no control plane in %s: run 'make control-plane' or set KUBEBUILDER_ASSETS: %w", base, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			return filepath.Join(base, e.Name()), nil
		}
	}
	return "", fmt.Errorf("no control plane in %s: run 'make control-plane'", base)
}

// New returns an envtest environment with the operator's CRDs, failing if
// they are missing rather than testing against an API without them.
func New() (*envtest.Environment, error) {
	assets, err := BinaryAssetsDir()
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// The machines that run the tests are shared and often busy: give
		// kube-apiserver time to start rather than fail a test on a slow start.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}, nil
}

// Kubectl is the path of the kubectl built with the control plane.
func Kubectl() (string, error) {
	assets, err := BinaryAssetsDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(assets, "kubectl"), nil
}
