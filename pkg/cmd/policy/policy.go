// Package policy holds the commands that change a workload's policy in git:
// policy, and its short forms lock, unlock, automate and deautomate. Each
// edits the workload's annotations byte-exact and makes one commit.
package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/completion"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imagepolicy"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// Options are the options of the policy commands.
type Options struct {
	Source     syncflags.Flags
	Tags       []string
	TagAll     string
	Automate   bool
	Deautomate bool
	Lock       bool
	Unlock     bool
	Message    string
	LockedBy   string
	Force      bool
	Author     string

	// verb names the commit, such as "Locked".
	verb    string
	id      workload.ID
	change  workload.PolicyChange
	session *session.Session
	factory kcmdutil.Factory
	genericiooptions.IOStreams
}

// NewCmdPolicy returns the policy command.
func NewCmdPolicy(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams}
	cmd := newCmd(o, "policy WORKLOAD [--tag CONTAINER=PATTERN ...] [--tag-all PATTERN] [--automate|--deautomate] [--lock|--unlock]",
		"Change a workload's policy in git: tag filters, automation, lock",
		`  # Follow patch releases of the web container, automatically
  kubectl gitops policy demo:deployment/web --repo . --tag web=semver:~1.2 --automate

  # One filter for every container; remove the filter of the sidecar
  kubectl gitops policy deployment/web -n demo --repo . --tag-all 'glob:1.*' --tag sidecar='*'`)
	fl := cmd.Flags()
	fl.StringArrayVar(&o.Tags, "tag", nil, "CONTAINER=PATTERN: the tag filter of a container (glob:, semver:, regex:; no prefix is glob); CONTAINER=* removes it.")
	fl.StringVar(&o.TagAll, "tag-all", "", "PATTERN: the same tag filter for every container; * removes them all.")
	fl.BoolVar(&o.Automate, "automate", false, "Turn image automation on.")
	fl.BoolVar(&o.Deautomate, "deautomate", false, "Turn image automation off.")
	fl.BoolVar(&o.Lock, "lock", false, "Lock the workload: no image update, automated or manual, unless forced.")
	fl.BoolVar(&o.Unlock, "unlock", false, "Unlock the workload.")
	fl.StringVar(&o.LockedBy, "locked-by", "", `With --lock: who locks, "Name <email>"; default: git's user.name and user.email.`)
	fl.BoolVar(&o.Force, "force", false, "With --lock: replace the lock of a workload that is locked already, its author and message. Without it such a workload is left as it is, unless -m gives a new message.")
	return cmd
}

// NewCmdLock returns the lock command.
func NewCmdLock(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams, Lock: true}
	cmd := newCmd(o, "lock WORKLOAD [-m MESSAGE] [--locked-by 'Name <email>']", "Lock a workload in git: its images are not updated, automated or manual, unless forced",
		`  kubectl gitops lock demo:deployment/web --repo . -m "hold at 1.2 until the migration is done"`)
	// Not --user: that is kubectl's flag for the kubeconfig user, which every
	// command takes.
	cmd.Flags().StringVar(&o.LockedBy, "locked-by", "", `Who locks, "Name <email>"; default: git's user.name and user.email.`)
	cmd.Flags().BoolVar(&o.Force, "force", false, "Replace the lock of a workload that is locked already, its author and message. Without it such a workload is left as it is, unless -m gives a new message.")
	return cmd
}

// NewCmdUnlock returns the unlock command.
func NewCmdUnlock(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams, Unlock: true}
	return newCmd(o, "unlock WORKLOAD", "Unlock a workload in git", `  kubectl gitops unlock demo:deployment/web --repo .`)
}

// NewCmdAutomate returns the automate command.
func NewCmdAutomate(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams, Automate: true}
	return newCmd(o, "automate WORKLOAD", "Turn image automation on for a workload, in git", `  kubectl gitops automate demo:deployment/web --repo .`)
}

// NewCmdDeautomate returns the deautomate command.
func NewCmdDeautomate(f kcmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{factory: f, IOStreams: streams, Deautomate: true}
	return newCmd(o, "deautomate WORKLOAD", "Turn image automation off for a workload, in git", `  kubectl gitops deautomate demo:deployment/web --repo .`)
}

