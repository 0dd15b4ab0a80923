package source

import (
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// minShortSHA is the shortest hex string taken as a commit sha, as in git.
const minShortSHA = 4

// resolve finds the commit ref names, in the order documented on
// Repository.Snapshot. refName is the reference it came from, "" for HEAD
// and shas. The caller holds r.store.mu.
func (r *Repository) resolve(ref string) (hash plumbing.Hash, refName plumbing.ReferenceName, err error) {
	if ref == "" || ref == "HEAD" {
		return r.resolveHead()
	}

	// Commit shas.
	var shaHit plumbing.Hash
	if isHex(ref) && len(ref) >= minShortSHA && len(ref) <= 2*len(plumbing.ZeroHash) {
		if len(ref) == 2*len(plumbing.ZeroHash) {
			h, err := r.peel(plumbing.NewHash(ref), ref)
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return plumbing.ZeroHash, "", r.notFound(ref, "commit")
			}
			return h, "", err
		}
		hits, err := r.commitsWithPrefix(strings.ToLower(ref))
		if err != nil {
			return plumbing.ZeroHash, "", err
		}
		switch len(hits) {
		case 0:
		case 1:
			shaHit = hits[0]
		default:
			return plumbing.ZeroHash, "", fmt.Errorf("short sha %q is ambiguous in %s: commits %s start with it; give more digits", ref, r.name, joinHashes(hits))
		}
	}

	// Branches, then tags.
	if err := plumbing.NewBranchReferenceName(ref).Validate(); err != nil {
		return plumbing.ZeroHash, "", fmt.Errorf("%q is not a valid ref: give a branch, a tag or a commit sha (names cannot hold \"..\", \"~\", \"^\", \":\", spaces and the like, and expressions such as main~1 are not supported)", ref)
	}
	var candidates []plumbing.ReferenceName
	if strings.HasPrefix(ref, "refs/") {
		candidates = append(candidates, plumbing.ReferenceName(ref))
	}
	candidates = append(candidates,
		plumbing.NewBranchReferenceName(ref),
		plumbing.ReferenceName("refs/remotes/"+ref),
		plumbing.NewRemoteReferenceName("origin", ref),
		plumbing.NewTagReferenceName(ref),
	)
	for _, name := range candidates {
		got, err := storer.ResolveReference(r.repo.Storer, name)
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			continue
		}
		if err != nil {
			return plumbing.ZeroHash, "", r.storeErr(fmt.Errorf("reading %s in %s: %w", name, r.name, err))
		}
		h, err := r.peel(got.Hash(), string(name))
		if err != nil {
			return plumbing.ZeroHash, "", err
		}
		if !shaHit.IsZero() && shaHit != h {
			return plumbing.ZeroHash, "", fmt.Errorf("%q in %s is both the short sha of commit %s and %s (commit %s): give the full sha or the full reference name", ref, r.name, shaHit, name, h)
		}
		return h, name, nil
	}
	if !shaHit.IsZero() {
		return shaHit, "", nil
	}
	return plumbing.ZeroHash, "", r.notFound(ref, "commit, branch or tag")
}

// resolveHead resolves HEAD: a local repository's current commit, or a cached
// clone's copy of the remote's default branch.
func (r *Repository) resolveHead() (plumbing.Hash, plumbing.ReferenceName, error) {
	head, err := r.repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return plumbing.ZeroHash, "", r.storeErr(fmt.Errorf("reading HEAD of %s: %w", r.name, err))
	}
	got, err := storer.ResolveReference(r.repo.Storer, plumbing.HEAD)
	if errors.Is(err, plumbing.ErrReferenceNotFound) && head.Type() == plumbing.SymbolicReference {
		what := "HEAD"
		if r.remote != nil {
			what = "the remote's default branch (HEAD)"
		}
		return plumbing.ZeroHash, "", &refNotFoundError{fmt.Sprintf("%s of %s is %s, which has no commits: pass a ref%s",
			what, r.name, head.Target().Short(), r.branchHint())}
	}
	if err != nil {
		return plumbing.ZeroHash, "", r.storeErr(fmt.Errorf("resolving HEAD of %s: %w", r.name, err))
	}
	h, err := r.peel(got.Hash(), "HEAD")
	return h, "", err
}

