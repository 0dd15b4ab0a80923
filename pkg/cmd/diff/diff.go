// Package diff is the diff command: what a sync would change, as a
// server-side dry run against the live objects.
package diff

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/completion"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/fleetrun"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
)

const example = `  # What would a sync of the set web change?
  kubectl gitops diff web --repo https://github.com/example/web.git --path deploy

  # In a script: exit 0 when the cluster matches git, 1 when it differs
  if ! kubectl gitops diff web >/dev/null; then echo "drift"; fi`

// Options are the diff command's options.
type Options struct {
	Source         syncflags.Flags
	Prune          bool
	Adopt          bool
	AllowEmpty     bool
	ForceConflicts bool
	Concurrency    int
	Output         string
	Fleet          fleetrun.Flags

	fleetBase session.Options // the options every target shares (fleet.go)

	// pruneNamed: --prune was given on the command line.
	pruneNamed bool

	session *session.Session
	factory kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdDiff returns the diff command.
func NewCmdDiff(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "diff [NAME | --name NAME] [--repo REPO] [--ref REF] [--path PATH]",
		Short: "Show what a sync would change: a unified diff per object",
		Long: `Run a sync as a server-side dry run and show, for each object, the unified
diff from the live object to what the sync would make of it, then what would
be created, changed and pruned.

Secret values are masked as kubectl diff masks them, "***", or "*** (before)"
and "*** (after)" where they change, in data and stringData and also in the
copy of the Secret that kubectl apply keeps, in plain text, in the annotation
kubectl.kubernetes.io/last-applied-configuration (kubectl diff shows that
one as it is).

A sync that would be refused is an error here too: objects that exist
outside any set (see --adopt), and a revision without objects that would prune
the whole set (see --allow-empty); pass the same flag to see the changes.

Exit status: 0 when nothing would change, 1 when something would, 2 or more
on error.`,
		Example:           example,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completion.SetNameArg(f),
		RunE:              cmdutil.RunE(o),
	}
	o.Source.AddFlags(cmd)
	o.Fleet.AddFlags(cmd)
	syncflags.AddApplyFlags(cmd, &o.Prune, &o.ForceConflicts, &o.Concurrency)
	syncflags.AddOwnershipFlags(cmd, &o.Adopt, &o.AllowEmpty)
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml. Default: unified diffs and a summary.")
	// The flags are sync's, but diff changes nothing: say what each shows.
	for name, usage := range map[string]string{
		"prune":           "Show the set's objects that are no longer in the repository as to be pruned, as sync --prune deletes them. With false, they are not shown.",
		"force-conflicts": "Show the changes with the fields that other field managers own taken over, as sync --force-conflicts would. Without it, such fields are conflicts (errors).",
		"adopt":           "Show the changes with the repository's objects that exist in the cluster outside any sync set taken over, as sync --adopt would. Without it they are errors, as they would be for sync.",
		"ref":             "Branch, tag or commit to compare with the cluster. Defaults to HEAD (the remote's default branch).",
		"allow-empty":     "Show what a sync of a revision without objects would prune of the set, as sync --allow-empty would. Without it such a revision is an error, as it would be for sync.",
	} {
		cmd.Flags().Lookup(name).Usage = usage
	}
	return cmd
}

// CompleteArgs takes the set's name from the argument, as --name.
func (o *Options) CompleteArgs(args []string) error { return o.Source.NameFromArgs(args) }

// Complete builds the session from the flags and the environment.
func (o *Options) Complete(cmd *cobra.Command) error {
	if o.Fleet.Enabled() {
		return o.completeFleet(cmd)
	}
	o.pruneNamed = cmd.Flags().Changed("prune")
	var err error
	if o.session, err = o.Source.SetSession(cmd, o.factory, o.ErrOut); err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := cmdutil.ValidateOutput(o.Output, "json", "yaml"); err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	return nil
}

// request is what the flags ask of a diff, for one set or each target of
// a fleet.
func (o *Options) request() session.SyncRequest {
	return session.SyncRequest{
		Apply: apply.Options{
			ForceConflicts: o.ForceConflicts,
			Prune:          o.Prune,
			Adopt:          o.Adopt,
			AllowEmpty:     o.AllowEmpty,
			Concurrency:    o.Concurrency,
		},
		PruneNamed: o.pruneNamed,
	}
}

// Run diffs. It returns an ExitError with code 1 when something would
// change, and code 2 on failure.
func (o *Options) Run(ctx context.Context) error {
	if o.Fleet.Enabled() {
		return o.runFleet(ctx)
	}
	progress := cmdutil.NewProgress(o.ErrOut)
	req := o.request()
	req.Progress = cmdutil.SessionProgress(progress, o.ErrOut)
	res, err := o.session.Diff(ctx, req)
	progress.Done()
	if res != nil {
		cmdutil.PrintWarnings(o.ErrOut, res.Result)
	}
	var failed *session.FailedError
	if err != nil && !errors.As(err, &failed) {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	if o.Output != "" {
		if err := cmdutil.PrintObject(o.Out, o.Output, res); err != nil {
			return &cmdutil.ExitError{Code: 2, Err: err}
		}
	} else {
		printDiff(o.Out, res.Result)
	}
	if err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	if res.Changed() {
		return &cmdutil.ExitError{Code: 1}
	}
	return nil
}

var verbs = map[apply.Action]string{
	apply.Created:    "would be created",
	apply.Configured: "would change",
	apply.Pruned:     "would be pruned",
	apply.Kept:       "would be released from the set (kept by its annotation)",
}

func printDiff(w io.Writer, res *apply.Result) {
	for _, l := range res.Lines {
		verb, ok := verbs[l.Action]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "► %s %s\n", l.Object, verb)
		if l.Message != "" {
			fmt.Fprintf(w, "  (%s)\n", l.Message)
		}
		fmt.Fprint(w, l.Diff)
	}
	c := res.Counts
	fmt.Fprintf(w, "%d to create, %d to change, %d to prune, %d unchanged\n", c.Created, c.Configured, c.Pruned, c.Unchanged)
}
