package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/setconfig"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// Revision is one commit of the source, read for a sync set: its rendered
// objects, with their origins, checked into a plan against the set.
type Revision struct {
	// Repository is the opened source, Snapshot the commit read from it.
	Repository *source.Repository
	Snapshot   *source.Snapshot
	// Source is the source as the set records it (no credentials).
	Source applyset.Source
	// Set is the set's parent as read before planning.
	Set     *applyset.Set
	Objects []render.Object
	Plan    *apply.Plan
	// Config is the set's config at its path (.gitops-set.yaml); nil
	// when the commit has none.
	Config *setconfig.Config
}

// Read reads revision (a commit, or "" for the head of the source's ref)
// for the session's sync set: it reads the set's parent, opens the source,
// reads the set's config at its path (setconfig), renders the commit and
// checks the objects into a plan. Nothing is written. A commit read before
// by the session is not rendered again.
//
// A failure of the commit's own content (it does not render, or its objects
// do not plan) is a *RevisionError.
func (s *Session) Read(ctx context.Context, revision string) (*Revision, error) {
	if err := s.opts.RequireName(); err != nil {
		return nil, err
	}
	set, err := s.LoadSet(ctx)
	if err != nil {
		return nil, err
	}
	if !set.Exists && s.opts.Source.Repo == "" && s.resolved == nil {
		return nil, s.notFound(ctx)
	}
	r, err := s.resolve(set, s.namespace)
	if err != nil {
		return nil, err
	}
	unlock := s.lockSource() // a fleet's sessions share the source
	rev, err := s.readCommit(ctx, r, revision, set)
	unlock()
	if err != nil {
		return nil, err
	}
	snap := rev.Snapshot
	plan, err := s.cluster.plan(rev.Objects, apply.PlanOptions{DefaultNamespace: s.namespace, SetID: set.ID})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &RevisionError{Revision: snap.Revision, Repo: r.src.Repo, Err: err, bad: !transient(err)}
	}
	rev.Plan = plan
	s.last = rev
	return rev, nil
}

// readCommit opens the source and reads the set's config and objects of
// revision: Read's part that reads git only.
func (s *Session) readCommit(ctx context.Context, r *resolved, revision string, set *applyset.Set) (*Revision, error) {
	if s.repo == nil || revision == "" {
		repo, err := s.openRepository(ctx, r.spec)
		if err != nil {
			return nil, err
		}
		if s.repo == nil {
			s.confirm(r)
		}
		s.repo = repo
	}
	ref := revision
	if ref == "" {
		ref = r.spec.Ref
	}
	snap, err := s.repo.Snapshot(ref)
	if err != nil {
		return nil, err
	}
	rev := &Revision{Repository: s.repo, Snapshot: snap, Source: r.src, Set: set}
	if last := s.last; last != nil && last.Snapshot.Revision == snap.Revision && last.Source == r.src {
		rev.Objects, rev.Config = last.Objects, last.Config
		return rev, nil
	}
	if rev.Config, err = readSetConfig(snap, r.src); err != nil {
		return nil, err
	}
	objects, err := s.renderCommit(ctx, snap, r.src.Repo, dir(r.src), s.namespace)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &RevisionError{Revision: snap.Revision, Repo: r.src.Repo, Err: err, bad: badManifests(err) && !transient(err)}
	}
	rev.Objects = objects
	return rev, nil
}

// renderOptions are the options every use case renders a commit of repo
// with, so that what sync applies and what images and the policy commands
// see are the same objects.
//
// offline renders charts without the cluster when it cannot be reached,
// for the use cases that read git only (see charts).
func (s *Session) renderOptions(snap *source.Snapshot, repo, namespace string, offline bool) render.Options {
	return render.Options{Generate: s.GenerateOptions(snap.Revision, namespace), Charts: s.charts(snap, repo, namespace, offline)}
}

// Checkout is a commit of the source read for the use cases that need git
// only: images, workloads and the policy commands.
type Checkout struct {
	Repository *source.Repository
	Snapshot   *source.Snapshot
	Source     applyset.Source
	// Dir is the manifests' path inside the repository, "." for its top.
	Dir string
}

// Checkout opens the source the options name, or without a repository the
// source the set recorded, when it is confirmed on this machine, at the
// head of its ref. The cluster is read only for a recorded source.
func (s *Session) Checkout(ctx context.Context) (*Checkout, error) {
	return s.checkout(ctx, false)
}

// CheckoutForCompletion is Checkout for shell completion: a source that
// only the set's record names is opened only when it is confirmed on this
// machine and is a local repository, so that completing never fetches a
// source read from the cluster; and nothing is confirmed.
func (s *Session) CheckoutForCompletion(ctx context.Context) (*Checkout, error) {
	return s.checkout(ctx, true)
}

func (s *Session) checkout(ctx context.Context, completing bool) (*Checkout, error) {
	if err := s.opts.RequireSource(); err != nil {
		return nil, err
	}
	var set *applyset.Set
	namespace := s.Namespace()
	if s.opts.Source.Repo == "" && s.resolved == nil {
		var err error
		if set, err = s.existingSet(ctx); err != nil {
			return nil, err
		}
		namespace = set.Namespace
	}
	name := s.opts.Name
	if completing && s.opts.Source.Repo != "" {
		s.opts.Name = "" // nothing to check, nothing to confirm
	}
	r, err := s.resolve(set, namespace)
	s.opts.Name = name
	if err != nil {
		return nil, err
	}
	if completing && s.opts.Source.Repo == "" && source.IsRemote(r.spec.Repo) {
		return nil, errors.New("completion does not fetch a recorded remote source")
	}
	repo, err := source.OpenRepository(ctx, r.spec)
	if err != nil {
		return nil, err
	}
	snap, err := repo.Snapshot(r.src.Ref)
	if err != nil {
		return nil, err
	}
	if !completing {
		s.confirm(r)
	}
	s.repo = repo
	return &Checkout{Repository: repo, Snapshot: snap, Source: r.src, Dir: dir(r.src)}, nil
}

// RevisionError is a failure of a commit's own content: it does not render
// (a file that does not decode, a generator that fails), or its objects do
// not plan (an unknown kind, an object twice).
type RevisionError struct {
	Revision string
	Repo     string
	Err      error
	bad      bool
}

func (e *RevisionError) Error() string {
	return fmt.Sprintf("revision %s of %s: %v", short(e.Revision), e.Repo, e.Err)
}

func (e *RevisionError) Unwrap() error { return e.Err }

// Bad says whether reading the revision again gives the same error: its
// manifests are wrong. Otherwise the failure came from a passing fault (a
// generator that met one, the cluster's discovery) and may pass.
func (e *RevisionError) Bad() bool { return e.bad }

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