func newCmd(o *Options, use, short, example string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    cobra.ExactArgs(1),
		Long: short + `.

WORKLOAD is <namespace>:<kind>/<name>, or <kind>/<name> with -n. The policy is
kept as annotations on the workload in the repository (kubectl-gitops.dev/, or
the Flux v1 prefix the workload already uses); only those lines change, in
the file's own style, in one commit that is pushed for a remote repository.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args[0]); err != nil {
				return err
			}
			cmd.SilenceUsage = true
			return o.Run(cmd.Context())
		},
	}
	o.Source.AddGitFlags(cmd)
	cmd.Flags().Lookup("ref").Usage = "Branch to commit the change to (and push it to, for a remote). Defaults to HEAD: the checked-out branch of a local repository, the remote's default branch."
	cmd.ValidArgsFunction = completion.WorkloadIDs(o.factory, &o.Source)
	message := "Why: the commit message."
	switch {
	case o.Lock:
		message = "Why the workload is locked: the lock's message, and the commit message."
	case !o.Unlock && !o.Automate && !o.Deautomate: // policy
		message = "Why: the commit message, and with --lock the lock's message."
	}
	cmd.Flags().StringVarP(&o.Message, "message", "m", "", message)
	cmd.Flags().StringVar(&o.Author, "author", "", `The commit author, "Name <email>"; default: git's user.name and user.email.`)
	return cmd
}

// Complete checks the flags and the workload id, and builds the session.
func (o *Options) Complete(cmd *cobra.Command, arg string) error {
	var err error
	if o.session, err = o.Source.SourceSession(cmd, o.factory, o.ErrOut); err != nil {
		return err
	}
	if o.Automate && o.Deautomate {
		return errors.New("--automate and --deautomate exclude each other")
	}
	if o.Lock && o.Unlock {
		return errors.New("--lock and --unlock exclude each other")
	}
	if o.Force && !o.Lock {
		return errors.New("--force goes with --lock")
	}
	if o.id, err = workload.ParseID(arg, o.session.Namespace()); err != nil {
		return err
	}
	var verbs []string
	t, f := true, false
	switch {
	case o.Automate:
		o.change.Automated, verbs = &t, append(verbs, "Automated")
	case o.Deautomate:
		o.change.Automated, verbs = &f, append(verbs, "Deautomated")
	}
	switch {
	case o.Lock:
		o.change.Locked, o.change.LockedMsg, verbs = &t, o.Message, append(verbs, "Locked")
	case o.Unlock:
		o.change.Locked, verbs = &f, append(verbs, "Unlocked")
	}
	if o.TagAll != "" || len(o.Tags) > 0 {
		o.change.Tags = map[string]string{}
		if err := checkPattern("--tag-all", o.TagAll); err != nil {
			return err
		}
		for _, t := range o.Tags {
			container, pattern, ok := strings.Cut(t, "=")
			if !ok || container == "" {
				return fmt.Errorf("--tag %q: write it as CONTAINER=PATTERN", t)
			}
			if err := checkPattern("--tag "+t, pattern); err != nil {
				return err
			}
			o.change.Tags[container] = pattern
		}
		verbs = append(verbs, "Updated tag filters")
	}
	if len(verbs) == 0 {
		return errors.New("nothing to change: give --tag, --tag-all, --automate, --deautomate, --lock or --unlock")
	}
	o.verb = strings.Join(verbs, ", ")
	return nil
}

// checkPattern fails, saying why, for a pattern that does not parse.
func checkPattern(flag, pattern string) error {
	if pattern == "" || pattern == "*" {
		return nil
	}
	if _, err := imagepolicy.Parse(pattern); err != nil {
		return fmt.Errorf("%s: %w; nothing was written", flag, err)
	}
	return nil
}

// Run edits, commits and pushes.
func (o *Options) Run(ctx context.Context) error {
	res, err := o.session.SetPolicy(ctx, session.PolicyRequest{
		Workload: o.id, Change: o.change, TagAll: o.TagAll, Verb: o.verb,
		Message: o.Message, LockedBy: o.LockedBy, Force: o.Force, Author: o.Author,
	})
	if err != nil {
		return err
	}
	c := res.Commit
	if c.Revision == "" {
		fmt.Fprintf(o.ErrOut, "%s already has that policy: nothing to commit\n", o.id)
		return nil
	}
	verb := "committed"
	if c.Pushed {
		verb = "committed and pushed"
	}
	fmt.Fprintf(o.Out, "%s: %s (%s %s on %s)\n", o.verb, o.id, verb, c.Revision, c.Branch)
	return nil
}
