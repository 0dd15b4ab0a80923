// Package images is the images command: list the tags the registries have
// for the workloads' images, and with --update write newer tags into git.
package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/completion"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/images"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

const example = `  # The images of every workload under deploy/, with the newest tags their policies allow
  kubectl gitops images --repo . --path deploy

  # One workload, more tags, for scripts
  kubectl gitops images --repo . --path deploy --workload demo:deployment/web --limit 20 -o json

  # Write the newest allowed tags of automated, unlocked workloads into git, commit and push
  kubectl gitops images --update --repo git@github.com:example/fleet.git --path deploy

  # See the edit first
  kubectl gitops images --update --repo . --path deploy --dry-run

  # Push the update to a review branch for a pull request; main is left alone
  kubectl gitops images --update --repo https://git.example.com/fleet.git --ref main --push-branch images/update

  # Release one tag to every unlocked workload that uses the repository
  kubectl gitops images --update --repo . --image registry.example.com/demo/web:1.2.0`

// Options are the images command's options.
type Options struct {
	Source     syncflags.Flags
	Workloads  []string
	Limit      int
	Output     string
	Update     bool
	Images     []string
	DryRun     bool
	Message    string
	Force      bool
	Author     string
	Insecure   []string
	Automation string
	PushBranch string

	pushBranchNamed bool
	ids             []workload.ID
	refs            []imageref.Ref
	session         *session.Session
	factory         kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdImages returns the images command.
func NewCmdImages(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "images [--repo REPO] [--path PATH] [--workload ID ...] [--update]",
		Short: "List the newest tags allowed for the workloads' images, and write them into git",
		Long: `Find the workloads in the repository's manifests, ask the registries for the
tags of their images, and pick the newest tag each container's policy allows
(annotations tag.<container>: glob:, semver:, regex:, alphabetical:,
numerical:). The decision is made against git, not against what runs.

A Flux v2 repository works as it is: its ImageRepository, ImagePolicy and
ImageUpdateAutomation objects are read as configuration (sync never applies
them), and each setter marker (# {"$imagepolicy": "ns:policy"}) in the files
under the automation's update.path is listed with the newest tag its policy
allows; --update sets the marked fields byte-exact, with the automation's
author, messageTemplate and checkout branch.

With --update, automated and unlocked workloads get their newest allowed tag
(naming workloads with --workload is a manual release, which also moves
non-automated ones), written into the YAML changing only the bytes of the
tag, then committed and, for a remote repository, pushed.`,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.Run(cmd.Context())
		},
	}
	o.Source.AddGitFlags(cmd)
	cmd.Flags().Lookup("ref").Usage = "Branch, tag or commit to read. With --update: the branch to commit to (and push to, for a remote). Defaults to HEAD (the remote's default branch)."
	fl := cmd.Flags()
	_ = cmd.RegisterFlagCompletionFunc("workload", completion.WorkloadIDs(f, &o.Source))
	fl.StringSliceVar(&o.Workloads, "workload", nil, "Only these workloads (<namespace>:<kind>/<name>, or <kind>/<name> with -n); with --update, a manual release of them.")
	fl.IntVar(&o.Limit, "limit", 10, "Tags shown per container (0 for all).")
	fl.StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml.")
	fl.BoolVar(&o.Update, "update", false, "Write the newest allowed tags into git, commit and push.")
	fl.StringSliceVar(&o.Images, "image", nil, "With --update: release exactly this REPO:TAG, whatever the tag filters say.")
	fl.BoolVar(&o.DryRun, "dry-run", false, "With --update: print the diff and change nothing.")
	fl.StringVarP(&o.Message, "message", "m", "", "With --update: the commit message's subject.")
	fl.BoolVar(&o.Force, "force", false, "With --update: release to named workloads even when they are locked.")
	fl.StringVar(&o.Author, "author", "", `With --update: the commit author, "Name <email>"; default: git's user.name and user.email.`)
	fl.StringVar(&o.Automation, "automation", "", "With --update: the Flux v2 ImageUpdateAutomation to follow (namespace/name), when the repository holds several.")
	fl.StringVar(&o.PushBranch, "push-branch", "", "With --update, for a remote repository: push the commit to this review branch (created from the checkout branch, or made again on it when kubectl gitops made it) instead of the checkout branch; default: the automation's spec.git.push.branch; \"\" for none.")
	fl.StringSliceVar(&o.Insecure, "insecure-registry", nil, "Registry host spoken to in plain HTTP (loopback hosts already are).")
	return cmd
}

