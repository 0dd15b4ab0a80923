//go:build !unix

package cluster

import (
	"os"
	"syscall"
)

// sysProcAttr returns no special attributes: process groups are a Unix
// feature.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup kills p: without process groups, there is neither a group to
// signal nor a graceful termination signal.
func signalGroup(p *os.Process, _ syscall.Signal) error {
	return p.Kill()
}
