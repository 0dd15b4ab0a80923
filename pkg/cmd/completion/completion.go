// Package completion adds to cobra's completion command the script that lets
// kubectl itself complete `kubectl gitops <TAB>`, and completes sync set
// names from the cluster.
package completion

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/syncflags"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
)

// ScriptName is the executable kubectl runs to complete `kubectl gitops`.
const ScriptName = "kubectl_complete-gitops"

// Script is its content.
const Script = "#!/usr/bin/env sh\n# kubectl runs this to complete `kubectl gitops ...`.\nexec kubectl-gitops __complete \"$@\"\n"

// AddKubectlCompletion adds `completion kubectl` to the root's completion
// command, creating that command if cobra has not yet.
func AddKubectlCompletion(root *cobra.Command, streams genericiooptions.IOStreams) {
	root.InitDefaultCompletionCmd()
	var completionCmd *cobra.Command
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			completionCmd = c
		}
	}
	if completionCmd == nil {
		return
	}
	var dir string
	cmd := &cobra.Command{
		Use:   "kubectl [--dir DIR]",
		Short: "Install " + ScriptName + ", so that kubectl completes `kubectl gitops <TAB>`",
		Long: `kubectl completes the arguments of a plugin by running an executable named
kubectl_complete-<plugin> from PATH. This writes that script next to
kubectl-gitops (or into --dir), so that with kubectl's own shell completion
loaded, ` + "`kubectl gitops <TAB>`" + ` completes commands, flags and sync set names.
Release archives and make install include the script already; after
kubectl krew install gitops, run this once.`,
		Example: `  kubectl gitops completion kubectl
  kubectl gitops completion kubectl --dir ~/.local/bin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				p, err := exec.LookPath("kubectl-gitops")
				if err != nil {
					return errors.New("kubectl-gitops is not on PATH: pass --dir with a directory on PATH")
				}
				dir = filepath.Dir(p)
			}
			path := filepath.Join(dir, ScriptName)
			if err := os.WriteFile(path, []byte(Script), 0o755); err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
			fmt.Fprintf(streams.ErrOut, "wrote %s\n", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "Directory to write the script into; default: the one holding kubectl-gitops on PATH.")
	completionCmd.AddCommand(cmd)
}

// SetNames completes a flag with the names of the sync sets in the default
// namespace: ConfigMaps that are ApplySet parents of kubectl-gitops.
func SetNames(f kcmdutil.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		namespace, _, err := f.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, err := f.KubernetesClientSet()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, err := session.SetNames(cmd.Context(), client.CoreV1(), namespace)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, name := range names {
			if strings.HasPrefix(name, toComplete) {
				out = append(out, name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// WorkloadIDs completes an argument with the ids of the workloads in the
// repository the command's flags name. Without --repo, it reads the set's
// recorded source only when that is confirmed on this machine and local: a
// completion never fetches a source read from the cluster.
func WorkloadIDs(f kcmdutil.Factory, flags *syncflags.Flags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 || (flags.Repo == "" && flags.Name == "") {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		sess, err := flags.SourceSession(cmd, f, nil)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		found, _ := sess.WorkloadIDs(cmd.Context())
		var ids []cobra.Completion
		for _, id := range found {
			if s := id.String(); strings.HasPrefix(s, toComplete) {
				ids = append(ids, s)
			}
		}
		return ids, cobra.ShellCompDirectiveNoFileComp
	}
}
