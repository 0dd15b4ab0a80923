package watch

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// badManifests says whether a render error is the revision's own: a file
// that does not decode, a generator config that does not parse or may not
// run, a path that is not in the commit. Rendering the revision again gives
// the same error. Other render errors come from running generators, which
// may have met a passing fault, and are retried.
func badManifests(err error) bool {
	var (
		file   *render.Error
		config *generate.ConfigError
	)
	return errors.As(err, &file) || errors.As(err, &config) || errors.Is(err, generate.ErrNotAllowed) || errors.Is(err, fs.ErrNotExist)
}

// transient says whether err, or any error it wraps or joins, comes from
// talking to the cluster rather than from the manifests: a network error,
// an error status from the API server, failed discovery, or a deadline.
// Such an error says nothing about the revision, which is tried again.
func transient(err error) bool {
	var (
		urlErr *url.Error
		netErr net.Error
		status apierrors.APIStatus
		groups *discovery.ErrGroupDiscoveryFailed
	)
	return errors.As(err, &urlErr) || errors.As(err, &netErr) || errors.As(err, &status) ||
		errors.As(err, &groups) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
