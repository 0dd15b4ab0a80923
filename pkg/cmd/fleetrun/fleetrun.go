// Package fleetrun runs a use case on every target of a fleet file
// (pkg/fleet), as sync, diff and status do with --fleet: each target with
// its own kubeconfig context or file, concurrently with a bound, one
// failing target never stopping the others, and one table of results.
package fleetrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/fleet"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

// Flags are --fleet, --target and --max-concurrent.
type Flags struct {
	File          string
	Targets       []string
	MaxConcurrent int

	kubeconfig string // the global --kubeconfig, for targets named by context
	fleet      *fleet.Fleet
}

// AddFlags registers the flags on cmd.
func (f *Flags) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.File, "fleet", "", "A fleet file (kind: Fleet): run on every target it lists, each with its own kubeconfig context or file, sync set, path and variables (substituted as Flux's post-build substitution does, strictly), and print one table. Exit status 0 when every target succeeded.")
	cmd.Flags().StringArrayVar(&f.Targets, "target", nil, "With --fleet: only this target of the fleet file; repeat for several.")
	cmd.Flags().IntVar(&f.MaxConcurrent, "max-concurrent", 4, "With --fleet: how many targets run at once.")
	_ = cmd.RegisterFlagCompletionFunc("target", func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		file, _ := cmd.Flags().GetString("fleet")
		if file == "" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		fl, err := fleet.Load(file)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fl.Names(), cobra.ShellCompDirectiveNoFileComp
	})
}

// Enabled says whether --fleet or --target was given: the command runs
// on a fleet (Complete says when --fleet is missing).
func (f *Flags) Enabled() bool { return f.File != "" || len(f.Targets) > 0 }

// Complete loads the fleet file and checks the flags against it: a fleet
// run takes its sets and sources from the file only.
func (f *Flags) Complete(cmd *cobra.Command) error {
	if f.File == "" {
		return errors.New("--target needs --fleet FILE")
	}
	if args := cmd.Flags().Args(); len(args) > 0 {
		return fmt.Errorf("with --fleet the sets are the fleet file's: drop the argument %q", args[0])
	}
	for _, name := range []string{"name", "repo", "ref", "path", "revision"} {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
			return fmt.Errorf("with --fleet the sets and sources are the fleet file's: drop --%s", name)
		}
	}
	if f.MaxConcurrent < 1 {
		return errors.New("--max-concurrent must be at least 1")
	}
	if fl := cmd.Flags().Lookup("kubeconfig"); fl != nil {
		f.kubeconfig = fl.Value.String()
	}
	fl, err := fleet.Load(f.File)
	if err != nil {
		return err
	}
	if _, err := fl.Select(f.Targets); err != nil {
		return err
	}
	f.fleet = fl
	return nil
}

// Selected lists the targets to run on.
func (f *Flags) Selected() []fleet.Target {
	t, _ := f.fleet.Select(f.Targets)
	return t
}

// Factory returns a kubectl factory for the target: its kubeconfig file
// (relative to the fleet file's directory) or its context of the
// kubeconfig (--kubeconfig, else $KUBECONFIG or ~/.kube/config), and its
// namespace when it names one.
func (f *Flags) Factory(t fleet.Target) kcmdutil.Factory {
	cf := genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithDiscoveryQPS(50.0)
	if t.Kubeconfig != "" {
		path := t.Kubeconfig
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(f.File), path)
		}
		cf.KubeConfig = &path
	} else if f.kubeconfig != "" {
		kc := f.kubeconfig
		cf.KubeConfig = &kc
	}
	if t.Context != "" {
		ctx := t.Context
		cf.Context = &ctx
	}
	if t.Namespace != "" {
		ns := t.Namespace
		cf.Namespace = &ns
	}
	return kcmdutil.NewFactory(cf)
}

// Options returns the session options of the target: those of the
// command's flags (auth, generators) with the target's set and source.
func Options(base session.Options, t fleet.Target, warnings io.Writer) (session.Options, error) {
	o := base
	o.Name = t.Set
	o.Source = applyset.Source{Repo: t.Repo, Ref: t.Ref, Path: t.Path}
	o.Named = sourcetrust.Named{Repo: true, Ref: true, Path: true}
	o.Warnings = &prefixWriter{w: warnings, prefix: "target " + t.Name + ": "}
	return o, o.Validate()
}

