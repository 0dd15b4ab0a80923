//go:build !unix

package generate

import "os/exec"

// processGroup does nothing here: without process groups, cancelling cmd
// kills the program itself (exec's default), not what it started.
func processGroup(*exec.Cmd) {}

func killGroup(*exec.Cmd) error { return nil }
