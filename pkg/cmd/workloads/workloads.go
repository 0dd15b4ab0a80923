// Package workloads is the workloads command: the workloads in the
// repository with their containers, images and policy, like fluxctl
// list-workloads.
package workloads

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
)

// Options are the workloads command's options.
type Options struct {
	Source        syncflags.Flags
	AllNamespaces bool
	Output        string

	namespace string
	session   *session.Session
	factory   kcmdutil.Factory
	genericiooptions.IOStreams
}

// Row is one container of a workload, as -o json prints it.
type Row struct {
	Workload   string            `json:"workload"`
	Origin     string            `json:"origin"`
	Generated  bool              `json:"generated,omitempty"`
	Container  string            `json:"container"`
	Init       bool              `json:"init,omitempty"`
	Image      string            `json:"image"`
	Automated  bool              `json:"automated"`
	Locked     bool              `json:"locked"`
	LockedUser string            `json:"lockedUser,omitempty"`
	LockedMsg  string            `json:"lockedMessage,omitempty"`
	Tags       map[string]string `json:"tagFilters,omitempty"`
}

// NewCmdWorkloads returns the workloads command.
func NewCmdWorkloads(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "workloads [--repo REPO] [--path PATH] [-n NAMESPACE | -A]",
		Short: "List the workloads in the repository with their images and policy",
		Example: `  kubectl gitops workloads --repo . --path deploy -A
  kubectl gitops workloads --repo . -n demo -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.Run(cmd.Context())
		},
	}
	o.Source.AddGitFlags(cmd)
	cmd.Flags().Lookup("ref").Usage = "Branch, tag or commit to read. Defaults to HEAD (the remote's default branch)."
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Workloads of every namespace.")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml.")
	return cmd
}

// Complete checks the flags and builds the session.
func (o *Options) Complete(cmd *cobra.Command) error {
	var err error
	if o.session, err = o.Source.SourceSession(cmd, o.factory, o.ErrOut); err != nil {
		return err
	}
	o.namespace = o.session.Namespace()
	return cmdutil.ValidateOutput(o.Output, "json", "yaml")
}

// Run lists.
func (o *Options) Run(ctx context.Context) error {
	list, err := o.session.Workloads(ctx)
	if err != nil {
		return err
	}
	found := list.Found
	var rows []Row
	elsewhere := map[string]int{} // workloads of other namespaces, by namespace
	for _, w := range found {
		if !o.AllNamespaces && w.ID.Namespace != o.namespace {
			elsewhere[w.ID.Namespace]++
			continue
		}
		p := w.Policy()
		for _, c := range w.Containers {
			rows = append(rows, Row{Workload: w.ID.String(), Origin: w.Origin, Generated: w.Generated, Container: c.Name, Init: c.Init, Image: c.Image,
				Automated: p.Automated, Locked: p.Locked, LockedUser: p.LockedUser, LockedMsg: p.LockedMsg, Tags: p.Tags})
		}
	}
	if o.Output != "" {
		if rows == nil {
			rows = []Row{}
		}
		return cmdutil.PrintObject(o.Out, o.Output, rows)
	}
	if len(rows) == 0 {
		// As kubectl get: no header, and the news on stderr.
		fmt.Fprintln(o.ErrOut, noneFound(o.namespace, o.AllNamespaces, elsewhere))
		return nil
	}
	tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tIMAGE\tPOLICY")
	last := ""
	for _, r := range rows {
		id := r.Workload
		if id == last {
			id = ""
		}
		last = r.Workload
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", id, r.Container, r.Image, policy(r))
	}
	return tw.Flush()
}

// noneFound says that no workload was found, as kubectl get does, and how
// many the other namespaces hold.
func noneFound(namespace string, all bool, elsewhere map[string]int) string {
	if all {
		return "No resources found."
	}
	msg := "No resources found in " + namespace + " namespace."
	if len(elsewhere) == 0 {
		return msg
	}
	namespaces := make([]string, 0, len(elsewhere))
	total := 0
	for ns, n := range elsewhere {
		namespaces = append(namespaces, ns)
		total += n
	}
	sort.Strings(namespaces)
	noun := "workloads are"
	if total == 1 {
		noun = "workload is"
	}
	return fmt.Sprintf("%s %d %s in other namespaces (%s): -A lists them, -n NAMESPACE lists one.", msg, total, noun, strings.Join(namespaces, ", "))
}

// policy writes a row's policy: automated, locked (who: why), filters.
func policy(r Row) string {
	var p []string
	if r.Automated {
		p = append(p, "automated")
	}
	if r.Locked {
		lock := "locked"
		var why []string
		if r.LockedUser != "" {
			why = append(why, r.LockedUser)
		}
		if r.LockedMsg != "" {
			why = append(why, r.LockedMsg)
		}
		if len(why) > 0 {
			lock += " (" + strings.Join(why, ": ") + ")"
		}
		p = append(p, lock)
	}
	containers := make([]string, 0, len(r.Tags))
	for c := range r.Tags {
		containers = append(containers, c)
	}
	sort.Strings(containers)
	for _, c := range containers {
		p = append(p, "tag."+c+"="+r.Tags[c])
	}
	return strings.Join(p, ", ")
}
