// Package get is the get command (alias list): the sync sets the user can
// read, one line each, as kubectl get lists objects.
package get

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

const example = `  # List the sync sets of the current namespace
  kubectl gitops get

  # List them in every namespace
  kubectl gitops get -A

  # Show one set
  kubectl gitops get web

  # For scripts
  kubectl gitops get -A -o json`

// Options are the get command's options.
type Options struct {
	Name          string
	AllNamespaces bool
	Output        string

	factory kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdGet returns the get command; validArgs completes the set's name.
func NewCmdGet(f kcmdutil.Factory, streams genericiooptions.IOStreams, validArgs cobra.CompletionFunc) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "get [NAME] [-A] [-o json|yaml]",
		Aliases: []string{"list"},
		Short:   "List the sync sets: source, last synced revision, last run, suspension",
		Long: `List the sync sets of the kubeconfig's namespace (-n), or of every namespace
with -A: each set's source (repository, ref and path; never a credential),
the last revision synced without error, the outcome of the last run and how
long ago it ended, and whether the set is suspended. Nothing is fetched.

With NAME, show that set only. kubectl gitops status NAME shows its history
and members.`,
		Example:           example,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: validArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Name = args[0]
			}
			if err := o.Validate(); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "List the sync sets of every namespace you can list ConfigMaps in, instead of the namespace of -n.")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml. Default: a table.")
	return cmd
}

// Validate checks the flags and argument.
func (o *Options) Validate() error {
	if o.Name != "" {
		if o.AllNamespaces {
			return errors.New("a NAME and -A do not go together: a set is named in one namespace; use -n NAMESPACE NAME")
		}
		if err := (session.Options{Name: o.Name}).Validate(); err != nil {
			return errors.New(strings.Replace(err.Error(), "--name", "NAME", 1))
		}
	}
	return cmdutil.ValidateOutput(o.Output, "json", "yaml")
}

// Run lists the sets.
func (o *Options) Run(ctx context.Context) error {
	s := session.New(o.factory, session.Options{Name: o.Name, Warnings: o.ErrOut})
	var sets []session.SetSummary
	if o.Name != "" {
		one, err := s.GetSet(ctx)
		if err != nil {
			return err
		}
		sets = []session.SetSummary{*one}
	} else {
		var err error
		if sets, err = s.ListSets(ctx, o.AllNamespaces); err != nil {
			return err
		}
	}
	if o.Output != "" {
		if o.Name != "" {
			return cmdutil.PrintObject(o.Out, o.Output, sets[0])
		}
		if sets == nil {
			sets = []session.SetSummary{}
		}
		return cmdutil.PrintObject(o.Out, o.Output, sets)
	}
	if len(sets) == 0 {
		if o.AllNamespaces {
			fmt.Fprintln(o.ErrOut, "No resources found")
		} else {
			fmt.Fprintf(o.ErrOut, "No resources found in %s namespace.\n", s.Namespace())
		}
		return nil
	}
	if err := Print(o.Out, sets, o.AllNamespaces, time.Now()); err != nil {
		return err
	}
	for _, set := range sets {
		if set.Error != "" {
			fmt.Fprintf(o.ErrOut, "warning: sync set %s/%s: %s\n", set.Namespace, set.Name, set.Error)
		}
	}
	return nil
}

// Print writes the table, kubectl get's way.
func Print(w io.Writer, sets []session.SetSummary, withNamespace bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	header := "NAME\tSOURCE\tREVISION\tLAST RUN\tAGE\tSUSPENDED"
	if withNamespace {
		header = "NAMESPACE\t" + header
	}
	fmt.Fprintln(tw, header)
	for _, s := range sets {
		revision, lastRun, age, suspended := "<none>", "<none>", "<none>", "false"
		if s.Revision != "" {
			revision = short(s.Revision)
		}
		if lr := s.LastRun; lr != nil {
			lastRun = lr.Outcome
			if lr.Outcome != "Succeeded" && lr.InARow > 1 {
				lastRun = fmt.Sprintf("%s (%d in a row)", lr.Outcome, lr.InARow)
			}
			age = duration.HumanDuration(now.Sub(s.LastRunTime))
		}
		if s.Error != "" {
			lastRun = "Unreadable"
		}
		if s.Suspended != nil {
			suspended = "true"
		}
		src := "<none>"
		if s.Source.Repo != "" {
			src = sourcetrust.Describe(s.Source)
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", s.Name, src, revision, lastRun, age, suspended)
		if withNamespace {
			row = s.Namespace + "\t" + row
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