// Complete checks and parses the flags, and builds the session.
func (o *Options) Complete(cmd *cobra.Command) error {
	var err error
	if o.session, err = o.Source.SourceSession(cmd, o.factory, o.ErrOut); err != nil {
		return err
	}
	if err := cmdutil.ValidateOutput(o.Output, "json", "yaml"); err != nil {
		return err
	}
	if !o.Update && (len(o.Images) > 0 || o.DryRun || o.Message != "" || o.Force || o.Author != "" || o.Automation != "" || cmd.Flags().Changed("push-branch")) {
		return errors.New("--image, --dry-run, -m, --force, --author, --automation and --push-branch go with --update")
	}
	o.pushBranchNamed = cmd.Flags().Changed("push-branch")
	ns := o.session.Namespace()
	for _, s := range o.Workloads {
		id, err := workload.ParseID(s, ns)
		if err != nil {
			return fmt.Errorf("--workload %q: %w", s, err)
		}
		o.ids = append(o.ids, id)
	}
	for _, s := range o.Images {
		ref, err := imageref.Parse(s)
		if err != nil || ref.Tag == "" {
			return fmt.Errorf("--image %q: give a repository and a tag, such as registry.example.com/app:1.2.0", s)
		}
		o.refs = append(o.refs, ref)
	}
	if o.Limit < 0 {
		return errors.New("--limit must be 0 or more")
	}
	return nil
}

// request is what the flags ask of the image use cases.
func (o *Options) request() session.ImagesRequest {
	return session.ImagesRequest{
		Workloads: o.ids, Images: o.refs, Force: o.Force, Insecure: o.Insecure,
		DryRun: o.DryRun, Message: o.Message, Author: o.Author, Automation: o.Automation,
		PushBranch: o.PushBranch, PushBranchNamed: o.pushBranchNamed,
	}
}

// Run lists or updates.
func (o *Options) Run(ctx context.Context) error {
	if !o.Update {
		scan, err := o.session.ScanImages(ctx, o.request())
		if err != nil {
			return err
		}
		o.warnings(scan.Containers, scan.Flux)
		if err := o.print(scan.Containers, scan.Flux); err != nil {
			return err
		}
		return scan.Err
	}
	up, err := o.session.UpdateImages(ctx, o.request())
	if up != nil {
		o.warnings(up.Containers, up.Flux)
	}
	if up != nil && up.Err != nil {
		_ = o.print(up.Containers, up.Flux)
	}
	if err != nil {
		return err
	}
	for _, line := range up.Skipped {
		fmt.Fprintln(o.ErrOut, line)
	}
	if o.DryRun {
		if len(up.Files) == 0 {
			fmt.Fprintln(o.ErrOut, "no image to update")
			return nil
		}
		return printDiff(o.Out, up.Checkout.Snapshot.FS, up.Files)
	}
	res := up.Commit
	if res.Revision == "" {
		fmt.Fprintln(o.ErrOut, "no image to update")
		return nil
	}
	if o.Output != "" {
		return cmdutil.PrintObject(o.Out, o.Output, struct {
			Revision string                `json:"revision"`
			Branch   string                `json:"branch"`
			Pushed   bool                  `json:"pushed"`
			Changes  []images.Change       `json:"changes"`
			Markers  []images.MarkerChange `json:"markers,omitempty"`
		}{res.Revision, res.Branch, res.Pushed, up.Changes, up.MarkerChanges})
	}
	for _, c := range up.Changes {
		fmt.Fprintln(o.Out, c.Describe())
	}
	for _, c := range up.MarkerChanges {
		fmt.Fprintln(o.Out, c.Describe())
	}
	verb := "committed"
	if res.Pushed {
		verb = "committed and pushed"
	}
	fmt.Fprintf(o.Out, "%s %s on %s\n", verb, res.Revision, res.Branch)
	return nil
}

// printDiff writes a unified diff of each edited file.
func printDiff(w io.Writer, fsys fs.FS, files map[string][]byte) error {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		before, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(before)), B: difflib.SplitLines(string(files[name])),
			FromFile: "a/" + name, ToFile: "b/" + name, Context: 3,
		})
		if err != nil {
			return err
		}
		fmt.Fprint(w, d)
	}
	return nil
}

