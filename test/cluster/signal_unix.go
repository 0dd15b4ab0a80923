//go:build unix

package cluster

import (
	"errors"
	"os"
	"syscall"
)

// signalGroup sends sig to the process group led by p. It returns
// os.ErrProcessDone when the group has no process left.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}
