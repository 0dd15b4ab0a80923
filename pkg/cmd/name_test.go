package cmd

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestSetNameArgument: the commands that work on one set take its name as
// the first argument as well as by --name; two different names are a usage
// error, before any cluster is read.
func TestSetNameArgument(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	for _, verb := range []string{"sync", "diff", "watch", "status"} {
		t.Run(verb, func(t *testing.T) {
			streams, _, stdout, stderr := genericiooptions.NewTestIOStreams()
			root := NewCmdRoot(streams)
			root.SetArgs([]string{verb, "web", "--name", "api"})
			code := Execute(context.Background(), root, stderr)
			want := 1
			if verb == "diff" {
				want = 2
			}
			if code != want || stdout.Len() != 0 || !strings.Contains(stderr.String(), `error: the sync set is named twice, "web" as the argument and "api" by --name`) {
				t.Errorf("%s web --name api: exit %d, stdout %q, stderr:\n%s", verb, code, stdout, stderr)
			}
		})
	}
	for _, verb := range []string{"sync", "diff", "watch", "status", "get"} {
		root := NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard())
		c, _, err := root.Find([]string{verb})
		if err != nil {
			t.Fatal(err)
		}
		if c.ValidArgsFunction == nil {
			t.Errorf("%s does not complete the set's name as its argument", verb)
		}
		if !strings.Contains(c.Use, "NAME") {
			t.Errorf("%s: Use %q does not show the NAME argument", verb, c.Use)
		}
	}
}
