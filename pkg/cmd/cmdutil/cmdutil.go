// Package cmdutil holds what the commands share: exit codes, output format
// flags and terminal detection.
package cmdutil

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"sigs.k8s.io/yaml"
)

// ExitError carries the exit code a command wants. A nil Err exits quietly.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ValidateOutput checks an -o value against the formats a command prints.
func ValidateOutput(output string, allowed ...string) error {
	if output == "" {
		return nil
	}
	for _, a := range allowed {
		if output == a {
			return nil
		}
	}
	return fmt.Errorf("--output %q is not supported: use one of %v", output, allowed)
}

// PrintObject writes v as JSON or YAML.
func PrintObject(w io.Writer, output string, v any) error {
	switch output {
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	default:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
}

// IsTerminal says whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Runner is a command's options, kubectl-style: completed from the flags,
// validated, then run.
type Runner interface {
	Complete(cmd *cobra.Command) error
	Validate() error
	Run(ctx context.Context) error
}

// ArgsCompleter is a Runner that takes positional arguments (the set's
// name): RunE gives them to CompleteArgs before Complete.
type ArgsCompleter interface {
	CompleteArgs(args []string) error
}

// RunE runs o as a cobra command does: CompleteArgs (when o takes
// arguments), Complete, Validate, then Run. Errors of all but Run are
// usage errors.
func RunE(o Runner) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if a, ok := o.(ArgsCompleter); ok {
			if err := a.CompleteArgs(args); err != nil {
				return err
			}
		}
		if err := o.Complete(cmd); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		cmd.SilenceUsage = true
		return o.Run(cmd.Context())
	}
}
