package cmdutil

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/annotations"
)

// UsageExitCodeAnnotation, on a command, is the exit status of its usage
// errors when that is not 1: diff keeps 2 for every error, as kubectl diff
// does, since its 1 means "something differs".
const UsageExitCodeAnnotation = annotations.Prefix + "usage-exit-code"

// UsageError is an error in how a command was called: an unknown flag, a
// flag value the command does not take, a missing or extra argument. As in
// kubectl, it is printed with a line that points at the command's help,
// never with the help itself.
type UsageError struct {
	// Command is the command's path, such as "kubectl gitops sync".
	Command string
	Code    int
	Err     error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// NewUsageError wraps err, an error in how cmd was called. The exit status is
// that of an ExitError inside err, else the command's
// UsageExitCodeAnnotation, else 1.
func NewUsageError(cmd *cobra.Command, err error) error {
	var u *UsageError
	if err == nil || errors.As(err, &u) || errors.Is(err, pflag.ErrHelp) {
		return err
	}
	code := 1
	for c := cmd; c != nil; c = c.Parent() {
		if v, ok := c.Annotations[UsageExitCodeAnnotation]; ok {
			if n, perr := strconv.Atoi(v); perr == nil {
				code = n
			}
			break
		}
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		code, err = exit.Code, exit.Err
	}
	return &UsageError{Command: cmd.CommandPath(), Code: code, Err: err}
}

// ClassifyUsageErrors makes every error of cmd and its subcommands that comes
// from how they were called a UsageError: flag parsing errors, argument
// count errors, and the errors a RunE returns before it sets
// cmd.SilenceUsage, which is where every command checks its flags
// (Complete, Validate) before it starts work. It silences cobra's own
// printing of errors and usage, which would put the whole help on stdout.
func ClassifyUsageErrors(root *cobra.Command) {
	root.SilenceErrors = true
	root.SilenceUsage = true // cobra honours the root's for every subcommand
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return NewUsageError(c, err)
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				return NewUsageError(cmd, args(cmd, a))
			}
		}
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, a []string) error {
				cmd.SilenceUsage = false
				err := run(cmd, a)
				if err != nil && !cmd.SilenceUsage {
					return NewUsageError(cmd, err)
				}
				return err
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// ExitCode prints err, returned by executing cmd, on w and returns the
// process's exit status: 0 without error, the code of a UsageError or
// ExitError, else 1. A usage error is followed by the line
// "See 'kubectl gitops sync --help' for usage.", as kubectl does.
func ExitCode(cmd *cobra.Command, err error, w io.Writer) int {
	if err == nil {
		return 0
	}
	var usage *UsageError
	if !errors.As(err, &usage) && cmd != nil && cmd.Parent() == nil && strings.HasPrefix(err.Error(), "unknown command ") {
		// cobra's error for `kubectl gitops nosuchcommand` has no type of its own
		usage = &UsageError{Command: cmd.CommandPath(), Code: 1, Err: err}
	}
	if usage != nil {
		fmt.Fprintln(w, "error:", usage.Err)
		fmt.Fprintf(w, "See '%s --help' for usage.\n", usage.Command)
		return usage.Code
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		if exit.Err != nil {
			fmt.Fprintln(w, "error:", exit.Err)
		}
		return exit.Code
	}
	fmt.Fprintln(w, "error:", err)
	return 1
}
