// Package status is the status command: a sync set's source, record,
// history and members with their health.
package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/completion"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/fleetrun"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

const example = `  # Show the set web: where it syncs from, its last runs, its objects' health
  kubectl gitops status web

  # The same for scripts
  kubectl gitops status web -o json`

// Options are the status command's options.
type Options struct {
	Name   string
	Output string
	Fleet  fleetrun.Flags

	factory kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdStatus returns the status command.
func NewCmdStatus(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:               "status [NAME | --name NAME]",
		Short:             "Show a sync set's source, last synced revision, history and members' health",
		Example:           example,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completion.SetNameArg(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Fleet.Enabled() {
				if err := o.Fleet.Complete(cmd); err != nil {
					return err
				}
				if err := cmdutil.ValidateOutput(o.Output, "json", "yaml"); err != nil {
					return err
				}
				cmd.SilenceUsage = true
				return o.runFleet(cmd.Context())
			}
			if err := syncflags.NameFromArgs(&o.Name, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.Name, "name", "", "Name of the sync set.")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml.")
	o.Fleet.AddFlags(cmd)
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := (session.Options{Name: o.Name}).RequireName(); err != nil {
		return err
	}
	return cmdutil.ValidateOutput(o.Output, "json", "yaml")
}

// ago says how long before now t was, coarsely: "2m ago".
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", max(int(d.Seconds()), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// Run shows the status.
func (o *Options) Run(ctx context.Context) error {
	st, err := session.New(o.factory, session.Options{Name: o.Name}).Status(ctx)
	if err != nil {
		return err
	}
	if o.Output != "" {
		return cmdutil.PrintObject(o.Out, o.Output, st)
	}
	for _, n := range st.Notes {
		fmt.Fprintf(o.ErrOut, "note: %s\n", n)
	}
	return print(o.Out, st, time.Now())
}

func print(w io.Writer, st *session.Status, now time.Time) error {
	r := st.Record
	fmt.Fprintf(w, "Sync set:    %s (configmap %s/%s)\n", st.Name, st.Namespace, st.Name)
	fmt.Fprintf(w, "Source:      %s\n", sourcetrust.Describe(r.Source))
	if st.Source.State == session.Confirmed {
		fmt.Fprintln(w, "Confirmed:   yes, on this machine")
	} else {
		fmt.Fprintf(w, "Confirmed:   no (%s): %s\n", st.Source.State, st.Source.Message)
	}
	if r.LastSyncedRevision != "" {
		fmt.Fprintf(w, "Synced:      %s at %s\n", r.LastSyncedRevision, r.LastSyncedTime.Local().Format(time.RFC3339))
	} else {
		fmt.Fprintln(w, "Synced:      never")
	}
	if sp := r.Suspended; sp != nil {
		fmt.Fprintf(w, "Suspended:   yes, %s\n", session.DescribeSuspension(*sp))
	}
	if len(r.DependsOn) > 0 {
		fmt.Fprintf(w, "Depends on:  %s\n", strings.Join(r.DependsOn, ", "))
	}
	if len(r.HealthChecks) > 0 {
		var rules []string
		for _, h := range r.HealthChecks {
			rule := h.Kind + " " + h.APIVersion
			if h.Origin != "" {
				rule += " (" + h.Origin + ")"
			}
			rules = append(rules, rule)
		}
		fmt.Fprintf(w, "Health rules: %s\n", strings.Join(rules, ", "))
	}
	if lr := st.LastRun; lr != nil {
		line := fmt.Sprintf("Last run:    %s %s", lr.Outcome, ago(lr.Started, now))
		if lr.Outcome != applyset.OutcomeSucceeded {
			if lr.InARow > 1 {
				line += fmt.Sprintf(" (%d failed runs in a row)", lr.InARow)
			}
			if lr.Message != "" {
				line += ": " + lr.Message
			}
		}
		fmt.Fprintln(w, line)
	}
	if len(r.History) > 0 {
		fmt.Fprintln(w, "\nHistory:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  STARTED\tREVISION\tOUTCOME\tCREATED\tCONFIGURED\tUNCHANGED\tPRUNED\tFAILED\tDURATION\tMESSAGE")
		for _, h := range r.History {
			c := h.Counts
			outcome := h.Outcome
			if h.Rollback {
				outcome += " (rollback)"
			}
			fmt.Fprintf(tw, "  %s\t%.12s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", h.Started.Local().Format(time.RFC3339), h.Revision, outcome,
				c.Created, c.Configured, c.Unchanged, c.Pruned, c.Failed, h.Duration, h.Message)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nMembers (%d):\n", len(st.Members))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  OBJECT\tHEALTH\tMESSAGE")
	for _, m := range st.Members {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", m.Object, m.Health.Status, m.Health.Message)
	}
	return errors.Join(tw.Flush())
}
