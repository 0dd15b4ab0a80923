// Package session is the application layer between the commands and the
// engines. A Session is built once from the operator's flags and
// environment (by the command layer, which alone knows cobra and reads the
// environment) and offers the use cases: sync, diff, drift check, status,
// image scan and update, set policy, workloads. Each takes a plain request
// and returns a typed result, which the command prints; watch composes the
// same use cases.
//
// Every use case reads a commit through one reader, Read: it opens the
// source the operator named (or the set's recorded source, when confirmed
// on this machine), renders the commit with pkg/render and, for the use
// cases that touch the cluster, plans it against the set. What sync
// applies and what images and the policy commands see come from the same
// rendering.
package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

// Options say which sync set and which source a session works on. The
// command layer fills them from flags and environment.
type Options struct {
	// Name is the sync set: its parent ConfigMap in the namespace of the
	// kubeconfig. Optional for the use cases that read git only.
	Name string
	// Source names the repository, ref and path; parts left empty come
	// from the set's record, when the operator confirmed it on this machine.
	Source applyset.Source
	// Named says which parts of Source the operator gave by flag. A ref or
	// path given as "" by flag still counts as named.
	Named sourcetrust.Named
	// Auth is how to reach the git remote; the password is read already.
	Auth source.Auth
	// AllowGenerators lets the programs a .gitops.yaml declares run.
	AllowGenerators bool
	// Warnings receives one-line warnings that do not stop a use case; nil
	// discards them.
	Warnings io.Writer
}

// Validate checks the options that can be checked without a cluster.
func (o Options) Validate() error {
	if o.Name == "" {
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(o.Name); len(errs) > 0 {
		return fmt.Errorf("--name %q is not a valid ConfigMap name: %s", o.Name, strings.Join(errs, "; "))
	}
	return nil
}

// RequireName fails unless the options name a sync set.
func (o Options) RequireName() error {
	if o.Name == "" {
		return errors.New("--name is required (or the set's name as the first argument): it names the sync set (its parent ConfigMap)")
	}
	return o.Validate()
}

// RequireSource fails unless the options name a source, or a set whose
// recorded source to use.
func (o Options) RequireSource() error {
	if o.Source.Repo == "" && o.Name == "" {
		return errors.New("--repo is required (or --name of a sync set whose recorded source to use)")
	}
	return o.Validate()
}

// Session is one run of a command, or of watch, against one sync set and
// source. Its source is resolved once: watch does not read the set's
// record again, so a later edit of the record changes nothing.
type Session struct {
	opts    Options
	factory kcmdutil.Factory

	cluster   cluster
	namespace string

	resolved *resolved          // the source, once resolved
	repo     *source.Repository // as last opened
	last     *Revision          // the last revision read, reused for the same commit

	fleet *fleetMember // set when the session is one target of a fleet run (fleet.go)
}

// resolved is the source of a session: the spec to open and what the
// record says it is.
type resolved struct {
	spec  source.Spec
	src   applyset.Source
	trust Trust
}

// New returns a session. opts must have passed Validate.
func New(factory kcmdutil.Factory, opts Options) *Session {
	return &Session{opts: opts, factory: factory}
}

// Name is the sync set's name.
func (s *Session) Name() string { return s.opts.Name }

// Namespace returns the default namespace of the kubeconfig: the sync
// set's namespace, and that of objects without one. Without a readable
// kubeconfig it is "default".
func (s *Session) Namespace() string {
	if s.namespace == "" {
		ns, _, err := s.factory.ToRawKubeConfigLoader().Namespace()
		if err != nil || ns == "" {
			ns = "default"
		}
		s.namespace = ns
	}
	return s.namespace
}

// Connect reads the kubeconfig and connects to its cluster, once.
func (s *Session) Connect() error {
	if s.cluster != nil {
		return nil
	}
	namespace, _, err := s.factory.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return fmt.Errorf("reading the default namespace from the kubeconfig: %w", err)
	}
	cfg, err := s.factory.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("reading the kubeconfig: %w", err)
	}
	cfg.Timeout = 2 * time.Minute
	mapper, err := s.factory.ToRESTMapper()
	if err != nil {
		return fmt.Errorf("discovering the cluster's kinds: %w", err)
	}
	client, err := apply.NewClient(cfg, mapper)
	if err != nil {
		return err
	}
	s.cluster, s.namespace = kube{client: client}, namespace
	return nil
}

// LoadSet reads the sync set's parent; a set that does not exist is
// returned with Exists false.
func (s *Session) LoadSet(ctx context.Context) (*applyset.Set, error) {
	if err := s.Connect(); err != nil {
		return nil, err
	}
	return s.cluster.loadSet(ctx, s.opts.Name, s.namespace)
}

// existingSet is LoadSet for a set that must exist.
func (s *Session) existingSet(ctx context.Context) (*applyset.Set, error) {
	set, err := s.LoadSet(ctx)
	if err != nil {
		return nil, err
	}
	if !set.Exists {
		return nil, s.notFound(ctx)
	}
	return set, nil
}

