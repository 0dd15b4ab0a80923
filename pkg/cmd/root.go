// Package cmd assembles the kubectl gitops command tree.
package cmd

import (
	"context"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/completion"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/get"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/images"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/policy"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/rollback"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/status"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/suspend"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/sync"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/version"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/watch"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/workloads"
)

// NewCmdRoot returns the root command with every subcommand.
func NewCmdRoot(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kubectl-gitops",
		Short: "GitOps from your own machine: git commits become the state of the cluster",
		Long: `kubectl gitops syncs the manifests of a git repository into the cluster with
your own kubeconfig: server-side apply in a safe order, pruning what left the
repository (a kubectl ApplySet), diff, dry run, health waiting and a record
of each sync in the cluster. Nothing runs inside the cluster.`,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl gitops",
		},
	}
	flags := cmd.PersistentFlags()
	configFlags := genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300).WithDiscoveryQPS(50.0)
	configFlags.AddFlags(flags)
	cmdutil.AddVerbosityFlag(cmd, streams.ErrOut)
	f := kcmdutil.NewFactory(configFlags)

	diffCmd := diff.NewCmdDiff(f, streams)
	// kubectl diff exits 1 when something differs and 2 or more on error,
	// usage errors included; so does ours.
	if diffCmd.Annotations == nil {
		diffCmd.Annotations = map[string]string{}
	}
	diffCmd.Annotations[cmdutil.UsageExitCodeAnnotation] = "2"
	cmd.AddCommand(
		sync.NewCmdSync(f, streams),
		diffCmd,
		status.NewCmdStatus(f, streams),
		get.NewCmdGet(f, streams, completion.SetNameArg(f)),
		rollback.NewCmdRollback(f, streams),
		suspend.NewCmdSuspend(f, streams),
		suspend.NewCmdResume(f, streams),
		version.NewCmdVersion(streams),
		watch.NewCmdWatch(f, streams),
		images.NewCmdImages(f, streams),
		workloads.NewCmdWorkloads(f, streams),
		policy.NewCmdPolicy(f, streams),
		policy.NewCmdLock(f, streams),
		policy.NewCmdUnlock(f, streams),
		policy.NewCmdAutomate(f, streams),
		policy.NewCmdDeautomate(f, streams),
	)
	for _, c := range cmd.Commands() {
		if c.Flags().Lookup("name") != nil {
			_ = c.RegisterFlagCompletionFunc("name", completion.SetNames(f))
		}
	}
	completion.AddKubectlCompletion(cmd, streams)
	for _, c := range cmd.Commands() {
		c.SetOut(streams.Out)
		c.SetErr(streams.ErrOut)
	}
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmdutil.ClassifyUsageErrors(cmd)
	return cmd
}

// Execute runs root, prints its error on errOut and returns the process's
// exit status (see cmdutil.ExitCode).
func Execute(ctx context.Context, root *cobra.Command, errOut io.Writer) int {
	c, err := root.ExecuteContextC(ctx)
	return cmdutil.ExitCode(c, err, errOut)
}
