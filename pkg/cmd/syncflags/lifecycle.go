package syncflags

import "github.com/spf13/cobra"

// DependsOn is the --depends-on flag of sync and watch.
type DependsOn struct {
	names []string
	cmd   *cobra.Command
}

// AddDependsOnFlag registers --depends-on on cmd.
func AddDependsOnFlag(cmd *cobra.Command, d *DependsOn) {
	d.cmd = cmd
	cmd.Flags().StringArrayVar(&d.names, "depends-on", nil, `A sync set (NAME, or NAMESPACE/NAME) that must have synced successfully, with every member healthy, before this set syncs; repeat for several. Recorded in the set's parent and followed by later syncs and watch; --depends-on "" records none.`)
}

// Names returns the dependencies named by flag; nil when the flag was not
// given (the recorded ones apply), empty for --depends-on "".
func (d *DependsOn) Names() []string {
	if d.cmd == nil || !d.cmd.Flags().Changed("depends-on") {
		return nil
	}
	return append([]string{}, d.names...)
}