// Session returns the session of target t in a fleet run: the options of
// Options, the target's own cluster, and the repository and renderings
// shared with the other targets of the run.
func (f *Flags) Session(base session.Options, t fleet.Target, shared *session.Fleet, warnings io.Writer) (*session.Session, error) {
	opts, err := Options(base, t, warnings)
	if err != nil {
		return nil, err
	}
	s := session.New(f.Factory(t), opts)
	s.JoinFleet(shared, t.Variables, t.VariablesKey())
	return s, nil
}

// Row is one target's outcome.
type Row struct {
	Target     string `json:"target"`
	Set        string `json:"set"`
	Revision   string `json:"revision,omitempty"`
	Created    int    `json:"created"`
	Configured int    `json:"configured"`
	Pruned     int    `json:"pruned"`
	Failed     int    `json:"failed"`
	// Changes is diff's: objects that would change.
	Changes int `json:"changes"`
	// Health is status's: how many members are current.
	Health string `json:"health,omitempty"`
	Error  string `json:"error,omitempty"`
	// Err is the error, for the exit status.
	Err error `json:"-"`
}

// SetCounts fills the counts from a result.
func (r *Row) SetCounts(res *session.SyncResult) {
	if res == nil {
		return
	}
	r.Revision = res.Revision
	if res.Result != nil {
		c := res.Counts
		r.Created, r.Configured, r.Pruned, r.Failed = c.Created, c.Configured, c.Pruned, c.Failed
		r.Changes = c.Created + c.Configured + c.Pruned
	}
}

// Run calls fn for every selected target, at most --max-concurrent at
// once, and returns the rows in the file's order. A panic in one target
// is that target's error.
func (f *Flags) Run(ctx context.Context, fn func(context.Context, fleet.Target) Row) []Row {
	targets := f.Selected()
	rows := make([]Row, len(targets))
	sem := make(chan struct{}, f.MaxConcurrent)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			defer func() {
				if p := recover(); p != nil {
					rows[i] = Row{Target: t.Name, Set: t.Set, Err: fmt.Errorf("internal error: %v", p)}
					rows[i].Error = rows[i].Err.Error()
				}
			}()
			row := fn(ctx, t)
			row.Target, row.Set = t.Name, t.Set
			if row.Err != nil {
				row.Error = oneLine(row.Err.Error())
			}
			rows[i] = row
		}()
	}
	wg.Wait()
	return rows
}

// Columns say which columns Print writes.
type Columns int

const (
	SyncColumns Columns = iota
	DiffColumns
	StatusColumns
)

// Print writes the rows as a table, or as JSON or YAML for output.
func Print(w io.Writer, output string, cols Columns, rows []Row) error {
	if output != "" {
		return cmdutil.PrintObject(w, output, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch cols {
	case SyncColumns:
		fmt.Fprintln(tw, "TARGET\tSET\tREVISION\tCREATED\tCONFIGURED\tPRUNED\tFAILED\tERROR")
	case DiffColumns:
		fmt.Fprintln(tw, "TARGET\tSET\tREVISION\tCHANGES\tERROR")
	case StatusColumns:
		fmt.Fprintln(tw, "TARGET\tSET\tREVISION\tHEALTH\tERROR")
	}
	for _, r := range rows {
		rev := r.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev == "" {
			rev = "-"
		}
		switch cols {
		case SyncColumns:
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Target, r.Set, rev, r.Created, r.Configured, r.Pruned, r.Failed, r.Error)
		case DiffColumns:
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.Target, r.Set, rev, r.Changes, r.Error)
		case StatusColumns:
			h := r.Health
			if h == "" {
				h = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Target, r.Set, rev, h, r.Error)
		}
	}
	return tw.Flush()
}

// Failed says whether any target failed.
func Failed(rows []Row) bool {
	for _, r := range rows {
		if r.Err != nil {
			return true
		}
	}
	return false
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// prefixWriter writes each write prefixed, for a target's warnings.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if p.w == nil {
		return len(b), nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
