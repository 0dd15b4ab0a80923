// Package watch is the watch command: the foreground reconcile loop that
// keeps the cluster equal to git, run by a person in a terminal.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/images"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/version"
	engine "github.com/kubectl-gitops/kubectl-gitops/pkg/watch"
)

const example = `  # Keep the cluster equal to the main branch of a remote repository, checking every minute
  kubectl gitops watch --name web --repo https://github.com/example/web.git --ref main --path deploy

  # Watch the source the set recorded at its last sync, every 30 seconds
  kubectl gitops watch --name web --interval 30s

  # Log lines as JSON, for a machine
  kubectl gitops watch --name web --log-format json > watch.log`

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

	factory kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdWatch returns the watch command.
func NewCmdWatch(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "watch --name NAME [--repo REPO] [--ref REF] [--path PATH] [--interval 1m]",
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

Ctrl-C or SIGTERM stops the step under way (a sync interrupted at any point
loses track of nothing), releases the Lease and exits 0.

On a terminal, a status block of four lines is redrawn in place below the log
lines of syncs, corrections and errors. Elsewhere, timestamped log lines, or
JSON lines with --log-format json.`,
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
	fs := cmd.Flags()
	fs.BoolVar(&o.Prune, "prune", true, "Delete the set's objects that are no longer in the repository.")
	fs.BoolVar(&o.ForceConflicts, "force-conflicts", true, "Take back fields that other field managers changed (kubectl edit, scale): drift correction. With false, such a field is reported as a conflict.")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "Requests in flight at once within a stage.")
	fs.DurationVar(&o.Interval, "interval", engine.DefaultInterval, "Time between fetches of the repository and drift checks of the cluster.")
	fs.BoolVar(&o.Images, "images", false, "Also run image automation (as images --update) every --images-interval, commit and push its change, and sync it.")
	fs.DurationVar(&o.ImagesInterval, "images-interval", engine.DefaultImagesInterval, "Time between runs of image automation, with --images.")
	fs.StringVar(&o.LogFormat, "log-format", engine.FormatText, "Log format: text or json (a JSON object per line).")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := o.Source.Validate(); err != nil {
		return err
	}
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
	return nil
}

// Run watches until ctx is done, or the terminal closes.
func (o *Options) Run(ctx context.Context) error {
	// SIGINT and SIGTERM cancel ctx already (cmd/kubectl-gitops); a closed
	// terminal stops the watch the same way, so that the Lease is released.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stop()

	client, namespace, err := syncflags.NewClient(o.factory)
	if err != nil {
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
	w := &wiring{o: o, client: client, namespace: namespace, trust: syncflags.NewTrust(o.factory, o.Source.Name, namespace)}
	if err := w.checkSource(ctx); err != nil {
		return err
	}
	// A recorded source that is not confirmed on this machine ends the
	// watch: waiting cannot confirm it, only the operator can.
	ctx, refuse := context.WithCancelCause(ctx)
	defer refuse(nil)
	w.refuse = refuse

	display := engine.NewDisplay(o.displayOptions())
	defer display.Close()
	loop := &engine.Loop{
		Fetch:    w.fetch,
		Sync:     w.sync,
		Events:   display,
		Interval: o.Interval,
		Lock: &engine.Lease{
			Client:    leaseClient.CoordinationV1(),
			Namespace: namespace,
			Name:      engine.LeaseName(o.Source.Name),
			Holder:    engine.Identity(),
		},
		ImagesInterval: o.ImagesInterval,
	}
	if o.Images {
		loop.Images = func(ctx context.Context) (string, error) {
			flags := o.Source
			if flags.Repo == "" && w.spec != nil {
				// The source fetched, checked when it was resolved: the
				// record is not read again, so a later edit of it changes
				// nothing.
				flags.Repo, flags.Ref, flags.Path = w.src.Repo, w.src.Ref, w.src.Path
			}
			return images.Automate(ctx, o.factory, flags, io.Discard)
		}
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

// wiring connects the loop to git and the cluster. Its methods are called
// by the loop, one at a time.
type wiring struct {
	o         *Options
	client    *apply.Client
	namespace string

	trust  syncflags.Trust         // the sources confirmed on this machine
	refuse context.CancelCauseFunc // ends the watch with its cause
	spec   *source.Spec            // resolved at the first fetch
	src    applyset.Source         // what the record says the source is
	repo   *source.Repository      // as last fetched
}

func (w *wiring) load(ctx context.Context) (*applyset.Set, error) {
	return applyset.Load(ctx, w.client.Kube.CoreV1(), w.o.Source.Name, w.namespace, version.Version())
}

// checkSource fails at once when no --repo is given and the set, read from
// a reachable cluster, has no recorded source, or one that is not confirmed
// on this machine: retrying could not help.
func (w *wiring) checkSource(ctx context.Context) error {
	if w.o.Source.Repo != "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	set, err := w.load(ctx)
	if err != nil {
		return nil // the loop reports it and retries
	}
	_, _, err = w.o.Source.Spec(set.Record.Source, w.trust)
	return err
}

// fetch brings the source up to date and returns the head's revision.
func (w *wiring) fetch(ctx context.Context) (string, error) {
	if w.spec == nil {
		var recorded applyset.Source
		if w.o.Source.Repo == "" {
			set, err := w.load(ctx)
			if err != nil {
				return "", err
			}
			recorded = set.Record.Source
		}
		spec, src, err := w.o.Source.Spec(recorded, w.trust)
		if errors.Is(err, sourcetrust.ErrNotConfirmed) && w.refuse != nil {
			w.refuse(err)
		}
		if err != nil {
			return "", err
		}
		w.spec, w.src = &spec, src
	}
	repo, err := source.OpenRepository(ctx, *w.spec)
	if err != nil {
		return "", err
	}
	snap, err := repo.Snapshot(w.spec.Ref)
	if err != nil {
		return "", err
	}
	if w.repo == nil {
		w.o.Source.Confirm(w.trust, w.src)
	}
	w.repo = repo
	return snap.Revision, nil
}

// sync makes the cluster match rev. When rev is what the set's record says
// the cluster holds, it first looks, as a server-side dry run, and writes
// only if something differs: a check that finds no drift writes nothing.
// Objects that changed neither in git nor in the cluster are skipped by
// apply without a request.
func (w *wiring) sync(ctx context.Context, rev string) (engine.Report, error) {
	start := time.Now()
	rep := engine.Report{Revision: rev}
	set, err := w.load(ctx)
	if err != nil {
		return rep, err
	}
	rep.Previous = set.Record.LastSyncedRevision
	if w.repo == nil {
		return rep, errors.New("the repository was not fetched yet")
	}
	snap, err := w.repo.Snapshot(rev)
	if err != nil {
		return rep, err
	}
	rep.Subject = snap.Subject
	dir := strings.Trim(w.src.Path, "/")
	if dir == "" {
		dir = "."
	}
	renderOpts, err := w.o.Source.RenderOptions(rev, w.namespace)
	if err != nil {
		return rep, err
	}
	objects, err := render.RenderWith(ctx, snap.FS, dir, renderOpts)
	if err != nil {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if badManifests(err) {
			err = &engine.BadRevisionError{Revision: rev, Err: err}
		}
		return rep, err
	}
	plan, err := w.plan(objects, set.ID)
	if err != nil {
		if ctx.Err() == nil && !transient(err) {
			err = &engine.BadRevisionError{Revision: rev, Err: err}
		}
		return rep, err
	}
	opts := apply.Options{
		ForceConflicts: w.o.ForceConflicts,
		Prune:          w.o.Prune,
		Concurrency:    w.o.Concurrency,
		Revision:       rev,
		Source:         w.src,
	}
	if set.Exists && rev == set.Record.LastSyncedRevision && set.Record.Source == w.src && lastSucceeded(set.Record) {
		check := opts
		check.DryRun = true
		res, err := apply.Sync(ctx, w.client, set, plan, check)
		if err != nil {
			return rep, refusedRevision(rev, err)
		}
		if !res.Changed() && !res.Failed() {
			fill(&rep, res, start)
			rep.Checked = true
			return rep, nil
		}
	}
	res, err := apply.Sync(ctx, w.client, set, plan, opts)
	if res != nil {
		fill(&rep, res, start)
	}
	if err != nil {
		return rep, refusedRevision(rev, err)
	}
	if res.Failed() {
		return rep, failure(res)
	}
	return rep, nil
}

// refusedRevision makes a bad revision of a sync refused for what the
// revision holds: no objects while the set has some (watch never empties a
// set, and has no --allow-empty), or an ApplySet's parent. The loop skips it
// and keeps the cluster at the last good revision. Other refusals depend on
// the cluster (an object outside the set, another set's object) and are
// retried.
func refusedRevision(rev string, err error) error {
	if errors.Is(err, apply.ErrEmpty) || errors.Is(err, apply.ErrParent) {
		return &engine.BadRevisionError{Revision: rev, Err: err}
	}
	return err
}

// plan checks the objects into a plan. A kind the cluster does not know is
// looked up again with fresh discovery (a CRD may have been installed since
// it was cached) before the revision is called bad.
func (w *wiring) plan(objects []render.Object, setID string) (*apply.Plan, error) {
	opts := apply.PlanOptions{DefaultNamespace: w.namespace, SetID: setID}
	plan, err := apply.NewPlan(objects, w.client.Mapper, opts)
	if err == nil || transient(err) {
		return plan, err
	}
	m, ok := w.client.Mapper.(meta.ResettableRESTMapper)
	if !ok {
		return nil, err
	}
	m.Reset()
	return apply.NewPlan(objects, w.client.Mapper, opts)
}

func lastSucceeded(r applyset.Record) bool {
	return len(r.History) > 0 && r.History[0].Outcome == applyset.OutcomeSucceeded
}

func fill(rep *engine.Report, res *apply.Result, start time.Time) {
	rep.Counts = res.Counts
	rep.Changes = nil
	for _, l := range res.Lines {
		switch l.Action {
		case apply.Created, apply.Configured, apply.Pruned:
			rep.Changes = append(rep.Changes, l.Object.String()+" "+string(l.Action))
		}
	}
	rep.Duration = time.Since(start)
}

// failure names the objects that failed.
func failure(res *apply.Result) error {
	var msgs []string
	for _, l := range res.Lines {
		if l.Action == apply.Failed {
			msgs = append(msgs, fmt.Sprintf("%s (%s): %s", l.Object, l.Origin, l.Message))
		}
	}
	for _, n := range res.NotReady {
		msgs = append(msgs, "not ready: "+n)
	}
	return fmt.Errorf("%d object(s) failed: %s", res.Counts.Failed, strings.Join(msgs, "; "))
}
