package get

import (
	"bytes"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
)

func TestPrintTable(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	sets := []session.SetSummary{
		{Name: "api", Namespace: "prod", Source: applyset.Source{Repo: "https://git.example.com/api.git", Ref: "main", Path: "deploy"},
			Revision: "0123456789abcdef0123456789abcdef01234567", LastRun: &session.LastRun{Outcome: "Failed", InARow: 3}, LastRunTime: now.Add(-90 * time.Minute),
			Suspended: &applyset.Suspension{By: "alice"}},
		{Name: "new", Namespace: "prod", Source: applyset.Source{Repo: "/src/new"}},
		{Name: "web", Namespace: "prod", Source: applyset.Source{Repo: "/src/web"}, Revision: "fedcba9876543210", LastRun: &session.LastRun{Outcome: "Succeeded", InARow: 4}, LastRunTime: now.Add(-3 * 24 * time.Hour)},
	}
	var b bytes.Buffer
	if err := Print(&b, sets, true, now); err != nil {
		t.Fatal(err)
	}
	want := `NAMESPACE   NAME   SOURCE                                                 REVISION       LAST RUN              AGE      SUSPENDED
prod        api    https://git.example.com/api.git ref main path deploy   0123456789ab   Failed (3 in a row)   90m      true
prod        new    /src/new                                               <none>         <none>                <none>   false
prod        web    /src/web                                               fedcba987654   Succeeded             3d       false
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}
