package diff

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/fleetrun"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/fleet"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
)

// completeFleet reads the fleet file and the flags every target shares.
func (o *Options) completeFleet(cmd *cobra.Command) (err error) {
	if err := o.Fleet.Complete(cmd); err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	o.pruneNamed = cmd.Flags().Changed("prune")
	if o.fleetBase, err = o.Source.Options(cmd, o.ErrOut); err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	return nil
}

// runFleet diffs every target of the fleet file and prints one table of
// changes. The exit status sums the targets' up as kubectl diff would: 2
// when any target failed, else 1 when any would change, else 0.
func (o *Options) runFleet(ctx context.Context) error {
	shared := session.NewFleet()
	rows := o.Fleet.Run(ctx, func(ctx context.Context, t fleet.Target) (row fleetrun.Row) {
		s, err := o.Fleet.Session(o.fleetBase, t, shared, o.ErrOut)
		if err != nil {
			row.Err = err
			return row
		}
		res, err := s.Diff(ctx, o.request())
		row.SetCounts(res)
		row.Err = err
		return row
	})
	if err := fleetrun.Print(o.Out, o.Output, fleetrun.DiffColumns, rows); err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	if fleetrun.Failed(rows) {
		return &cmdutil.ExitError{Code: 2}
	}
	for _, r := range rows {
		if r.Changes > 0 {
			return &cmdutil.ExitError{Code: 1}
		}
	}
	return nil
}
