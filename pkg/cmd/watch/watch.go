// Package watch is the watch command: the foreground reconcile loop that
// keeps the cluster equal to git, run by a person in a terminal.
package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/completion"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
	engine "github.com/kubectl-gitops/kubectl-gitops/pkg/watch"
)

const example = `  # Keep the cluster equal to the main branch of a remote repository, checking every minute
  kubectl gitops watch web --repo https://github.com/example/web.git --ref main --path deploy

  # Watch the source the set recorded at its last sync, every 30 seconds
  kubectl gitops watch web --interval 30s

  # Log lines as JSON, for a machine
  kubectl gitops watch web --log-format json > watch.log`

// Options are the watch command's options.
type Options struct {
	Source         syncflags.Flags
	Prune          bool
	ForceConflicts bool
	Concurrency    int
	Interval       time.Duration
	Images         bool
	ImagesInterval time.Duration
	LogFormat      string
	DependsOn      syncflags.DependsOn

	// pruneNamed: --prune was given on the command line (see
	// session.SyncRequest.PruneNamed).
	pruneNamed bool

	session *session.Session
	factory kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdWatch returns the watch command.
func NewCmdWatch(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "watch [NAME | --name NAME] [--repo REPO] [--ref REF] [--path PATH] [--interval 1m]",
		Short: "Keep the cluster equal to git: sync new commits and correct drift, until Ctrl-C",
		Long: `Run in the foreground, as Flux v1's daemon did in the cluster: fetch the
repository every --interval and sync as soon as the head moves; between
commits, every --interval, find what was deleted or changed by hand in the
cluster and restore it. Only what differs is written: a check that finds no
drift writes nothing, not even the set's record.

Fields the repository declares are taken back from whoever changed them
(--force-conflicts, on by default here, unlike sync): a kubectl edit or scale
of a declared field is undone. Fields the repository does not declare are
left alone.

Failures that pass (API server down, git remote unreachable) are reported and
retried after 1s, 2s, 4s... up to --interval (at most 5m); the loop keeps
running. A revision that cannot be synced (invalid YAML, an unknown kind) is
reported and skipped until the head moves: the cluster stays at the last good
revision, still corrected for drift, and the next good commit is applied. So
is a revision without objects while the set has some: watch never prunes a
set down to nothing (sync --allow-empty does, when you mean it).

One watcher per sync set: it holds the Lease gitops-watch-NAME in the set's
namespace. A second watcher says who holds it and waits, and takes over when
the first stops or its Lease expires (30s without renewal).

A suspended set (kubectl gitops suspend, or rollback) is left alone, drift
included: watch says so once and looks again every --interval, so that it
picks up after kubectl gitops resume. So is a set whose dependencies
(--depends-on, or those recorded by an earlier sync) are not synced and
healthy: watch says which and waits for them.

Ctrl-C or SIGTERM stops the step under way (a sync interrupted at any point
loses track of nothing), releases the Lease and exits 0.

On a terminal, a status block of four lines is redrawn in place below the log
lines of syncs, corrections and errors. Elsewhere, timestamped log lines, or
JSON lines with --log-format json.`,
		Example:           example,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completion.SetNameArg(f),
		RunE:              cmdutil.RunE(o),
	}
	o.Source.AddFlags(cmd)
	fs := cmd.Flags()
	fs.BoolVar(&o.Prune, "prune", true, "Delete the set's objects that are no longer in the repository.")
	fs.BoolVar(&o.ForceConflicts, "force-conflicts", true, "Take back fields that other field managers changed (kubectl edit, scale): drift correction. With false, such a field is reported as a conflict.")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "Requests in flight at once within a stage.")
	fs.DurationVar(&o.Interval, "interval", engine.DefaultInterval, "Time between fetches of the repository and drift checks of the cluster.")
	fs.BoolVar(&o.Images, "images", false, "Also run image automation (as images --update) every --images-interval, commit and push its change, and sync it.")
	fs.DurationVar(&o.ImagesInterval, "images-interval", engine.DefaultImagesInterval, "Time between runs of image automation, with --images.")
	fs.StringVar(&o.LogFormat, "log-format", engine.FormatText, "Log format: text or json (a JSON object per line).")
	syncflags.AddDependsOnFlag(cmd, &o.DependsOn)
	return cmd
}

