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
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
)

const example = `  # Sync the manifests under deploy/ of a remote repository's main branch
  kubectl gitops sync --name web --repo https://github.com/example/web.git --ref main --path deploy

  # Sync a local repository's committed HEAD, and wait until everything is ready
  kubectl gitops sync --name web --repo . --path deploy --wait --timeout 5m

  # Sync again from the source the set recorded last time
  kubectl gitops sync --name web

  # See what would change, without changing anything
  kubectl gitops sync --name web --dry-run=server`

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

	factory kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdSync returns the sync command.
func NewCmdSync(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "sync --name NAME [--repo REPO] [--ref REF] [--path PATH]",
		Short: "Apply a git commit to the cluster, pruning what left the repository",
		Long: `Render the manifests of one commit and make them the state of the cluster:
server-side apply in stages (namespaces and CRDs, cluster and RBAC, configuration,
workloads, custom resources), pruning of the set's objects that left the
repository (a kubectl ApplySet), and a record of the run in the set's parent.

Only committed files are read. Nothing is applied when any manifest is invalid.

Nothing is written either when the repository holds an ApplySet's parent or
an object of another sync set, when an object exists in the cluster outside
any set (made by hand, by Helm, by Flux: --adopt takes it over), or when the
revision has no objects and would prune the whole set (--allow-empty).`,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.Run(cmd.Context())
		},
	}
	o.Source.AddFlags(cmd)
	AddApplyFlags(cmd, &o.Prune, &o.ForceConflicts, &o.Concurrency)
	AddOwnershipFlags(cmd, &o.Adopt, &o.AllowEmpty)
	cmd.Flags().StringVar(&o.DryRun, "dry-run", "none", `"server" sends every change as a server-side dry run and changes nothing; "none" applies.`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "server"
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "Wait until what was applied is ready (rolled out, complete, established).")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "How long --wait waits.")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml. Default: a line per object and a summary.")
	return cmd
}

// AddApplyFlags registers the flags sync and diff share.
func AddApplyFlags(cmd *cobra.Command, prune, force *bool, concurrency *int) {
	cmd.Flags().BoolVar(prune, "prune", true, "Delete the set's objects that are no longer in the repository.")
	cmd.Flags().BoolVar(force, "force-conflicts", false, "Take over fields that other field managers own.")
	cmd.Flags().IntVar(concurrency, "concurrency", 16, "Requests in flight at once within a stage.")
}

// AddOwnershipFlags registers the flags that let sync and diff go past the
// refusals of a sync set's ownership rules. watch has neither: taking objects
// over and emptying a set are one-off decisions of a person.
func AddOwnershipFlags(cmd *cobra.Command, adopt, allowEmpty *bool) {
	cmd.Flags().BoolVar(adopt, "adopt", false, "Take over objects of the repository that exist in the cluster outside any sync set (made by hand, by Helm, by Flux): they get the set's label, and are pruned with it when they leave the repository. Without it they are refused before anything is written. Objects of another sync set and ApplySet parents are refused either way.")
	cmd.Flags().BoolVar(allowEmpty, "allow-empty", false, "Sync a revision that renders no objects although the set has some, pruning every object of the set. Without it such a sync is refused before anything is written.")
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := o.Source.Validate(); err != nil {
		return err
	}
	if o.DryRun != "none" && o.DryRun != "server" {
		return fmt.Errorf("--dry-run=%q is not supported: use --dry-run=server (a client-side dry run cannot validate against the cluster)", o.DryRun)
	}
	if o.Concurrency < 1 {
		return errors.New("--concurrency must be at least 1")
	}
	return cmdutil.ValidateOutput(o.Output, "json", "yaml")
}