// print writes the listing. A container whose image could not be scanned
// keeps its row, marked "error (see below)"; Run returns its error, which
// is printed once, below the table, on stderr.
//
// When the repository holds Flux v2 image automation, the markers follow
// in a second table; with -o, the output is then an object holding
// "containers" and "markers" instead of the list of containers.
func (o *Options) print(containers []images.Container, flux *images.Flux) error {
	if o.Output != "" {
		for i := range containers {
			if o.Limit > 0 && len(containers[i].Tags) > o.Limit {
				containers[i].Tags = containers[i].Tags[:o.Limit]
			}
		}
		if !flux.Empty() {
			return cmdutil.PrintObject(o.Out, o.Output, struct {
				Containers []images.Container `json:"containers"`
				Markers    []images.Marker    `json:"markers"`
			}{containers, flux.Markers})
		}
		return cmdutil.PrintObject(o.Out, o.Output, containers)
	}
	if err := o.printContainers(containers); err != nil {
		return err
	}
	if flux.Empty() {
		return nil
	}
	fmt.Fprintln(o.Out)
	tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MARKER\tPOLICY\tVALUE\tNEWEST")
	for _, m := range flux.Markers {
		newest := m.Latest
		if m.Error != "" {
			newest = "error (see below)"
		}
		fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%s\n", m.File, m.Line, m.Policy, m.Value, newest)
	}
	return tw.Flush()
}

// warnings prints on stderr the tags numerical policies had to skip.
func (o *Options) warnings(containers []images.Container, flux *images.Flux) {
	for _, c := range containers {
		if c.Skipped != "" {
			fmt.Fprintf(o.ErrOut, "warning: %s container %s (%s): %s\n", c.Workload, c.Name, c.Policy, c.Skipped)
		}
	}
	if flux == nil {
		return
	}
	for _, w := range flux.Warnings {
		fmt.Fprintln(o.ErrOut, w)
	}
}

func (o *Options) printContainers(containers []images.Container) error {
	tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tIMAGE\tPOLICY\tRUNNING\tCREATED")
	var last workload.ID
	for _, c := range containers {
		id := c.Workload.String()
		if c.Workload == last {
			id = ""
		}
		last = c.Workload
		ref, _ := imageref.Parse(c.Image)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", id, c.Name, ref.Repo, policy(c), runningTag(c.Running))
		switch {
		case c.Error != "":
			// The row keeps its shape; the error itself, often long and
			// shared by every container of the repository, is printed once
			// below the table, on stderr (see scanErrors).
			fmt.Fprintf(tw, "\t\t*   error (see below)\t\t\t\n")
		case c.Note != "" && !c.Generated:
			fmt.Fprintf(tw, "\t\t  %s (%s)\t\t\t\n", c.Image, c.Note)
			continue
		case c.Note != "":
			fmt.Fprintf(tw, "\t\t  (%s)\t\t\t\n", c.Note)
		case c.Generated:
			fmt.Fprintf(tw, "\t\t  (generated: moved by its updaters)\t\t\t\n")
		}
		shown := c.Tags
		if c.Error != "" {
			shown = nil
		}
		if o.Limit > 0 && len(shown) > o.Limit {
			shown = shown[:o.Limit]
		}
		inList := false
		for i, t := range shown {
			mark := "|   "
			if t.Current {
				mark, inList = "'-> ", true
			} else if i == 0 {
				mark = "*   "
			}
			created := ""
			if !t.Created.IsZero() {
				created = t.Created.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "\t\t%s%s\t\t\t%s\n", mark, t.Name, created)
		}
		if !inList {
			where := "in git"
			if c.Generated {
				where = "generated"
			}
			fmt.Fprintf(tw, "\t\t'-> %s (%s)\t\t\t\n", tagOf(c.Image), where)
		}
	}
	return tw.Flush()
}

func policy(c images.Container) string {
	var p []string
	if c.Automated {
		p = append(p, "automated")
	}
	if c.Locked {
		p = append(p, "locked")
	}
	p = append(p, c.Policy)
	return strings.Join(p, ",")
}

func tagOf(image string) string {
	r, _ := imageref.Parse(image)
	if r.Tag == "" {
		return r.Digest
	}
	return r.Tag
}

func runningTag(image string) string {
	if image == "" {
		return ""
	}
	return tagOf(image)
}
