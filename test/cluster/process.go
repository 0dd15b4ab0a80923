package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

const (
	// stopGrace is how long a component may take to exit after SIGTERM
	// before its process group is killed.
	stopGrace = 5 * time.Second
	// waitDelay bounds how long Wait keeps copying output after a process
	// exits, should a stray child still hold its output pipe.
	waitDelay = 2 * time.Second
)

// process is one running component, the leader of its own process group.
type process struct {
	name string
	cmd  *exec.Cmd
	out  io.Closer     // output, closed once the process has exited
	done chan struct{} // closed once the process has exited
	err  error         // result of Wait, valid once done is closed
}

// startProcess starts path with args in a new process group, its stdout and
// stderr going to out. extraEnv is added to the current environment.
// startProcess takes ownership of out and closes it once the process exits.
func startProcess(name, path string, args, extraEnv []string, out io.WriteCloser) (*process, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = p.out.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited, and if so how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		if p.err == nil {
			return true, fmt.Errorf("%s exited", p.name)
		}
		return true, fmt.Errorf("%s exited: %w", p.name, p.err)
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after stopGrace, and
// waits for the leader to exit. Finally it kills whatever is left in the
// group. An exit caused by these signals is not an error.
func (p *process) stop() error {
	if done, _ := p.exited(); !done {
		if err := signalGroup(p.cmd.Process, syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("terminate %s: %w", p.name, err)
		}
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			if err := signalGroup(p.cmd.Process, syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
				return fmt.Errorf("kill %s: %w", p.name, err)
			}
			<-p.done
		}
	}
	// The leader is gone; make sure no child of it survives.
	_ = signalGroup(p.cmd.Process, syscall.SIGKILL)
	return nil
}
