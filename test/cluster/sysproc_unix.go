//go:build unix && !linux

package cluster

import "syscall"

// sysProcAttr puts a component in its own process group, so that it can be
// stopped with all its children, and out of reach of a terminal's SIGINT.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
