package cluster

import "syscall"

// sysProcAttr puts a component in its own process group, so that it can be
// stopped with all its children, and out of reach of a terminal's SIGINT.
// Pdeathsig kills it should the process that started it die first, for
// instance when a test binary is interrupted.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
