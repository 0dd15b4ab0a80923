package session

import (
	"context"
	"sync"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/substitute"
)

// Fleet is what the sessions of one fleet run share: each repository is
// opened (a remote fetched) once, and each commit rendered once per
// distinct path, namespace and variables, whatever the number of targets.
// Reading git is serialized over the fleet (the opened repositories are not
// safe for concurrent use); talking to the clusters is not.
type Fleet struct {
	mu      sync.Mutex
	repos   map[string]*source.Repository // by spec
	renders map[renderKey][]render.Object
}

type renderKey struct {
	repo, revision, path, namespace, variables string
}

// NewFleet returns the shared state of one fleet run.
func NewFleet() *Fleet {
	return &Fleet{repos: map[string]*source.Repository{}, renders: map[renderKey][]render.Object{}}
}

// fleetMember is a session's part in a fleet run.
type fleetMember struct {
	fleet        *Fleet
	variables    map[string]string
	variablesKey string
}

// JoinFleet makes the session one target of a fleet run: it shares the
// fleet's opened sources and renderings, and substitutes the variables
// (pkg/substitute, strict: an unset variable without a default is an
// error) in the objects it reads. key is a canonical form of variables.
func (s *Session) JoinFleet(f *Fleet, variables map[string]string, key string) {
	s.fleet = &fleetMember{fleet: f, variables: variables, variablesKey: key}
}

// lockSource serializes reading git over a fleet; it returns the unlock.
func (s *Session) lockSource() func() {
	if s.fleet == nil {
		return func() {}
	}
	s.fleet.fleet.mu.Lock()
	return s.fleet.fleet.mu.Unlock
}

// openRepository opens the source of spec: once per fleet run. Called with
// the source locked.
func (s *Session) openRepository(ctx context.Context, spec source.Spec) (*source.Repository, error) {
	if s.fleet == nil {
		return source.OpenRepository(ctx, spec)
	}
	key := spec.Repo + "\x00" + spec.Ref
	if repo, ok := s.fleet.fleet.repos[key]; ok {
		return repo, nil
	}
	repo, err := source.OpenRepository(ctx, spec)
	if err != nil {
		return nil, err
	}
	s.fleet.fleet.repos[key] = repo
	return repo, nil
}

// renderCommit renders the set's path of a commit, leaves out the
// configuration of images and, in a fleet, substitutes the target's
// variables; a fleet renders each (commit, path, namespace, variables)
// once and gives each session its own copy. Called with the source locked.
func (s *Session) renderCommit(ctx context.Context, snap *source.Snapshot, repo, path, namespace string) ([]render.Object, error) {
	var key renderKey
	if s.fleet != nil {
		key = renderKey{repo: repo, revision: snap.Revision, path: path, namespace: namespace, variables: s.fleet.variablesKey}
		if objs, ok := s.fleet.fleet.renders[key]; ok {
			return copyObjects(objs), nil
		}
	}
	objects, err := render.RenderWith(ctx, snap.FS, path, s.renderOptions(snap, repo, namespace, false))
	if err != nil {
		return nil, err
	}
	objects = withoutImageConfig(objects) // configuration of images, never applied
	if s.fleet == nil {
		return objects, nil
	}
	if err := substitute.Objects(objects, substitute.Options{Variables: s.fleet.variables, Strict: true}); err != nil {
		return nil, err
	}
	s.fleet.fleet.renders[key] = objects
	return copyObjects(objects), nil
}

func copyObjects(objs []render.Object) []render.Object {
	out := make([]render.Object, len(objs))
	for i, o := range objs {
		out[i] = render.Object{Object: o.Object.DeepCopy(), Origin: o.Origin}
	}
	return out
}
