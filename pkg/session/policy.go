package session

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/annotations"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/images"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// Workloads are the workloads of the source's commit, as the image and
// policy use cases see them.
type Workloads struct {
	Checkout *Checkout
	Found    []images.Found
}

// Workloads reads the workloads of the source's commit, in the kubeconfig's
// default namespace where the manifests name none.
func (s *Session) Workloads(ctx context.Context) (*Workloads, error) {
	co, err := s.Checkout(ctx)
	if err != nil {
		return nil, err
	}
	found, err := s.tree(co.Snapshot, co.Source.Repo, co.Dir, s.Namespace()).Workloads(ctx)
	if err != nil {
		return nil, fmt.Errorf("revision %.12s: %w", co.Snapshot.Revision, err)
	}
	return &Workloads{Checkout: co, Found: found}, nil
}

// PolicyRequest is a change of one workload's policy.
type PolicyRequest struct {
	Workload workload.ID
	Change   workload.PolicyChange
	// TagAll, when set, is the tag filter of every container; Change.Tags
	// then holds the exceptions.
	TagAll string
	// Verb names the change in the commit message, as "Locked".
	Verb string
	// Message is the commit message's subject, and a lock's message.
	Message string
	// LockedBy is who locks ("" for the commit's author).
	LockedBy string
	// Force replaces a lock that is there already.
	Force  bool
	Author string
}

// PolicyResult is what was committed; Commit.Revision is "" when the
// workload had that policy already.
type PolicyResult struct {
	Commit source.CommitResult
}

// SetPolicy edits the workload's policy annotations in git, byte-exact (or
// through the updaters of a generated workload), and makes one commit,
// pushed for a remote. Locking a workload that is locked already is
// refused, so that its lock's author and message are not lost silently,
// unless Force, or a new Message, asks to replace them.
func (s *Session) SetPolicy(ctx context.Context, req PolicyRequest) (*PolicyResult, error) {
	co, err := s.Checkout(ctx)
	if err != nil {
		return nil, err
	}
	author, err := Author(co.Repository, req.Author)
	if err != nil {
		return nil, err
	}
	locking := req.Change.Locked != nil && *req.Change.Locked
	req.Change.LockedUser = req.LockedBy
	if locking && req.LockedBy == "" {
		req.Change.LockedUser = author.Name + " <" + author.Email + ">"
	}
	ns := req.Workload.Namespace
	edit := func(snap *source.Snapshot) (*source.Change, error) {
		tree := s.tree(snap, co.Source.Repo, co.Dir, ns)
		found, err := tree.Workloads(ctx)
		if err != nil {
			return nil, err
		}
		var w *images.Found
		ids := make([]workload.ID, len(found))
		for i := range found {
			ids[i] = found[i].ID
			if found[i].ID == req.Workload {
				w = &found[i]
			}
		}
		if w == nil {
			return nil, images.UnknownWorkload(ids, req.Workload)
		}
		if err := req.checkRelock(locking, workload.ReadPolicy(w.Annotations)); err != nil {
			return nil, err
		}
		change, err := req.expandTags(w.Workload)
		if err != nil {
			return nil, err
		}
		var files map[string][]byte
		if w.Generated {
			if files, err = tree.SetPolicy(ctx, req.Workload, policyUpdates(change)); err != nil {
				return nil, err
			}
		} else {
			src, err := fs.ReadFile(snap.FS, w.File)
			if err != nil {
				return nil, err
			}
			out, err := workload.SetPolicy(src, w.Workload, change)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(out, src) {
				files = map[string][]byte{w.File: out}
			}
		}
		if len(files) == 0 {
			return nil, nil
		}
		msg := req.Verb + ": " + req.Workload.String() + "\n"
		if req.Message != "" {
			msg = req.Message + "\n\n" + msg
		}
		return &source.Change{Files: files, Message: msg}, nil
	}
	res, err := co.Repository.Update(ctx, co.Snapshot.Ref, author, edit)
	if err != nil {
		return nil, err
	}
	return &PolicyResult{Commit: *res}, nil
}

// checkRelock refuses to lock a workload that is locked already, unless
// Force, or a Message other than the lock's, asks to replace it.
func (r PolicyRequest) checkRelock(locking bool, cur workload.Policy) error {
	if !locking || !cur.Locked || r.Force || (r.Message != "" && r.Message != cur.LockedMsg) {
		return nil
	}
	by := ""
	if cur.LockedUser != "" {
		by = " by " + cur.LockedUser
	}
	if cur.LockedMsg != "" {
		by += ": " + cur.LockedMsg
	}
	return fmt.Errorf("%s is already locked%s. Nothing was changed: pass --force to replace the lock with yours, or -m with a new message", r.Workload, by)
}

// expandTags turns TagAll into a filter per container, and checks that
// named containers exist.
func (r PolicyRequest) expandTags(w workload.Workload) (workload.PolicyChange, error) {
	change := r.Change
	if change.Tags == nil && r.TagAll == "" {
		return change, nil
	}
	tags := map[string]string{}
	if r.TagAll != "" {
		for _, c := range w.Containers {
			tags[c.Name] = r.TagAll
		}
	}
	for name, pattern := range change.Tags {
		if _, ok := w.Container(name); !ok {
			names := make([]string, len(w.Containers))
			for i, c := range w.Containers {
				names[i] = c.Name
			}
			sort.Strings(names)
			return change, fmt.Errorf("%s has no container %q: it has %s", w.ID, name, strings.Join(names, ", "))
		}
		tags[name] = pattern
	}
	change.Tags = tags
	return change, nil
}

// policyUpdates turns a policy change into the updates that Flux v1's
// updaters took: a policy name without prefix and its value, "" to remove.
func policyUpdates(c workload.PolicyChange) []generate.PolicyUpdate {
	var out []generate.PolicyUpdate
	set := func(policy, value string) { out = append(out, generate.PolicyUpdate{Policy: policy, Value: value}) }
	if c.Automated != nil {
		set(annotations.Automated, map[bool]string{true: "true"}[*c.Automated])
	}
	if c.Locked != nil {
		if *c.Locked {
			set(annotations.Locked, "true")
			set(annotations.LockedUser, c.LockedUser)
			set(annotations.LockedMsg, c.LockedMsg)
		} else {
			set(annotations.Locked, "")
			set(annotations.LockedUser, "")
			set(annotations.LockedMsg, "")
		}
	}
	containers := make([]string, 0, len(c.Tags))
	for name := range c.Tags {
		containers = append(containers, name)
	}
	sort.Strings(containers)
	for _, name := range containers {
		pattern := c.Tags[name]
		if pattern == "*" || pattern == "glob:*" {
			pattern = ""
		}
		set(annotations.TagPrefix+name, pattern)
	}
	return out
}

// WorkloadIDs returns the ids of the workloads of the source's commit, for
// shell completion: read as CheckoutForCompletion reads, so that completing
// never fetches a source that only the cluster names.
func (s *Session) WorkloadIDs(ctx context.Context) ([]workload.ID, error) {
	co, err := s.CheckoutForCompletion(ctx)
	if err != nil {
		return nil, err
	}
	found, err := s.tree(co.Snapshot, co.Source.Repo, co.Dir, s.Namespace()).Workloads(ctx)
	ids := make([]workload.ID, len(found))
	for i, w := range found {
		ids[i] = w.ID
	}
	return ids, err
}
