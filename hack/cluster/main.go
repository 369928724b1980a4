// Command cluster starts a local Kubernetes control plane (etcd and
// kube-apiserver from bin/k8s, through envtest) with the operator's CRDs
// installed, writes an admin kubeconfig, and runs until interrupted, so that a
// person (or the demo and e2e scripts) can use kubectl against it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	var (
		crdDir     string
		kubeconfig string
		assets     string
	)
	// A flag set of our own: controller-runtime registers --kubeconfig on the global one.
	flags := flag.NewFlagSet("cluster", flag.ExitOnError)
	flags.StringVar(&crdDir, "crds", "config/crd/bases", "Directory of the CRDs to install.")
	flags.StringVar(&kubeconfig, "kubeconfig", "bin/kubeconfig", "Where to write the admin kubeconfig.")
	flags.StringVar(&assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"),
		"Directory holding etcd, kube-apiserver and kubectl (make control-plane builds them).")
	_ = flags.Parse(os.Args[1:])

	if err := run(crdDir, kubeconfig, assets); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(crdDir, kubeconfig, assets string) error {
	if assets == "" {
		return fmt.Errorf("no control plane binaries: set --assets or KUBEBUILDER_ASSETS (make control-plane builds them)")
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crdDir},
		ErrorIfCRDPathMissing: true,
	}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "cluster: stopping the control plane:", err)
		}
	}()

	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the admin user: %w", err)
	}
	config, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing the kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o755); err != nil {
		return err
	}
	// Written last and then announced, so that a script may wait for this line.
	if err := os.WriteFile(kubeconfig, config, 0o600); err != nil {
		return err
	}
	fmt.Printf("control plane ready: %s\n", env.Config.Host)
	fmt.Printf("  kubectl --kubeconfig %s get localytics\n", kubeconfig)
	fmt.Println("press Ctrl-C to stop")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Println("stopping the control plane")
	// The kubeconfig points at a server that is going away.
	_ = os.Remove(kubeconfig)
	return nil
}