// peel follows annotated tags from h to a commit.
func (r *Repository) peel(h plumbing.Hash, ref string) (plumbing.Hash, error) {
	for range 10 {
		obj, err := r.repo.Storer.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return plumbing.ZeroHash, r.storeErr(fmt.Errorf("%s in %s points to %s, which is missing from the object store: %w", ref, r.name, h, err))
			}
			return plumbing.ZeroHash, r.storeErr(fmt.Errorf("reading %s of %s: %w", h, r.name, err))
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			tag, err := object.DecodeTag(r.repo.Storer, obj)
			if err != nil {
				return plumbing.ZeroHash, r.storeErr(fmt.Errorf("reading tag %s of %s: %w", ref, r.name, err))
			}
			h = tag.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s in %s is a %s, not a commit", ref, r.name, obj.Type())
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%s in %s: too many nested tags", ref, r.name)
}

// commitsWithPrefix returns the commits whose sha starts with the lower-case
// hex prefix.
func (r *Repository) commitsWithPrefix(prefix string) ([]plumbing.Hash, error) {
	type prefixer interface {
		HashesWithPrefix(prefix []byte) ([]plumbing.Hash, error)
	}
	p, ok := r.repo.Storer.(prefixer)
	if !ok {
		return nil, nil
	}
	b, err := hex.DecodeString(prefix[:len(prefix)&^1])
	if err != nil {
		return nil, nil
	}
	hashes, err := p.HashesWithPrefix(b)
	if err != nil {
		return nil, r.storeErr(fmt.Errorf("looking up the short sha %s in %s: %w", prefix, r.name, err))
	}
	var commits []plumbing.Hash
	for _, h := range hashes {
		if !strings.HasPrefix(h.String(), prefix) {
			continue // the odd last digit
		}
		obj, err := r.repo.Storer.EncodedObject(plumbing.AnyObject, h)
		if err == nil && obj.Type() == plumbing.CommitObject {
			commits = append(commits, h)
		}
	}
	return commits, nil
}

// notFound says that ref is not in the repository and which branches are.
func (r *Repository) notFound(ref, what string) error {
	where := ""
	if r.remote != nil {
		where = " (as last fetched)"
	}
	return &refNotFoundError{fmt.Sprintf("ref %q not found in %s%s: no %s has that name%s", ref, r.name, where, what, r.branchHint())}
}

// refNotFoundError is a ref not found; it matches ErrRefNotFound.
type refNotFoundError struct{ msg string }

func (e *refNotFoundError) Error() string { return e.msg }
func (e *refNotFoundError) Unwrap() error { return ErrRefNotFound }

// branchHint lists a few branches, for errors.
func (r *Repository) branchHint() string {
	const few = 8
	var local, tracking []string
	refs, err := r.repo.Storer.IterReferences()
	if err != nil {
		return ""
	}
	_ = refs.ForEach(func(ref *plumbing.Reference) error {
		switch n := ref.Name(); {
		case n.IsBranch():
			local = append(local, n.Short())
		case n.IsRemote() && !strings.HasSuffix(string(n), "/HEAD"):
			tracking = append(tracking, n.Short())
		}
		return nil
	})
	names := append(local, tracking...)
	if len(names) == 0 {
		return " (the repository has no branches)"
	}
	sort.Strings(names[:len(local)])
	sort.Strings(names[len(local):])
	more := ""
	if len(names) > few {
		more = fmt.Sprintf(" and %d more", len(names)-few)
		names = names[:few]
	}
	return " (branches: " + strings.Join(names, ", ") + more + ")"
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

func joinHashes(hs []plumbing.Hash) string {
	s := make([]string, 0, len(hs))
	for _, h := range hs {
		s = append(s, h.String()[:12])
	}
	sort.Strings(s)
	if len(s) > 5 {
		s = append(s[:5], fmt.Sprintf("%d more", len(hs)-5))
	}
	if len(s) == 2 {
		return s[0] + " and " + s[1]
	}
	return strings.Join(s, ", ")
}
