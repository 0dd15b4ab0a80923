package sync

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/fleetrun"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/fleet"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
)

// completeFleet reads the fleet file and the flags every target shares.
func (o *Options) completeFleet(cmd *cobra.Command) (err error) {
	if err := o.Fleet.Complete(cmd); err != nil {
		return err
	}
	o.pruneNamed = cmd.Flags().Changed("prune")
	o.fleetBase, err = o.Source.Options(cmd, o.ErrOut)
	return err
}

// runFleet syncs every target of the fleet file and prints one table;
// exit status 1 when any target failed.
func (o *Options) runFleet(ctx context.Context) error {
	shared := session.NewFleet()
	rows := o.Fleet.Run(ctx, func(ctx context.Context, t fleet.Target) (row fleetrun.Row) {
		s, err := o.Fleet.Session(o.fleetBase, t, shared, o.ErrOut)
		if err != nil {
			row.Err = err
			return row
		}
		res, err := s.Sync(ctx, o.request())
		row.SetCounts(res)
		if err == nil && res != nil && res.Result != nil && len(res.NotReady) > 0 {
			row.Err = errNotReady(len(res.NotReady))
		}
		if err != nil {
			row.Err = err
		}
		return row
	})
	if err := fleetrun.Print(o.Out, o.Output, fleetrun.SyncColumns, rows); err != nil {
		return err
	}
	if fleetrun.Failed(rows) {
		return &cmdutil.ExitError{Code: 1}
	}
	return nil
}

type errNotReady int

func (e errNotReady) Error() string {
	return fmt.Sprintf("applied, but %d objects not ready: the revision is not recorded as synced", int(e))
}
