// Package cmd assembles the kubectl gitops command tree.
package cmd

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/completion"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/diff"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/images"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/policy"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/status"
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
		SilenceErrors: true,
	}
	flags := cmd.PersistentFlags()
	configFlags := genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300).WithDiscoveryQPS(50.0)
	configFlags.AddFlags(flags)
	cmdutil.AddVerbosityFlag(cmd, streams.ErrOut)
	f := kcmdutil.NewFactory(configFlags)

	cmd.AddCommand(
		sync.NewCmdSync(f, streams),
		diff.NewCmdDiff(f, streams),
		status.NewCmdStatus(f, streams),
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
	return cmd
}
