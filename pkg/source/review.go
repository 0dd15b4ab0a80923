package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ReviewTrailer is the git trailer that UpdateReview writes in the commit
// of a review branch, naming the branch it was made on:
// "Kubectl-Gitops-Review: main". It is how a later run knows that it made
// the branch, and may replace its commit.
const ReviewTrailer = "Kubectl-Gitops-Review"

// UpdateReview is Update for review: the change that edit computes on the
// head of branch ref is committed on that head, but pushed to the branch
// review of the remote repository instead, for the forge to open a pull
// request from. ref itself is never pushed to.
//
// review is created when the remote lacks it. When it exists, it is
// replaced by the new commit (the change made again on the head of ref,
// which rebases it) only when kubectl gitops made it: its head commit
// carries ReviewTrailer naming ref, and that commit's parent is on ref's
// history, so that the branch holds no commit but the plugin's. Any other
// branch of that name is refused, and nothing is pushed. The push is a
// compare-and-swap on the head seen: a branch that moved meanwhile is read
// again, up to 3 attempts.
//
// When review already holds the same change on the same head, nothing is
// pushed, and the result names its head. A local repository is an error:
// there is no remote to review on.
func (r *Repository) UpdateReview(ctx context.Context, ref, review string, author Author, edit EditFunc) (*CommitResult, error) {
	if err := author.validate(); err != nil {
		return nil, err
	}
	if edit == nil {
		return nil, errors.New("update: no edit function given")
	}
	if r.remote == nil {
		return nil, fmt.Errorf("a review branch (%s) is pushed to a remote repository, and %s is local: commit to it without a review branch, or give the remote's URL as --repo", review, r.name)
	}
	reviewRef := plumbing.NewBranchReferenceName(review)
	if strings.HasPrefix(review, "refs/") || strings.HasPrefix(review, "-") || reviewRef.Validate() != nil {
		return nil, fmt.Errorf("review branch %q is not a valid branch name", review)
	}
	auth, branch, done, err := r.beginPush(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer done()
	if branch == reviewRef {
		return nil, fmt.Errorf("the review branch %s is the branch the change is made on: name another branch for review", review)
	}
	res := &CommitResult{Branch: review}
	for {
		res.Attempts++
		head, err := r.branchHead(branch)
		if err != nil {
			return nil, err
		}
		res.Parent = head.String()
		p, err := r.prepare(branch, head, edit)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return res, nil // nothing to change
		}
		p.change.Message = withReviewTrailer(p.change.Message, branch.Short())

		r.store.mu.Lock()
		old, err := r.ownedReview(reviewRef, branch, head)
		var commit plumbing.Hash
		var objects []plumbing.Hash
		same := false
		if err == nil {
			commit, objects, err = r.writeCommit(p, author, time.Now())
		}
		if err == nil && !old.IsZero() {
			same, err = r.sameCommit(old, commit)
		}
		if err == nil && !same {
			err = r.push(ctx, auth, reviewRef, old, commit, objects)
		}
		r.store.mu.Unlock()
		if same {
			res.Revision, res.Pushed, res.Change = old.String(), true, p.change
			return res, nil
		}
		var rejected *pushRejected
		if err != nil && !errors.As(err, &rejected) {
			return nil, err
		}
		if err != nil {
			if res.Attempts >= maxPushAttempts {
				return nil, fmt.Errorf("pushing %s to %s of %s was refused %d times (%s): run again", commit.String()[:12], review, r.name, res.Attempts, rejected.reason)
			}
			if err := r.refresh(ctx, auth); err != nil {
				return nil, err
			}
			continue
		}
		r.store.mu.Lock()
		err = r.repo.Storer.SetReference(plumbing.NewHashReference(reviewRef, commit))
		r.store.mu.Unlock()
		if err != nil {
			return nil, corruptCacheErr(r.dir, fmt.Errorf("pushed %s to %s of %s, but recording it in the cached clone failed: %w", commit, review, r.name, err))
		}
		res.Revision, res.Pushed, res.Change = commit.String(), true, p.change
		return res, nil
	}
}

// withReviewTrailer ends message with the trailer naming base.
func withReviewTrailer(message, base string) string {
	return strings.TrimRight(message, "\n") + "\n\n" + ReviewTrailer + ": " + base + "\n"
}

// ownedReview returns the head of the review branch as last fetched, or
// the zero hash when the remote has no such branch. A branch that the
// plugin did not make, or that holds other commits than its one commit on
// base's history, is an error. The caller holds r.store.mu.
func (r *Repository) ownedReview(review, base plumbing.ReferenceName, baseHead plumbing.Hash) (plumbing.Hash, error) {
	ref, err := r.repo.Storer.Reference(review)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, r.storeErr(fmt.Errorf("reading %s of %s: %w", review, r.name, err))
	}
	refuse := func(why string) error {
		return fmt.Errorf("branch %s of %s exists and %s, so kubectl gitops did not make it alone: nothing was pushed; delete the branch, or name another review branch", review.Short(), r.name, why)
	}
	c, err := object.GetCommit(r.repo.Storer, ref.Hash())
	if err != nil {
		return plumbing.ZeroHash, refuse(fmt.Sprintf("its head %s is not a commit", ref.Hash()))
	}
	if !hasTrailer(c.Message, ReviewTrailer+": "+base.Short()) {
		return plumbing.ZeroHash, refuse(fmt.Sprintf("its head %s has no %q trailer", c.Hash.String()[:12], ReviewTrailer+": "+base.Short()))
	}
	if len(c.ParentHashes) != 1 {
		return plumbing.ZeroHash, refuse(fmt.Sprintf("its head %s is a merge", c.Hash.String()[:12]))
	}
	if parent := c.ParentHashes[0]; parent != baseHead {
		pc, err1 := object.GetCommit(r.repo.Storer, parent)
		bc, err2 := object.GetCommit(r.repo.Storer, baseHead)
		if err1 != nil || err2 != nil {
			return plumbing.ZeroHash, refuse(fmt.Sprintf("the parent of its head %s cannot be read", c.Hash.String()[:12]))
		}
		if ok, err := pc.IsAncestor(bc); err != nil || !ok {
			return plumbing.ZeroHash, refuse(fmt.Sprintf("the parent of its head %s is not on %s", c.Hash.String()[:12], base.Short()))
		}
	}
	return c.Hash, nil
}

// hasTrailer says whether message's last paragraph holds the line.
func hasTrailer(message, line string) bool {
	paras := strings.Split(strings.TrimRight(message, "\n"), "\n\n")
	for _, l := range strings.Split(paras[len(paras)-1], "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// sameCommit says whether commits a and b have the same parents, tree and
// message: the review branch already holds the change. The caller holds
// r.store.mu.
func (r *Repository) sameCommit(a, b plumbing.Hash) (bool, error) {
	ca, err := object.GetCommit(r.repo.Storer, a)
	if err != nil {
		return false, r.storeErr(err)
	}
	cb, err := object.GetCommit(r.repo.Storer, b)
	if err != nil {
		return false, r.storeErr(err)
	}
	return ca.TreeHash == cb.TreeHash && ca.Message == cb.Message && len(ca.ParentHashes) == 1 && len(cb.ParentHashes) == 1 && ca.ParentHashes[0] == cb.ParentHashes[0], nil
}
