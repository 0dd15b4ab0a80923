// Package rollback is the rollback command: sync a revision of a set's
// recorded history again, and suspend the set.
package rollback

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/completion"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/sync"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
)

const example = `  # Go back to the last revision that synced successfully before the current one
  kubectl gitops rollback web

  # Go back two successful revisions
  kubectl gitops rollback web --steps 2

  # Go back to a revision of the history (kubectl gitops status web lists them)
  kubectl gitops rollback web --to 3f2a9c1

  # When the bad revision is fixed in git: let watch and sync roll forward again
  kubectl gitops resume web`

// Options are the rollback command's options.
type Options struct {
	Source         syncflags.Flags
	To             string
	Steps          int
	Prune          bool
	ForceConflicts bool
	DryRun         string
	Wait           bool
	Timeout        time.Duration
	Concurrency    int
	Output         string

	session *session.Session
	factory kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdRollback returns the rollback command.
func NewCmdRollback(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "rollback [NAME | --name NAME] [--to REVISION | --steps N]",
		Short: "Sync an earlier revision of a set's history again, and suspend the set",
		Long: `Go back to a revision the set synced before: by default the last revision
that synced successfully before the current one (--steps 1), or --steps N
successful revisions back (a run that a rollback undid is no step back: a
second rollback goes further back), or the revision --to names. It is synced
as any sync does, pruning what it does not hold, from the repository, ref and
path recorded for its run (a recorded source is used only when it is the one
confirmed on this machine, as for sync without --repo).

The set is suspended ("rolled back to REV by USER"), before anything is
applied, so that watch does not roll it forward again, and the run is recorded
as a rollback: fix the revision in git, then kubectl gitops resume. A
suspended set can be rolled back; its dependencies are not checked (the
revision passed them when it was synced).

--to takes a revision of the set's history (the record keeps the last 10
runs), full or abbreviated; a commit that is not in the history is synced
only when it is a commit of the set's repository.

Output and exit status are those of sync: 0 synced, 1 failed or refused.`,
		Example:           example,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completion.SetNameArg(f),
		RunE:              cmdutil.RunE(o),
	}
	o.Source.AddFlags(cmd)
	cmd.Flags().Lookup("repo").Usage = "Git repository to read the revision from. Defaults to the source recorded for the revision's run, when it is the one confirmed on this machine."
	cmd.Flags().StringVar(&o.To, "to", "", "Revision to roll back to: a commit sha (or its first 7 or more hex digits) of the set's history, or a commit of its repository.")
	cmd.Flags().IntVar(&o.Steps, "steps", 0, "How many successful revisions to go back from the current one (default 1).")
	syncflags.AddApplyFlags(cmd, &o.Prune, &o.ForceConflicts, &o.Concurrency)
	cmd.Flags().StringVar(&o.DryRun, "dry-run", "none", `"server" sends every change as a server-side dry run and changes nothing, not even the suspension; "none" applies.`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "server"
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "Wait until what was applied is ready (rolled out, complete, established).")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "How long --wait waits.")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml, as sync's. Default: a line per object and a summary.")
	for name, usage := range map[string]string{
		"name":            "Name of the sync set to roll back: its parent ConfigMap in the default namespace holds the history.",
		"ref":             "With --repo: the branch or tag to compare with the confirmed source. Defaults to the ref recorded for the revision's run.",
		"path":            "With --repo: the directory of the manifests. Defaults to the path recorded for the revision's run.",
		"prune":           "Prune the set's objects that the revision rolled back to does not hold.",
		"force-conflicts": "Claim the fields of the revision that other field managers own.",
	} {
		cmd.Flags().Lookup(name).Usage = usage
	}
	cmd.MarkFlagsMutuallyExclusive("to", "steps")
	return cmd
}

// CompleteArgs takes the set's name from the argument, as --name.
func (o *Options) CompleteArgs(args []string) error { return o.Source.NameFromArgs(args) }

// Complete builds the session from the flags and the environment.
func (o *Options) Complete(cmd *cobra.Command) (err error) {
	o.session, err = o.Source.SetSession(cmd, o.factory, o.ErrOut)
	return err
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.DryRun != "none" && o.DryRun != "server" {
		return fmt.Errorf("--dry-run=%q is not supported: use --dry-run=server", o.DryRun)
	}
	if o.Steps < 0 {
		return fmt.Errorf("--steps %d: give 1 or more", o.Steps)
	}
	if o.Concurrency < 1 {
		return errors.New("--concurrency must be at least 1")
	}
	return cmdutil.ValidateOutput(o.Output, "json", "yaml")
}

// Run rolls back.
func (o *Options) Run(ctx context.Context) error {
	progress := cmdutil.NewProgress(o.ErrOut)
	res, err := o.session.Rollback(ctx, session.RollbackRequest{
		To:    o.To,
		Steps: o.Steps,
		Apply: apply.Options{
			ForceConflicts: o.ForceConflicts,
			DryRun:         o.DryRun == "server",
			Prune:          o.Prune,
			Wait:           o.Wait,
			Timeout:        o.Timeout,
			Concurrency:    o.Concurrency,
		},
		Progress: cmdutil.SessionProgress(progress, o.ErrOut),
	})
	progress.Done()
	var failed *session.FailedError
	if err != nil && !errors.As(err, &failed) {
		return err
	}
	if o.Output != "" {
		if perr := cmdutil.PrintObject(o.Out, o.Output, res); perr != nil {
			return perr
		}
	} else {
		sync.PrintLines(o.Out, res.Result)
		sync.PrintSummary(o.Out, res, o.Timeout)
	}
	if !res.DryRun {
		fmt.Fprintf(o.ErrOut, "sync set %s is suspended (rolled back to %.12s): watch and sync leave it alone until kubectl gitops resume --name %s\n", res.Name, res.Revision, res.Name)
	}
	if err == nil && res.Counts.Failed == 0 && len(res.NotReady) > 0 {
		return &cmdutil.ExitError{Code: 1}
	}
	return err
}
