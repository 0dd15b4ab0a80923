package cluster

import (
	"os"
	"testing"
)

// Testbin returns the testbin directory named by $KUBECTL_GITOPS_TESTBIN.
// When it is unset, the test fails (it is not skipped) with a message telling
// to run `make testbin` or `make test`.
func Testbin(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvTestbin)
	if dir == "" {
		t.Fatalf("this test needs a real control plane, but $%s is unset: %s", EnvTestbin, missingTestbinHint)
	}
	return dir
}

// ForTest starts a cluster for the test t and stops it when t ends. If the
// test failed, the end of each component's log is logged first. An empty
// opts.BinDir means Testbin(t). Startup errors are fatal.
func ForTest(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.BinDir == "" {
		opts.BinDir = Testbin(t)
	}
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.logTails(t)
		}
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// logTails logs the end of each component's log file to t.
func (c *Cluster) logTails(t testing.TB) {
	t.Helper()
	for _, name := range []string{etcdName, apiserverName, controllerManagerName, schedulerName, kwokName} {
		if tail := c.logTail(name); tail != "" {
			t.Logf("--- end of %s ---\n%s", c.logFile(name), tail)
		}
	}
}
