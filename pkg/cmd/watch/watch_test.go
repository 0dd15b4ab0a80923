package watch

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"
)

func TestWatchFlagsAreValidatedBeforeAnythingRuns(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--name is required"},
		{[]string{"--name", "Bad_Name"}, "not a valid ConfigMap name"},
		{[]string{"--name", "web", "--interval", "500ms"}, "--interval 500ms is too short"},
		{[]string{"--name", "web", "--images-interval", "0s"}, "--images-interval 0s is too short"},

		{[]string{"--name", "web", "--log-format", "yaml"}, `--log-format "yaml" is not supported`},
		{[]string{"--name", "web", "--concurrency", "0"}, "--concurrency must be at least 1"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			cmd := NewCmdWatch(kcmdutil.NewFactory(genericclioptions.NewConfigFlags(true)), streams)
			cmd.SetArgs(tc.args)
			cmd.SetOut(out)
			cmd.SetErr(errOut)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestWatchDefaults(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	cmd := NewCmdWatch(kcmdutil.NewFactory(genericclioptions.NewConfigFlags(true)), streams)
	for flag, want := range map[string]string{
		"interval":        "1m0s",
		"images-interval": "5m0s",
		"force-conflicts": "true",
		"prune":           "true",
		"log-format":      "text",
	} {
		if got := cmd.Flags().Lookup(flag).DefValue; got != want {
			t.Errorf("--%s defaults to %s, want %s", flag, got, want)
		}
	}
}

func TestWatchHelpDescribesTheLoop(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	cmd := NewCmdWatch(kcmdutil.NewFactory(genericclioptions.NewConfigFlags(true)), streams)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--interval", "--images-interval", "--log-format", "--force-conflicts", "gitops-watch-NAME", "Ctrl-C"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
