package source

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// packWindow is the number of objects a pushed pack looks back at for
// deltas, as git's pack.window.
const packWindow = 10

// refresh fetches the remote into the cached clone. The caller holds the
// clone's lock.
func (r *Repository) refresh(ctx context.Context, auth *authMethod) error {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	return r.update(ctx, auth)
}

// pushRejected is a push the remote refused: its branch moved, or a rule
// or a hook forbids the update. reason is the remote's, on one line.
type pushRejected struct{ reason string }

func (e *pushRejected) Error() string { return "the push was refused: " + e.reason }

// push asks the remote to move branch from parent to commit, sending
// objects, the objects the commit adds, as one pack. A zero parent creates
// the branch, which must not exist.
//
// It is a compare-and-swap, never a force push: nothing is sent when the
// remote's branch is not at parent, and the remote itself refuses the
// update if the branch moved in between. go-git's Push, even with
// PushOptions.RequireRemoteRefs for that check, is not used: it finds the
// objects to send by walking every object reachable from the remote's refs
// (revlist.Objects), the whole history, where objects is already known.
//
// The caller holds r.store.mu.
func (r *Repository) push(ctx context.Context, auth *authMethod, branch plumbing.ReferenceName, parent, commit plumbing.Hash, objects []plumbing.Hash) error {
	ep, err := transport.NewEndpoint(r.remote.gitURL)
	if err != nil {
		return fmt.Errorf("pushing to %s: %w", r.name, err)
	}
	ep.InsecureSkipTLS = r.spec.Auth.InsecureSkipTLSVerify
	ep.CaBundle = r.spec.Auth.CABundle
	c, err := client.NewClient(ep)
	if err != nil {
		return fmt.Errorf("pushing to %s: %w", r.name, err)
	}
	sess, err := c.NewReceivePackSession(ep, auth.method)
	if err != nil {
		return pushErr(r.remote, auth, err)
	}
	defer func() { _ = sess.Close() }()

	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return pushErr(r.remote, auth, err)
	}
	refs, err := adv.AllReferences()
	if err != nil {
		return pushErr(r.remote, auth, err)
	}
	cur, err := refs.Reference(branch)
	switch {
	case parent.IsZero() && err == nil: // creating the branch
		return &pushRejected{reason: "the branch exists"}
	case !parent.IsZero() && (err != nil || cur.Hash() != parent):
		return &pushRejected{reason: "the branch moved"}
	}

	req := packp.NewReferenceUpdateRequestFromCapabilities(adv.Capabilities)
	req.Commands = []*packp.Command{{Name: branch, Old: parent, New: commit}}
	rd, wr := io.Pipe()
	req.Packfile = rd
	packed := make(chan error, 1)
	go func() {
		enc := packfile.NewEncoder(wr, r.repo.Storer, !adv.Capabilities.Supports(capability.OFSDelta))
		_, err := enc.Encode(objects, packWindow)
		_ = wr.CloseWithError(err)
		packed <- err
	}()
	status, err := sess.ReceivePack(ctx, req)
	_ = rd.Close() // unblocks the encoder if the remote stopped reading
	packErr := <-packed
	if status != nil {
		if serr := status.Error(); serr != nil {
			return &pushRejected{reason: oneLine(serr.Error())}
		}
	}
	if err != nil {
		return pushErr(r.remote, auth, err)
	}
	if packErr != nil {
		return fmt.Errorf("pushing to %s: packing the commit: %w", r.name, packErr)
	}
	return nil
}

// pushErr explains a failure to push, as transportErr does for fetches.
func pushErr(u *remoteURL, auth *authMethod, err error) error {
	if errors.Is(err, transport.ErrAuthorizationFailed) {
		return &remoteErr{err: err, msg: fmt.Sprintf("pushing to %s: %s (sent %s): check that these credentials may push to the repository", u.redacted, oneLine(err.Error()), auth.describe)}
	}
	return transportErr(u, auth, err)
}
