// Package sync is the sync command: a git commit becomes the state of the
// cluster.
package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

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

const example = `  # Sync the manifests under deploy/ of a remote repository's main branch
  kubectl gitops sync web --repo https://github.com/example/web.git --ref main --path deploy

  # Sync a local repository's committed HEAD, and wait until everything is ready
  kubectl gitops sync web --repo . --path deploy --wait --timeout 5m

  # Sync again from the source the set recorded last time (NAME or --name NAME)
  kubectl gitops sync web
  kubectl gitops sync --name web

  # See what would change, without changing anything
  kubectl gitops sync web --dry-run=server`

// Options are the sync command's options.
type Options struct {
	Source         syncflags.Flags
	Prune          bool
	Adopt          bool
	AllowEmpty     bool
	DryRun         string
	ForceConflicts bool
	Wait           bool
	Timeout        time.Duration
	Concurrency    int
	Output         string
	Force          bool
	DependsOn      syncflags.DependsOn
	Fleet          fleetrun.Flags

	fleetBase session.Options // the options every target shares (fleet.go)

	// pruneNamed: --prune was given on the command line.
	pruneNamed bool

	session *session.Session
	factory kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdSync returns the sync command.
func NewCmdSync(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "sync [NAME | --name NAME] [--repo REPO] [--ref REF] [--path PATH]",
		Short: "Apply a git commit to the cluster, pruning what left the repository",
		Long: `Render the manifests of one commit and make them the state of the cluster:
server-side apply in stages (namespaces and CRDs, cluster and RBAC, configuration,
workloads, custom resources), pruning of the set's objects that left the
repository (a kubectl ApplySet), and a record of the run in the set's parent.

Only committed files are read. Nothing is applied when any manifest is invalid.

Nothing is written either when the repository holds an ApplySet's parent or
an object of another sync set, when an object exists in the cluster outside
any set (made by hand, by Helm, by Flux: --adopt takes it over), or when the
revision has no objects and would prune the whole set (--allow-empty).

A suspended set (kubectl gitops suspend) is not synced unless --force; it
stays suspended. A set that depends on others (--depends-on, kept in its
record) syncs only when each of them synced successfully at its last run and
every member of theirs is healthy.`,
		Example:           example,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completion.SetNameArg(f),
		RunE:              cmdutil.RunE(o),
	}
	o.Source.AddFlags(cmd)
	syncflags.AddApplyFlags(cmd, &o.Prune, &o.ForceConflicts, &o.Concurrency)
	syncflags.AddOwnershipFlags(cmd, &o.Adopt, &o.AllowEmpty)
	cmd.Flags().StringVar(&o.DryRun, "dry-run", "none", `"server" sends every change as a server-side dry run and changes nothing; "none" applies.`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "server"
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "Wait until what was applied is ready (rolled out, complete, established).")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "How long --wait waits.")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml. Default: a line per object and a summary.")
	cmd.Flags().BoolVar(&o.Force, "force", false, "Sync the set even when it is suspended; it stays suspended.")
	syncflags.AddDependsOnFlag(cmd, &o.DependsOn)
	o.Fleet.AddFlags(cmd)
	return cmd
}

// CompleteArgs takes the set's name from the argument, as --name.
func (o *Options) CompleteArgs(args []string) error { return o.Source.NameFromArgs(args) }

// Complete builds the session from the flags and the environment.
func (o *Options) Complete(cmd *cobra.Command) (err error) {
	if o.Fleet.Enabled() {
		return o.completeFleet(cmd)
	}
	o.pruneNamed = cmd.Flags().Changed("prune")
	o.session, err = o.Source.SetSession(cmd, o.factory, o.ErrOut)
	return err
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.DryRun != "none" && o.DryRun != "server" {
		return fmt.Errorf("--dry-run=%q is not supported: use --dry-run=server (a client-side dry run cannot validate against the cluster)", o.DryRun)
	}
	if o.Concurrency < 1 {
		return errors.New("--concurrency must be at least 1")
	}
	return cmdutil.ValidateOutput(o.Output, "json", "yaml")
}

// waitReporter shows, while sync waits, what is not ready yet and why: on a
// terminal in the progress line, updated in place; otherwise a line on
// stderr each time the set of objects not ready changes.
func (o *Options) waitReporter(progress *cmdutil.Progress) func([]apply.Pending) {
	live := cmdutil.IsTerminal(o.ErrOut)
	start := time.Now()
	last := "-"
	return func(pending []apply.Pending) {
		if len(pending) == 0 {
			return
		}
		if live {
			left := max(o.Timeout-time.Since(start), 0).Round(time.Second)
			progress.Status(fmt.Sprintf("waiting (%s left): %d not ready: %s", left, len(pending), describePending(pending)))
			return
		}
		var ids []string
		for _, p := range pending {
			ids = append(ids, p.Object.String())
		}
		if key := strings.Join(ids, " "); key != last {
			last = key
			fmt.Fprintf(o.ErrOut, "waiting: %d not ready: %s\n", len(pending), describePending(pending))
		}
	}
}

