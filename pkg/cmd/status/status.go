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

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/version"
)

const example = `  # Show the set web: where it syncs from, its last runs, its objects' health
  kubectl gitops status --name web

  # The same for scripts
  kubectl gitops status --name web -o json`

// Options are the status command's options.
type Options struct {
	Name   string
	Output string

	factory kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdStatus returns the status command.
func NewCmdStatus(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "status --name NAME",
		Short:   "Show a sync set's source, last synced revision, history and members' health",
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
	cmd.Flags().StringVar(&o.Name, "name", "", "Name of the sync set.")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml.")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := (&syncflags.Flags{Name: o.Name}).Validate(); err != nil {
		return err
	}
	return cmdutil.ValidateOutput(o.Output, "json", "yaml")
}

// Status is what -o json prints.
type Status struct {
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	ID        string          `json:"id"`
	Record    applyset.Record `json:"record"`
	LastRun   *LastRun        `json:"lastRun,omitempty"`
	Source    SourceTrust     `json:"sourceTrust"`
	Members   []apply.Member  `json:"members"`
}

// LastRun is the outcome of the newest run in the record, and how many runs
// in a row, up to it, ended the same way.
type LastRun struct {
	Outcome  string    `json:"outcome"`
	Started  time.Time `json:"started"`
	Revision string    `json:"revision"`
	Message  string    `json:"message,omitempty"`
	InARow   int       `json:"inARow"`
}

// lastRun summarizes the record's history; nil when it has none.
func lastRun(r applyset.Record) *LastRun {
	if len(r.History) == 0 {
		return nil
	}
	h := r.History[0]
	lr := &LastRun{Outcome: h.Outcome, Started: h.Started, Revision: h.Revision, Message: h.Message}
	for _, run := range r.History {
		if run.Outcome != h.Outcome {
			break
		}
		lr.InARow++
	}
	return lr
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

// States of a recorded source on this machine.
const (
	// Confirmed: the record names the source confirmed on this machine.
	Confirmed = "Confirmed"
	// NotConfirmed: no source is confirmed for the set on this machine.
	NotConfirmed = "NotConfirmed"
	// Differs: the record names another source than the confirmed one.
	Differs = "Differs"
	// Unknown: the confirmed source could not be read.
	Unknown = "Unknown"
)

// SourceTrust says whether the source recorded in the cluster is the one
// the operator confirmed on this machine: sync, diff, watch and the policy
// commands use a recorded source without --repo only when it is.
type SourceTrust struct {
	State     string           `json:"state"`
	Confirmed *applyset.Source `json:"confirmed,omitempty"`
	Message   string           `json:"message,omitempty"`
}

// sourceTrust compares the recorded source with the one confirmed on this
// machine. Nothing is fetched.
func sourceTrust(t syncflags.Trust, recorded applyset.Source) SourceTrust {
	if recorded.Repo == "" {
		return SourceTrust{State: NotConfirmed, Message: "no source recorded"}
	}
	confirmed, ok, err := t.Confirmed()
	switch {
	case err != nil:
		return SourceTrust{State: Unknown, Message: err.Error()}
	case !ok:
		return SourceTrust{State: NotConfirmed, Message: "not confirmed on this machine: sync, diff and watch without --repo refuse it; name it with --repo to confirm it"}
	}
	st := SourceTrust{State: Confirmed, Confirmed: &confirmed}
	if d := sourcetrust.Differences(recorded, confirmed, sourcetrust.Named{}); len(d) > 0 {
		st.State = Differs
		st.Message = fmt.Sprintf("the %s differs from the source confirmed on this machine, %s: sync, diff and watch without --repo refuse it; name a source with --repo", strings.Join(d, " and "), sourcetrust.Describe(confirmed))
	}
	return st
}

// Run shows the status.
func (o *Options) Run(ctx context.Context) error {
	client, namespace, err := syncflags.NewClient(o.factory)
	if err != nil {
		return err
	}
	set, err := applyset.Load(ctx, client.Kube.CoreV1(), o.Name, namespace, version.Version())
	if err != nil {
		return err
	}
	if !set.Exists {
		return fmt.Errorf("sync set %q not found in namespace %s (no ConfigMap %s/%s): %w; check --name and -n, or run kubectl gitops sync first", o.Name, namespace, namespace, o.Name, applyset.ErrNotFound)
	}
	members, err := client.Members(ctx, set, 8)
	if err != nil {
		return err
	}
	trust := sourceTrust(syncflags.NewTrust(o.factory, o.Name, namespace), set.Record.Source)
	// A record written by an older version or by hand may name a URL with
	// credentials: they are never printed.
	set.Record.Source.Repo = source.Redact(set.Record.Source.Repo)
	st := Status{Name: set.Name, Namespace: set.Namespace, ID: set.ID, Record: set.Record, LastRun: lastRun(set.Record), Source: trust, Members: members}
	if o.Output != "" {
		return cmdutil.PrintObject(o.Out, o.Output, st)
	}
	return print(o.Out, st, time.Now())
}

func print(w io.Writer, st Status, now time.Time) error {
	r := st.Record
	fmt.Fprintf(w, "Sync set:    %s (configmap %s/%s)\n", st.Name, st.Namespace, st.Name)
	fmt.Fprintf(w, "Source:      %s\n", sourcetrust.Describe(r.Source))
	if st.Source.State == Confirmed {
		fmt.Fprintln(w, "Confirmed:   yes, on this machine")
	} else {
		fmt.Fprintf(w, "Confirmed:   no (%s): %s\n", st.Source.State, st.Source.Message)
	}
	if r.LastSyncedRevision != "" {
		fmt.Fprintf(w, "Synced:      %s at %s\n", r.LastSyncedRevision, r.LastSyncedTime.Local().Format(time.RFC3339))
	} else {
		fmt.Fprintln(w, "Synced:      never")
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
			fmt.Fprintf(tw, "  %s\t%.12s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", h.Started.Local().Format(time.RFC3339), h.Revision, h.Outcome,
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
