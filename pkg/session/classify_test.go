package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

func TestTransientErrorsAreToldFromBadRevisions(t *testing.T) {
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

func TestRenderErrorsOfTheRevisionAreBad(t *testing.T) {
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