// Report is what -o json prints.
type Report struct {
	Name     string `json:"name"`
	Repo     string `json:"repo"`
	Ref      string `json:"ref,omitempty"`
	Path     string `json:"path,omitempty"`
	Revision string `json:"revision"`
	*apply.Result

	// waited is how long --wait waited, for a summary of what was not
	// ready then.
	waited time.Duration
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

// Run syncs.
func (o *Options) Run(ctx context.Context) error {
	progress := cmdutil.NewProgress(o.ErrOut)
	progress.Status("reading the repository and the cluster")
	p, err := o.Source.Prepare(ctx, o.factory)
	if err != nil {
		progress.Done()
		return err
	}
	progress.Done()
	NoteUncommitted(o.ErrOut, p, "sync")
	progress.Status(fmt.Sprintf("applying revision %s: %d objects", p.Snapshot.Revision, len(p.Plan.Items)))
	total := len(p.Plan.Items)
	done := 0
	res, err := apply.Sync(ctx, p.Client, p.Set, p.Plan, apply.Options{
		ForceConflicts: o.ForceConflicts,
		DryRun:         o.DryRun == "server",
		Prune:          o.Prune,
		Adopt:          o.Adopt,
		AllowEmpty:     o.AllowEmpty,
		Wait:           o.Wait,
		Timeout:        o.Timeout,
		Concurrency:    o.Concurrency,
		Revision:       p.Snapshot.Revision,
		Source:         p.Source,
		OnWait:         o.waitReporter(progress),
		OnLine: func(apply.Line) {
			done++
			progress.Status(fmt.Sprintf("applying revision %.12s: %d/%d", p.Snapshot.Revision, done, total))
		},
	})
	progress.Done()
	if err != nil {
		return err
	}
	report := Report{Name: o.Source.Name, Repo: p.Source.Repo, Ref: p.Source.Ref, Path: p.Source.Path, Revision: p.Snapshot.Revision, Result: res, waited: o.Timeout}
	if o.Output != "" {
		if err := cmdutil.PrintObject(o.Out, o.Output, report); err != nil {
			return err
		}
	} else {
		PrintLines(o.Out, res)
		PrintSummary(o.Out, report)
		if res.Counts.Failed == 0 && len(res.NotReady) > 0 {
			// The summary said it: exit 1 without saying it again.
			return &cmdutil.ExitError{Code: 1}
		}
	}
	if res.Failed() {
		return Failure(res)
	}
	return nil
}

// NoteUncommitted says in one line on w when the work tree of a local
// source has uncommitted changes under the path: verb (sync, diff) reads
// the commit only. A failure to look is no failure of the run: it says
// nothing then.
func NoteUncommitted(w io.Writer, p *syncflags.Prepared, verb string) {
	if p.Repository == nil {
		return
	}
	files, wt, err := p.Repository.Uncommitted(p.Snapshot.Revision, p.Source.Path)
	if err != nil || len(files) == 0 {
		return
	}
	where := wt + " has uncommitted changes"
	if dir := strings.Trim(p.Source.Path, "/"); dir != "" && dir != "." {
		where = dir + "/ has uncommitted changes in " + wt
	}
	shown := files
	more := ""
	if len(shown) > 3 {
		shown, more = shown[:3], fmt.Sprintf(" and %d more", len(files)-3)
	}
	fmt.Fprintf(w, "note: %s (%s%s); %s reads commit %.7s only\n", where, strings.Join(shown, ", "), more, verb, p.Snapshot.Revision)
}

// Failure is the error for a run in which objects failed or did not become
// ready; the lines above it say which.
func Failure(res *apply.Result) error {
	var errs []error
	for _, l := range res.Lines {
		if l.Action == apply.Failed {
			errs = append(errs, fmt.Errorf("%s (%s): %s", l.Object, l.Origin, l.Message))
		}
	}
	for _, n := range res.NotReady {
		errs = append(errs, fmt.Errorf("not ready: %s", n))
	}
	what := "the revision was not recorded as synced"
	if res.DryRun {
		what = "nothing was changed (dry run)"
	}
	return fmt.Errorf("%w\n%d object(s) failed, %d not ready; %s", errors.Join(errs...), res.Counts.Failed, len(res.NotReady), what)
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

// PrintSummary writes the closing line.
func PrintSummary(w io.Writer, r Report) {
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
		if r.waited > 0 {
			after = " after " + r.waited.String()
		}
		fmt.Fprintf(w, "applied %s@%s (%s) to sync set %s: %d created, %d configured, %d unchanged, %d pruned in %s, but not ready%s: %s; the revision is not recorded as synced\n",
			ref, r.Revision, r.Repo, r.Name, c.Created, c.Configured, c.Unchanged, c.Pruned, r.Duration.Round(time.Millisecond), after, strings.Join(nr, ", "))
		return
	}
	fmt.Fprintf(w, "%s %s@%s (%s) to sync set %s: %d created, %d configured, %d unchanged, %d pruned, %d failed in %s\n",
		verb, ref, r.Revision, r.Repo, r.Name, c.Created, c.Configured, c.Unchanged, c.Pruned, c.Failed, r.Duration.Round(time.Millisecond))
}
