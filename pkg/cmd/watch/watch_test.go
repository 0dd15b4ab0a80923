package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
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

func TestWatchTransientErrorsAreToldFromBadRevisions(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"unknown kind", errors.Join(fmt.Errorf("a.yaml:1: Gizmo \"g\": unknown kind Gizmo")), false},
		{"render error", &render.Error{Origin: render.Origin{File: "a.yaml", Line: 3}, Err: errors.New("yaml: bad")}, false},
		{"discovery down", errors.Join(errors.New("b.yaml:1: unknown kind"), fmt.Errorf("a.yaml:1: looking up kind: %w", refused)), true},
		{"server error", apierrors.NewServiceUnavailable("try later"), true},
		{"forbidden", apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "x", errors.New("no")), true},
		{"deadline", fmt.Errorf("listing: %w", context.DeadlineExceeded), true},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("%s: transient = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWatchRenderErrorsOfTheRevisionAreBad(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"yaml", errors.Join(&render.Error{Origin: render.Origin{File: "a.yaml", Line: 3}, Err: errors.New("yaml: bad")}), true},
		{"generators not allowed", &generate.NotAllowedError{Config: &generate.Config{File: ".gitops.yaml"}}, true},
		{"generator config", &generate.ConfigError{File: ".gitops.yaml", Line: 2, Msg: "unknown field"}, true},
		{"no such path", fmt.Errorf("render: %w", fs.ErrNotExist), true},
		{"a generator failed", errors.New(`generator "helm" (.gitops.yaml) failed: exit status 1: network unreachable`), false},
	} {
		if got := badManifests(tc.err); got != tc.want {
			t.Errorf("%s: badManifests = %v, want %v", tc.name, got, tc.want)
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
