package fleetrun

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/fleet"
)

func fleetFile(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: kubectl-gitops.dev/v1alpha1\nkind: Fleet\nrepo: /srv/repo\ntargets:\n")
	for i := range n {
		b.WriteString("  - {name: t" + string(rune('a'+i)) + ", context: c, set: web}\n")
	}
	p := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func command(f *Flags, args ...string) error {
	cmd := &cobra.Command{Use: "x", RunE: func(cmd *cobra.Command, _ []string) error { return f.Complete(cmd) }}
	cmd.Flags().String("name", "", "")
	f.AddFlags(cmd)
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	return cmd.Execute()
}

// At most --max-concurrent targets run at once; a failing or panicking
// target stops no other; the rows keep the file's order.
func TestRun(t *testing.T) {
	file := fleetFile(t, 6)
	var f Flags
	if err := command(&f, "--fleet", file, "--max-concurrent", "2"); err != nil {
		t.Fatal(err)
	}
	var running, most atomic.Int32
	rows := f.Run(context.Background(), func(_ context.Context, tg fleet.Target) Row {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		switch tg.Name {
		case "tb":
			return Row{Err: errors.New("cluster down")}
		case "tc":
			panic("boom")
		}
		return Row{Revision: "abc"}
	})
	if most.Load() != 2 {
		t.Errorf("%d targets ran at once, want 2", most.Load())
	}
	if len(rows) != 6 || rows[0].Target != "ta" || rows[5].Target != "tf" {
		t.Fatalf("rows = %+v", rows)
	}
	if rows[1].Error != "cluster down" || !strings.Contains(rows[2].Error, "boom") || rows[3].Err != nil || rows[3].Revision != "abc" {
		t.Errorf("rows = %+v", rows)
	}
	if !Failed(rows) || Failed(rows[3:]) {
		t.Error("Failed")
	}
	var out bytes.Buffer
	if err := Print(&out, "", SyncColumns, rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "TARGET") || !strings.Contains(out.String(), "cluster down") {
		t.Errorf("table:\n%s", out.String())
	}
}

func TestCompleteErrors(t *testing.T) {
	file := fleetFile(t, 2)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--target", "ta"}, "--target needs --fleet"},
		{[]string{"--fleet", file, "web"}, "drop the argument"},
		{[]string{"--fleet", file, "--name", "web"}, "drop --name"},
		{[]string{"--fleet", file, "--target", "zz"}, "zz"},
		{[]string{"--fleet", file, "--max-concurrent", "0"}, "at least 1"},
	} {
		var f Flags
		if err := command(&f, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	var f Flags
	if err := command(&f, "--fleet", file, "--target", "tb"); err != nil {
		t.Fatal(err)
	}
	if s := f.Selected(); len(s) != 1 || s[0].Name != "tb" {
		t.Errorf("selected %+v", s)
	}
}
