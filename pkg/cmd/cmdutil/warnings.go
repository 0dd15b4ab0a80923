package cmdutil

import (
	"fmt"
	"io"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
)

// PrintWarnings writes a run's warnings, what it did differently from git
// on purpose (apply.Result.Warnings), one "warning: ..." line each, to w
// (stderr): also with -o json|yaml, whose output holds them too.
func PrintWarnings(w io.Writer, res *apply.Result) {
	if res == nil {
		return
	}
	for _, warning := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
}
