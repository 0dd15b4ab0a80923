// Package suspend holds the suspend and resume commands: hold a sync set
// still, and let it be synced again.
package suspend

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/completion"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
)

// Options are the options of suspend and resume.
type Options struct {
	Name    string
	Reason  string
	Output  string
	suspend bool

	factory kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdSuspend returns the suspend command.
func NewCmdSuspend(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams, suspend: true}
	cmd := &cobra.Command{
		Use:   "suspend [NAME | --name NAME] [-m REASON]",
		Short: "Hold a sync set still: watch and sync leave it alone until resume",
		Long: `Record in the set's parent that it is suspended: who (the user the API server
authenticated, as its audit log names them), when, and why (-m). watch leaves
a suspended set alone, drift included, and says so; sync refuses it unless
--force; status shows it. Nothing else changes in the cluster.

A set already suspended stays as it was (who, when, why), and the command
says so. rollback suspends the set too.`,
		Example: `  # Hold web still during an incident
  kubectl gitops suspend web -m "incident 4711: hands off"

  # Let it be synced again
  kubectl gitops resume web`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completion.SetNameArg(f),
		RunE:              cmdutil.RunE(o),
	}
	o.addFlags(cmd)
	cmd.Flags().StringVarP(&o.Reason, "message", "m", "", "Why the set is suspended, recorded with who and when.")
	return cmd
}

// NewCmdResume returns the resume command.
func NewCmdResume(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "resume [NAME | --name NAME]",
		Short: "End a suspension: watch and sync sync the set again",
		Long: `Remove the suspension from the set's parent. A running watch notices at its
next --interval and syncs the head of its ref again, rolling forward what a
rollback went back from.`,
		Example: `  # Let web be synced again, after suspend or rollback
  kubectl gitops resume web`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completion.SetNameArg(f),
		RunE:              cmdutil.RunE(o),
	}
	o.addFlags(cmd)
	return cmd
}

func (o *Options) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.Name, "name", "", "Name of the sync set.")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml.")
}

// CompleteArgs takes the set's name from the argument, as --name.
func (o *Options) CompleteArgs(args []string) error { return syncflags.NameFromArgs(&o.Name, args) }

// Complete has nothing to complete.
func (o *Options) Complete(*cobra.Command) error { return nil }

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := (session.Options{Name: o.Name}).RequireName(); err != nil {
		return err
	}
	return cmdutil.ValidateOutput(o.Output, "json", "yaml")
}

// Run suspends or resumes.
func (o *Options) Run(ctx context.Context) error {
	s := session.New(o.factory, session.Options{Name: o.Name})
	var (
		res *session.SuspendResult
		err error
	)
	if o.suspend {
		res, err = s.Suspend(ctx, o.Reason)
	} else {
		res, err = s.Resume(ctx)
	}
	if err != nil {
		return err
	}
	if o.Output != "" {
		return cmdutil.PrintObject(o.Out, o.Output, res)
	}
	switch {
	case o.suspend && res.Changed:
		fmt.Fprintf(o.Out, "sync set %s suspended %s\n", res.Name, session.DescribeSuspension(*res.Suspended))
	case o.suspend:
		fmt.Fprintf(o.Out, "sync set %s was already suspended %s: left as it was\n", res.Name, session.DescribeSuspension(*res.Suspended))
	case res.Changed:
		fmt.Fprintf(o.Out, "sync set %s resumed: watch and sync sync it again\n", res.Name)
	default:
		fmt.Fprintf(o.Out, "sync set %s was not suspended: nothing to resume\n", res.Name)
	}
	return nil
}
