package cmd

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestLifecycleCommandsTakeTheSetName: rollback, suspend and resume take
// the set's name as their argument, as sync does; --to and --steps are
// one or the other.
func TestLifecycleCommandsTakeTheSetName(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rollback", "web", "--name", "api"}, `error: the sync set is named twice, "web" as the argument and "api" by --name`},
		{[]string{"suspend", "web", "--name", "api"}, `error: the sync set is named twice`},
		{[]string{"resume", "web", "--name", "api"}, `error: the sync set is named twice`},
		{[]string{"rollback", "web", "--to", "abc1234", "--steps", "2"}, `error: if any flags in the group [to steps] are set none of the others can be`},
		{[]string{"rollback", "web", "--steps", "-1"}, `error: --steps -1: give 1 or more`},
		{[]string{"sync", "web", "--depends-on", "Not_A_Name"}, `error: invalid argument "Not_A_Name" for "--depends-on" flag: --depends-on "Not_A_Name": "Not_A_Name" is not a valid sync set name`},
		{[]string{"watch", "web", "--depends-on", "a/b/c"}, `is not a valid sync set name`},
	} {
		streams, _, stdout, stderr := genericiooptions.NewTestIOStreams()
		root := NewCmdRoot(streams)
		root.SetArgs(tc.args)
		code := Execute(context.Background(), root, stderr)
		if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("kubectl gitops %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", strings.Join(tc.args, " "), code, stdout, stderr, tc.want)
		}
	}
	for _, verb := range []string{"rollback", "suspend", "resume"} {
		c, _, err := NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard()).Find([]string{verb})
		if err != nil {
			t.Fatal(err)
		}
		if c.ValidArgsFunction == nil || !strings.Contains(c.Use, "NAME") {
			t.Errorf("%s: Use %q, completes the name: %v", verb, c.Use, c.ValidArgsFunction != nil)
		}
	}
}
