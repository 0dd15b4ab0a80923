package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// EnvTestbin names the environment variable holding the testbin directory
// built by hack/testbin.sh. The Makefile sets it for "make test".
const EnvTestbin = "KUBECTL_GITOPS_TESTBIN"

// missingTestbinHint tells how to get a testbin directory.
const missingTestbinHint = "run `make testbin`, or `make test`, which builds it and sets $" + EnvTestbin

// Options configures a Cluster.
type Options struct {
	// BinDir is the testbin directory; "" means $KUBECTL_GITOPS_TESTBIN.
	BinDir string
	// Controllers also runs kube-controller-manager, kube-scheduler, kwok
	// and one fake kwok Node, so that Deployments roll out and their Pods
	// become ready.
	Controllers bool
	// Dir is the working directory for etcd data, certificates, the
	// kubeconfig and logs. "" means a temporary directory removed by Stop;
	// a given Dir is kept.
	Dir string
	// Logs receives the output of every component, each line prefixed with
	// the component's name. nil means one file per component in Dir/logs.
	Logs io.Writer
}

// binaries are the absolute paths of the programs a cluster runs.
type binaries struct {
	etcd, apiserver, controllerManager, scheduler, kwok string
	stages                                              []string // kwok Stage files
}

// findBinaries resolves the testbin directory of opts and checks that it
// holds every program the cluster needs.
func findBinaries(opts Options) (binaries, error) {
	dir := opts.BinDir
	if dir == "" {
		dir = os.Getenv(EnvTestbin)
	}
	if dir == "" {
		return binaries{}, fmt.Errorf("no testbin directory, as Options.BinDir and $%s are empty: %s", EnvTestbin, missingTestbinHint)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return binaries{}, fmt.Errorf("testbin directory: %w", err)
	}
	bin := func(name string) string { return filepath.Join(dir, "bin", name) }
	b := binaries{
		etcd:      bin("etcd"),
		apiserver: bin("kube-apiserver"),
	}
	need := []string{b.etcd, b.apiserver}
	if opts.Controllers {
		b.controllerManager = bin("kube-controller-manager")
		b.scheduler = bin("kube-scheduler")
		b.kwok = bin("kwok")
		need = append(need, b.controllerManager, b.scheduler, b.kwok)
		b.stages, err = filepath.Glob(filepath.Join(dir, "stages", "*.yaml"))
		if err != nil {
			return binaries{}, fmt.Errorf("kwok stages: %w", err)
		}
		if len(b.stages) == 0 {
			return binaries{}, fmt.Errorf("no kwok stage in %s; %s", filepath.Join(dir, "stages"), missingTestbinHint)
		}
		sort.Strings(b.stages)
	}
	var errs []error
	for _, path := range need {
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return binaries{}, fmt.Errorf("incomplete testbin directory %s; %s:\n%w", dir, missingTestbinHint, err)
	}
	return b, nil
}
