package completion

import (
	"github.com/spf13/cobra"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// SetNameArg completes the first argument of a command that takes a sync
// set's name there (status web, sync web) with the sets' names, and
// nothing after it.
func SetNameArg(f kcmdutil.Factory) cobra.CompletionFunc {
	names := SetNames(f)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return names(cmd, args, toComplete)
	}
}