// describePending is "Kind/ns/name (Status: message), ...".
func describePending(pending []apply.Pending) string {
	parts := make([]string, len(pending))
	for i, p := range pending {
		why := p.Health.Status
		if p.Health.Message != "" {
			why += ": " + p.Health.Message
		}
		parts[i] = fmt.Sprintf("%s (%s)", p.Object, why)
	}
	return strings.Join(parts, ", ")
}

// request is what the flags ask of a sync, for one set or each target of
// a fleet.
func (o *Options) request() session.SyncRequest {
	return session.SyncRequest{
		Apply: apply.Options{
			ForceConflicts: o.ForceConflicts,
			DryRun:         o.DryRun == "server",
			Prune:          o.Prune,
			Adopt:          o.Adopt,
			AllowEmpty:     o.AllowEmpty,
			Wait:           o.Wait,
			Timeout:        o.Timeout,
			Concurrency:    o.Concurrency,
		},
		Force:      o.Force,
		DependsOn:  o.DependsOn.Names(),
		PruneNamed: o.pruneNamed,
	}
}

// Run syncs.
func (o *Options) Run(ctx context.Context) error {
	if o.Fleet.Enabled() {
		return o.runFleet(ctx)
	}
	progress := cmdutil.NewProgress(o.ErrOut)
	req := o.request()
	req.Apply.OnWait = o.waitReporter(progress)
	req.Progress = cmdutil.SessionProgress(progress, o.ErrOut)
	res, err := o.session.Sync(ctx, req)
	progress.Done()
	if res != nil {
		cmdutil.PrintWarnings(o.ErrOut, res.Result)
	}
	var failed *session.FailedError
	if err != nil && !errors.As(err, &failed) {
		return err
	}
	if o.Output != "" {
		if err := cmdutil.PrintObject(o.Out, o.Output, res); err != nil {
			return err
		}
		return err
	}
	PrintLines(o.Out, res.Result)
	PrintSummary(o.Out, res, o.Timeout)
	if res.Counts.Failed == 0 && len(res.NotReady) > 0 {
		// The summary said it: exit 1 without saying it again.
		return &cmdutil.ExitError{Code: 1}
	}
	return err
}

// PrintLines writes a line per object.
func PrintLines(w io.Writer, res *apply.Result) {
	suffix := ""
	if res.DryRun {
		suffix = " (server dry run)"
	}
	for _, l := range res.Lines {
		msg := ""
		if l.Message != "" && l.Action != apply.Failed {
			msg = " (" + l.Message + ")"
		}
		if l.Action == apply.Failed {
			msg = ": " + l.Message
		}
		fmt.Fprintf(w, "%s %s%s%s\n", l.Object, l.Action, suffix, msg)
	}
}

// PrintSummary writes the closing line; waited is how long --wait waited.
func PrintSummary(w io.Writer, r *session.SyncResult, waited time.Duration) {
	c := r.Counts
	verb := "synced"
	if r.DryRun {
		verb = "dry run of"
	}
	ref := r.Ref
	if ref == "" {
		ref = "HEAD"
	}
	if c.Failed == 0 && len(r.NotReady) > 0 {
		// One outcome: applied, but not ready, and so not synced.
		var nr []string
		for _, n := range r.NotReady {
			// "Kind/ns/name: status: message" -> "Kind/ns/name (status: message)"
			id, why, _ := strings.Cut(n, ": ")
			nr = append(nr, fmt.Sprintf("%s (%s)", id, strings.TrimSuffix(why, ": ")))
		}
		after := ""
		if waited > 0 {
			after = " after " + waited.String()
		}
		fmt.Fprintf(w, "applied %s@%s (%s) to sync set %s: %d created, %d configured, %d unchanged, %d pruned in %s, but not ready%s: %s; the revision is not recorded as synced\n",
			ref, r.Revision, r.Repo, r.Name, c.Created, c.Configured, c.Unchanged, c.Pruned, r.Duration.Round(time.Millisecond), after, strings.Join(nr, ", "))
		return
	}
	fmt.Fprintf(w, "%s %s@%s (%s) to sync set %s: %d created, %d configured, %d unchanged, %d pruned, %d failed in %s\n",
		verb, ref, r.Revision, r.Repo, r.Name, c.Created, c.Configured, c.Unchanged, c.Pruned, c.Failed, r.Duration.Round(time.Millisecond))
}