// CompleteArgs takes the set's name from the argument, as --name.
func (o *Options) CompleteArgs(args []string) error { return o.Source.NameFromArgs(args) }

// Complete builds the session from the flags and the environment.
func (o *Options) Complete(cmd *cobra.Command) (err error) {
	o.pruneNamed = cmd.Flags().Changed("prune")
	o.session, err = o.Source.SetSession(cmd, o.factory, o.ErrOut)
	return err
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.Interval < time.Second {
		return fmt.Errorf("--interval %s is too short: give at least 1s", o.Interval)
	}
	if o.ImagesInterval < time.Second {
		return fmt.Errorf("--images-interval %s is too short: give at least 1s", o.ImagesInterval)
	}
	if o.Concurrency < 1 {
		return errors.New("--concurrency must be at least 1")
	}
	if o.LogFormat != engine.FormatText && o.LogFormat != engine.FormatJSON {
		return fmt.Errorf("--log-format %q is not supported: use text or json", o.LogFormat)
	}
	_, err := session.NormalizeDependencies(o.DependsOn.Names(), o.Source.Name, o.session.Namespace())
	return err
}

// Run watches until ctx is done, or the terminal closes.
func (o *Options) Run(ctx context.Context) error {
	// SIGINT and SIGTERM cancel ctx already (cmd/kubectl-gitops); a closed
	// terminal stops the watch the same way, so that the Lease is released.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stop()

	sess := o.session
	if err := sess.Connect(); err != nil {
		return err
	}
	cfg, err := o.factory.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("reading the kubeconfig: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 10 * time.Second
	leaseClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := sess.CheckSource(ctx); err != nil {
		return err
	}
	// A recorded source that is not confirmed on this machine ends the
	// watch: waiting cannot confirm it, only the operator can.
	ctx, refuse := context.WithCancelCause(ctx)
	defer refuse(nil)
	w := &wiring{o: o, session: sess, refuse: refuse}

	display := engine.NewDisplay(o.displayOptions())
	defer display.Close()
	loop := &engine.Loop{
		Fetch:    w.fetch,
		Sync:     w.sync,
		Events:   display,
		Interval: o.Interval,
		Lock: &engine.Lease{
			Client:    leaseClient.CoordinationV1(),
			Namespace: sess.Namespace(),
			Name:      engine.LeaseName(o.Source.Name),
			Holder:    engine.Identity(os.Getenv("USER")),
		},
		ImagesInterval: o.ImagesInterval,
	}
	if o.Images {
		loop.Images = w.images
	}
	if err := loop.Run(ctx); err != nil {
		return err
	}
	if cause := context.Cause(ctx); errors.Is(cause, sourcetrust.ErrNotConfirmed) {
		return cause
	}
	return nil
}

// displayOptions sends the log to stdout, and the status block to the
// terminal: stdout when it is one (text only), else stderr when it is one.
func (o *Options) displayOptions() engine.DisplayOptions {
	opts := engine.DisplayOptions{
		Set:      o.Source.Name,
		Interval: o.Interval,
		Format:   o.LogFormat,
		Out:      o.Out,
	}
	if o.Source.Repo != "" {
		src := o.Source.Repo
		if source.IsRemote(src) {
			src = source.Redact(src)
		}
		if o.Source.Ref != "" {
			src += " " + o.Source.Ref
		}
		if p := strings.Trim(o.Source.Path, "/"); p != "" {
			src += " path " + p
		}
		opts.Source = src
	}
	switch {
	case o.LogFormat == engine.FormatText && cmdutil.IsTerminal(o.Out):
		opts.Terminal = o.Out
	case cmdutil.IsTerminal(o.ErrOut) && !cmdutil.IsTerminal(o.Out):
		opts.Terminal = o.ErrOut
	}
	if f, ok := opts.Terminal.(*os.File); ok {
		opts.Width = func() int {
			w, _, err := term.GetSize(int(f.Fd()))
			if err != nil {
				return 0
			}
			return w
		}
	}
	return opts
}

// wiring connects the loop to the session's use cases. Its methods are
// called by the loop, one at a time.
type wiring struct {
	o       *Options
	session *session.Session
	refuse  context.CancelCauseFunc // ends the watch with its cause
	// warned holds the warnings of the last run that had a result.
	warned map[string]bool
	// noted holds the notes of the last sync (a changed source and what
	// it leaves unpruned), noting the ones of the sync under way.
	noted, noting map[string]bool
}

// notesDone ends the notes of a sync: the next one says again only what
// this one did not.
func (w *wiring) notesDone() { w.noted, w.noting = w.noting, nil }

// Status is the session's progress line, which watch does not show: its
// display has its own.
func (w *wiring) Status(string) {}

// Note writes a note of the session (a source that differs from the
// recorded one, members it leaves unpruned) on stderr, once: a note that
// every sync repeats is said again only after it went away and came back.
func (w *wiring) Note(msg string) {
	if !w.noted[msg] && !w.noting[msg] {
		fmt.Fprintln(w.o.ErrOut, msg)
	}
	if w.noting == nil {
		w.noting = map[string]bool{}
	}
	w.noting[msg] = true
}

// warn writes, on stderr, the warnings of a run (apply.Result.Warnings)
// that the run before did not have: a warning that every interval repeats
// (spec.replicas left to an autoscaler) is said once, and again only after
// it went away and came back.
func (w *wiring) warn(res *apply.Result) {
	if res == nil {
		return
	}
	now := map[string]bool{}
	for _, warning := range res.Warnings {
		if !w.warned[warning] && !now[warning] {
			fmt.Fprintf(w.o.ErrOut, "warning: %s\n", warning)
		}
		now[warning] = true
	}
	w.warned = now
}

// fetch brings the source up to date and returns the head's revision. The
// source is resolved at the first fetch and kept: the set's record is not
// read again, so a later edit of it changes nothing.
func (w *wiring) fetch(ctx context.Context) (string, error) {
	rev, err := w.session.Fetch(ctx)
	if errors.Is(err, sourcetrust.ErrNotConfirmed) && w.refuse != nil {
		w.refuse(err)
	}
	return rev, err
}

// sync makes the cluster match rev. When rev is what the set's record says
// the cluster holds, it first checks for drift, as a server-side dry run,
// and syncs only if something differs: a check that finds no drift writes
// nothing. Objects that changed neither in git nor in the cluster are
// skipped by apply without a request.
func (w *wiring) sync(ctx context.Context, rev string) (engine.Report, error) {
	start := time.Now()
	rep := engine.Report{Revision: rev}
	req := session.SyncRequest{Revision: rev, Apply: apply.Options{
		ForceConflicts: w.o.ForceConflicts,
		Prune:          w.o.Prune,
		Concurrency:    w.o.Concurrency,
	}, DependsOn: w.o.DependsOn.Names(), PruneNamed: w.o.pruneNamed}
	if err := w.session.Hold(ctx, req); err != nil {
		return rep, held(err)
	}
	d, err := w.session.Drift(ctx, req)
	if err != nil {
		return rep, badRevision(err)
	}
	rep.Previous, rep.Subject = d.Previous, d.Subject
	if d.Recorded && !d.Drifted {
		w.warn(d.Result)
		fill(&rep, d.Result, start)
		rep.Checked = true
		return rep, nil
	}
	req.Progress = w
	res, err := w.session.Sync(ctx, req)
	w.notesDone()
	if res != nil && res.Result != nil {
		fill(&rep, res.Result, start)
		w.warn(res.Result)
	}
	return rep, held(badRevision(err))
}

// held makes a set held still (suspended, waiting for a dependency) a hold
// of the loop, which says so and looks again at its next interval.
func held(err error) error {
	if session.IsHeld(err) {
		return &engine.HeldError{Err: err}
	}
	return err
}

// images runs image automation as images --update does, and returns the
// revision it committed ("" when nothing changed).
func (w *wiring) images(ctx context.Context) (string, error) {
	up, err := w.session.UpdateImages(ctx, session.ImagesRequest{})
	if err != nil {
		return "", err
	}
	return up.Commit.Revision, nil
}

// badRevision makes a revision that cannot be synced as it is a bad
// revision of the loop, which skips it until the head moves.
func badRevision(err error) error {
	var re *session.RevisionError
	if errors.As(err, &re) && re.Bad() {
		return &engine.BadRevisionError{Revision: re.Revision, Err: re.Err}
	}
	return err
}

func fill(rep *engine.Report, res *apply.Result, start time.Time) {
	rep.Counts = res.Counts
	rep.Changes = session.Changes(res)
	rep.Duration = time.Since(start)
}
