package syncflags

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
)

// DependsOn is the --depends-on flag of sync and watch.
type DependsOn struct {
	names []string
	cmd   *cobra.Command
}

// AddDependsOnFlag registers --depends-on on cmd. A value that does not
// name a sync set is a usage error.
func AddDependsOnFlag(cmd *cobra.Command, d *DependsOn) {
	d.cmd = cmd
	cmd.Flags().Var(dependsOnValue{&d.names}, "depends-on", `A sync set (NAME, or NAMESPACE/NAME) that must have synced successfully, with every member healthy, before this set syncs; repeat for several. Recorded in the set's parent and followed by later syncs and watch; --depends-on "" records none. Without the flag, dependsOn of the set config (.gitops-set.yaml at --path, in the synced commit) applies, else the recorded list.`)
}

// Names returns the dependencies named by flag; nil when the flag was not
// given (the recorded ones apply), empty for --depends-on "".
func (d *DependsOn) Names() []string {
	if d.cmd == nil || !d.cmd.Flags().Changed("depends-on") {
		return nil
	}
	return append([]string{}, d.names...)
}

// dependsOnValue is a repeatable flag whose values are checked as set
// names when parsed.
type dependsOnValue struct{ names *[]string }

func (v dependsOnValue) String() string { return "[" + strings.Join(*v.names, ",") + "]" }

func (v dependsOnValue) Type() string { return "NAME" }

func (v dependsOnValue) Set(s string) error {
	if s = strings.TrimSpace(s); s != "" {
		if err := session.CheckDependency(s); err != nil {
			return err
		}
	}
	*v.names = append(*v.names, s)
	return nil
}