// GenerateOptions say whether the generators of a .gitops.yaml may run, and
// tell them the revision and default namespace.
func (s *Session) GenerateOptions(revision, namespace string) generate.Options {
	return generate.Options{Allow: s.opts.AllowGenerators, Revision: revision, Namespace: namespace}
}

// resolve finds the source to open: the one the options name, with the
// source recorded in set (nil when not read) filling in what they leave
// out, when it is the one confirmed on this machine. namespace is the
// set's, for the trust key.
func (s *Session) resolve(set *applyset.Set, namespace string) (*resolved, error) {
	if s.resolved != nil {
		return s.resolved, nil
	}
	var recorded applyset.Source
	if set != nil {
		recorded = set.Record.Source
	}
	var trust Trust
	if s.opts.Name != "" {
		trust = NewTrust(s.factory, s.opts.Name, namespace)
	}
	spec, src, err := s.Spec(recorded, trust)
	if err != nil {
		return nil, err
	}
	s.resolved = &resolved{spec: spec, src: src, trust: trust}
	return s.resolved, nil
}

// Spec returns the source spec from the options, with the source the set
// recorded filling in what the options leave out: without a repository, the
// recorded repository, ref and path are used where no ref and path were
// named.
//
// The record is read from the cluster, where anyone who can edit the set's
// parent can change it, so a recorded source is used only when trust says
// that the operator confirmed it on this machine (see package sourcetrust):
// otherwise Spec fails, before anything is fetched or any credential read.
func (s *Session) Spec(recorded applyset.Source, trust Trust) (source.Spec, applyset.Source, error) {
	o := s.opts
	src := o.Source
	fromRecord := o.Source.Repo == ""
	if fromRecord {
		if recorded.Repo == "" {
			return source.Spec{}, src, fmt.Errorf("--repo is required: sync set %q has no recorded source yet", o.Name)
		}
		src.Repo = recorded.Repo
		if !o.Named.Ref {
			src.Ref = recorded.Ref
		}
		if !o.Named.Path {
			src.Path = recorded.Path
		}
	}
	spec := source.Spec{Repo: src.Repo, Ref: src.Ref}
	if source.IsRemote(src.Repo) {
		src.Repo = source.Redact(src.Repo) // the spec may carry credentials; the record never does
		if fromRecord {
			spec.Repo = src.Repo // nor does a record's URL carry any into the spec
		}
	} else if abs, err := filepath.Abs(src.Repo); err == nil {
		src.Repo, spec.Repo = abs, abs // a later sync from elsewhere finds it
	}
	if fromRecord {
		if err := trust.check(o.Name, o.Named, src); err != nil {
			return source.Spec{}, src, err
		}
	}
	spec.Auth = o.Auth
	return spec, src, nil
}

// confirm records the resolved source as confirmed on this machine when
// the operator named any part of it; a source used entirely from the
// record is already the confirmed one. A failure to write is a warning.
func (s *Session) confirm(r *resolved) {
	n := s.opts.Named
	if s.opts.Name == "" || !n.Repo && !n.Ref && !n.Path {
		return
	}
	if err := r.trust.Confirm(r.src); err != nil && s.opts.Warnings != nil {
		fmt.Fprintf(s.opts.Warnings, "warning: the source was not recorded as confirmed on this machine (%v); a later run without --repo will refuse the recorded source\n", err)
	}
}

// Fetch opens the source, fetching a remote, and returns the revision its
// ref points at. The source is resolved at the first call (reading the
// set's record when no repository is named) and kept.
func (s *Session) Fetch(ctx context.Context) (string, error) {
	r := s.resolved
	if r == nil {
		var set *applyset.Set
		if s.opts.Source.Repo == "" {
			var err error
			if set, err = s.LoadSet(ctx); err != nil {
				return "", err
			}
		}
		var err error
		if r, err = s.resolve(set, s.Namespace()); err != nil {
			return "", err
		}
	}
	repo, err := source.OpenRepository(ctx, r.spec)
	if err != nil {
		return "", err
	}
	snap, err := repo.Snapshot(r.spec.Ref)
	if err != nil {
		return "", err
	}
	if s.repo == nil {
		s.confirm(r)
	}
	s.repo = repo
	return snap.Revision, nil
}

// Source is the source the session resolved; zero before it is.
func (s *Session) Source() applyset.Source {
	if s.resolved == nil {
		return applyset.Source{}
	}
	return s.resolved.src
}

// CheckSource fails when no repository is named and the set, read from a
// reachable cluster, has no recorded source, or one that is not confirmed
// on this machine: retrying could not help. A cluster that cannot be read
// is no failure here.
func (s *Session) CheckSource(ctx context.Context) error {
	if s.opts.Source.Repo != "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	set, err := s.LoadSet(ctx)
	if err != nil {
		return nil
	}
	_, _, err = s.Spec(set.Record.Source, NewTrust(s.factory, s.opts.Name, s.Namespace()))
	return err
}

// dir is the manifests' path inside the repository, "." for its top.
func dir(src applyset.Source) string {
	d := strings.Trim(src.Path, "/")
	if d == "" {
		return "."
	}
	return d
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
