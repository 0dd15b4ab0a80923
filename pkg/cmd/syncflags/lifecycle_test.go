package syncflags

import (
	"slices"
	"testing"

	"github.com/spf13/cobra"
)

// --depends-on not given follows the recorded dependencies (nil); given
// empty, it records none (an empty list); given, it names them.
func TestDependsOnNames(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, nil},
		{[]string{"--depends-on", ""}, []string{""}},
		{[]string{"--depends-on", "db", "--depends-on", "infra/crds"}, []string{"db", "infra/crds"}},
	} {
		var d DependsOn
		cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
		AddDependsOnFlag(cmd, &d)
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		got := d.Names()
		if (got == nil) != (tc.want == nil) || !slices.Equal(got, tc.want) {
			t.Errorf("%v: Names() = %#v, want %#v", tc.args, got, tc.want)
		}
	}
}
