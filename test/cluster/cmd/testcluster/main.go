// Command testcluster runs the test control plane of package
// test/cluster until it is interrupted, for demos and benchmarks:
//
//	testcluster --bin DIR [--controllers] --kubeconfig-out FILE
//
// It writes an admin kubeconfig to FILE, prints "ready" on stdout, and on
// SIGINT or SIGTERM stops every component and exits 0. DIR defaults to
// $KUBECTL_GITOPS_TESTBIN. Component logs go to files in a temporary
// directory, removed on exit; on a startup failure their ends are printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/kubectl-gitops/kubectl-gitops/test/cluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testcluster:", err)
		os.Exit(1)
	}
}

// run parses the flags, runs the cluster until a signal, and stops it.
func run() error {
	var opts cluster.Options
	var out string
	flag.StringVar(&opts.BinDir, "bin", os.Getenv(cluster.EnvTestbin), "testbin `directory` built by hack/testbin.sh (default $"+cluster.EnvTestbin+")")
	flag.BoolVar(&opts.Controllers, "controllers", false, "also run kube-controller-manager, kube-scheduler and kwok with one fake Node")
	flag.StringVar(&out, "kubeconfig-out", "", "`file` to write the admin kubeconfig to (required)")
	flag.Parse()
	if out == "" || flag.NArg() != 0 {
		flag.Usage()
		return errors.New("usage: testcluster --bin DIR [--controllers] --kubeconfig-out FILE")
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	if err := copyFile(c.Kubeconfig, out); err != nil {
		return errors.Join(err, c.Stop())
	}
	fmt.Println("ready")
	<-ctx.Done()
	return c.Stop()
}

// copyFile copies src to dst, atomically: a reader of dst never sees part
// of it.
func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read kubeconfig: %w", err)
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".kubeconfig-*")
	if err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing left to remove
	_, err = tmp.Write(data)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
