package status

import (
	"context"
	"fmt"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/cmdutil"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cmd/fleetrun"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/fleet"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
)

// runFleet reads the status of every target's set and prints one table:
// the revision last synced, how many members are current, and an error
// for a target that cannot be read, or whose set does not exist or last
// failed. Exit status 1 when any target has an error.
func (o *Options) runFleet(ctx context.Context) error {
	rows := o.Fleet.Run(ctx, func(ctx context.Context, t fleet.Target) (row fleetrun.Row) {
		st, err := session.New(o.Fleet.Factory(t), session.Options{Name: t.Set}).Status(ctx)
		if err != nil {
			row.Err = err
			return row
		}
		row.Revision = st.Record.LastSyncedRevision
		current := 0
		for _, m := range st.Members {
			if m.Health.Ready() {
				current++
			}
		}
		row.Health = fmt.Sprintf("%d/%d current", current, len(st.Members))
		if lr := st.LastRun; lr != nil && lr.Outcome != applyset.OutcomeSucceeded {
			row.Err = fmt.Errorf("last run %s: %s", lr.Outcome, lr.Message)
		}
		return row
	})
	if err := fleetrun.Print(o.Out, o.Output, fleetrun.StatusColumns, rows); err != nil {
		return err
	}
	if fleetrun.Failed(rows) {
		return &cmdutil.ExitError{Code: 1}
	}
	return nil
}
