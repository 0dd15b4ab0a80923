package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageauto"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/images"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/registry"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// ImagesRequest says which workloads' images to scan, and with Update,
// what to release.
type ImagesRequest struct {
	// Workloads narrows the scan to these; for an update, it makes a manual
	// release of them, which also moves workloads that are not automated.
	Workloads []workload.ID
	// Images, for an update, releases exactly these repository:tag.
	Images []imageref.Ref
	// Force releases to named workloads even when they are locked.
	Force bool
	// Insecure names registries spoken to in plain HTTP.
	Insecure []string
	// DryRun, for an update, computes the edit and commits nothing.
	DryRun bool
	// Message is the commit message's subject; Author its author ("" for
	// git's own user.name and user.email).
	Message string
	Author  string
	// Automation names the Flux v2 ImageUpdateAutomation to follow
	// (namespace/name or name) when the repository holds several.
	Automation string
	// PushBranch, for an update, pushes the commit to this review branch
	// instead of the checkout branch; when PushBranchNamed is false, the
	// automation's spec.git.push.branch is used.
	PushBranch      string
	PushBranchNamed bool
}

// ImagesScan is what the registries say of the workloads' images.
type ImagesScan struct {
	Checkout   *Checkout
	Containers []images.Container
	// Err joins the errors of containers that could not be scanned, once
	// each.
	Err error
	// Flux is the repository's Flux v2 image automation: its markers and
	// what their policies chose. Flux.Err is joined into Err.
	Flux *images.Flux

	workloads []images.Found
	reg       *registry.Client
}

// ImagesUpdate is the outcome of an update.
type ImagesUpdate struct {
	*ImagesScan
	Changes []images.Change
	// MarkerChanges are the Flux v2 setter markers moved.
	MarkerChanges []images.MarkerChange
	// Automation is the ImageUpdateAutomation followed, nil without one.
	Automation *imageauto.ImageUpdateAutomation
	// Skipped says which images the update would have moved but left
	// alone, because no updater can move them.
	Skipped []string
	// Files is the new content of the files an update changes, with
	// DryRun; nothing was committed then.
	Files map[string][]byte
	// Commit is what was committed; Revision is "" when nothing changed.
	Commit source.CommitResult
}

// ScanImages finds the workloads of the source's commit and asks the
// registries for their images' tags; the newest tag each container's
// policy allows is marked. The cluster, when reachable, adds what runs and
// its image pull secrets. Containers that cannot be scanned keep their
// place in the result, and Err says why.
func (s *Session) ScanImages(ctx context.Context, req ImagesRequest) (*ImagesScan, error) {
	co, err := s.Checkout(ctx)
	if err != nil {
		return nil, err
	}
	tree := s.tree(co.Snapshot, co.Source.Repo, co.Dir, s.Namespace())
	found, cfg, err := tree.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("revision %.12s: %w", co.Snapshot.Revision, err)
	}
	ids := req.Workloads
	if len(ids) == 0 {
		for _, w := range found {
			ids = append(ids, w.ID)
		}
	}
	live, pullSecrets := s.readLive(ctx, ids)
	reg, err := registry.New(registry.Config{Insecure: req.Insecure, PullSecrets: pullSecrets})
	if err != nil {
		return nil, err
	}
	containers, err := images.ScanWorkloads(ctx, found, reg, req.Workloads)
	if err != nil {
		return nil, fmt.Errorf("revision %.12s: %w", co.Snapshot.Revision, err)
	}
	if live != nil {
		for i := range containers {
			c := &containers[i]
			c.Running = live.Images[c.Workload.String()+"/"+c.Name]
		}
	}
	scan := &ImagesScan{Checkout: co, Containers: containers, Err: scanErrors(containers), workloads: found, reg: reg}
	if manualRelease(req) {
		cfg = nil // a release names workloads or images, not markers
	}
	if scan.Flux, err = images.ScanFlux(ctx, co.Snapshot.FS, co.Dir, cfg, reg); err != nil {
		return nil, fmt.Errorf("revision %.12s: %w", co.Snapshot.Revision, err)
	}
	scan.Err = errors.Join(scan.Err, scan.Flux.Err)
	return scan, nil
}

func manualRelease(req ImagesRequest) bool { return len(req.Workloads) > 0 || len(req.Images) > 0 }

// withoutImageConfig leaves out of what sync applies the Flux v2 image
// automation objects (ImageRepository, ImagePolicy,
// ImageUpdateAutomation): images reads them as its configuration, and
// no controller in the cluster is to act on them.
func withoutImageConfig(objs []render.Object) []render.Object {
	return slices.DeleteFunc(slices.Clone(objs), func(o render.Object) bool { return imageauto.IsImageObject(o.Object) })
}

// liveTimeout bounds how long a scan waits for a cluster it can do without.
const liveTimeout = 10 * time.Second

// readLive reads the running images of the workloads and the image pull
// secrets; a cluster that cannot be reached is noted once and otherwise
// ignored.
func (s *Session) readLive(ctx context.Context, ids []workload.ID) (*images.Live, []corev1.Secret) {
	kube, err := s.factory.KubernetesClientSet()
	if err != nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	live, err := images.ReadLive(ctx, kube, ids)
	if err != nil {
		s.warn("note: not showing running images: %v", err)
		return nil, nil
	}
	return &live, live.PullSecrets
}

func (s *Session) warn(format string, args ...any) {
	if s.opts.Warnings != nil {
		fmt.Fprintf(s.opts.Warnings, format+"\n", args...)
	}
}

// tree is what the image and policy use cases read of a commit: the
// manifests under dir, and the generators of a .gitops.yaml when allowed.
func (s *Session) tree(snap *source.Snapshot, repo, dir, namespace string) images.Tree {
	opts := s.renderOptions(snap, repo, namespace, true)
	return images.Tree{FS: snap.FS, Dir: dir, Namespace: namespace, Generate: opts.Generate, Render: opts}
}

func scanErrors(containers []images.Container) error {
	var errs []error
	seen := map[string]bool{}
	for _, c := range containers {
		if c.Error != "" && !seen[c.Error] {
			seen[c.Error] = true
			errs = append(errs, errors.New(c.Error))
		}
	}
	return errors.Join(errs...)
}

// UpdateImages writes the newest allowed tags of the automated, unlocked
// workloads into git (or, with named workloads or images, releases them),
// changing only the bytes of the images; commits, and pushes a remote. When
// the branch moved meanwhile, the edit is made again on the new head, with
// a new scan of what it holds. Nothing is committed when any image could
// not be scanned, or when the edit does not verify.
func (s *Session) UpdateImages(ctx context.Context, req ImagesRequest) (*ImagesUpdate, error) {
	scan, err := s.ScanImages(ctx, req)
	if err != nil {
		return nil, err
	}
	up := &ImagesUpdate{ImagesScan: scan}
	if scan.Err != nil {
		return up, fmt.Errorf("%w\nnothing was committed", scan.Err)
	}
	manual := manualRelease(req)
	if up.Automation, err = scan.Flux.Automation(req.Automation); err != nil {
		return up, err
	}
	up.Skipped = skipped(scan.Containers, req)
	opts := images.UpdateOptions{Workloads: req.Workloads, Images: req.Images, Force: req.Force}
	co := scan.Checkout
	edit := func(snap *source.Snapshot) (*source.Change, error) {
		containers, workloads, flux := scan.Containers, scan.workloads, scan.Flux
		tree := s.tree(snap, co.Source.Repo, co.Dir, s.Namespace())
		if snap.Revision != co.Snapshot.Revision {
			// The branch moved: what it holds now is scanned again.
			var cfg *imageauto.Config
			if workloads, cfg, err = tree.Read(ctx); err != nil {
				return nil, err
			}
			if containers, err = images.ScanWorkloads(ctx, workloads, scan.reg, req.Workloads); err != nil {
				return nil, err
			}
			if err := scanErrors(containers); err != nil {
				return nil, err
			}
			if manual {
				cfg = nil
			}
			if flux, err = images.ScanFlux(ctx, snap.FS, co.Dir, cfg, scan.reg); err != nil {
				return nil, err
			}
			if flux.Err != nil {
				return nil, flux.Err
			}
		}
		up.Changes, up.MarkerChanges = nil, nil
		changes, err := images.Plan(ctx, containers, scan.reg, opts)
		if err != nil {
			return nil, err
		}
		files := map[string][]byte{}
		if len(changes) > 0 {
			if files, err = images.EditTree(ctx, tree, workloads, changes); err != nil {
				return nil, err
			}
		}
		marked, err := flux.EditMarkers(ctx, snap.FS, files, scan.reg, up.Automation)
		if err != nil {
			return nil, err
		}
		if len(changes) == 0 && len(marked) == 0 {
			return nil, nil
		}
		up.Changes, up.MarkerChanges = changes, marked
		msg, err := updateMessage(up.Automation, changes, marked, manual, req.Message)
		if err != nil {
			return nil, err
		}
		return &source.Change{Files: files, Message: msg}, nil
	}
	if req.DryRun {
		change, err := edit(co.Snapshot)
		if err != nil {
			return up, err
		}
		if change != nil {
			up.Files = change.Files
		}
		return up, nil
	}
	author, err := imagesAuthor(co.Repository, req.Author, up.Automation)
	if err != nil {
		return up, err
	}
	ref, err := s.checkoutBranch(co, up.Automation)
	if err != nil {
		return up, err
	}
	review := req.PushBranch
	if !req.PushBranchNamed && up.Automation != nil {
		review = up.Automation.PushBranch
	}
	var res *source.CommitResult
	if review != "" {
		res, err = co.Repository.UpdateReview(ctx, ref, review, author, edit)
	} else {
		res, err = co.Repository.Update(ctx, ref, author, edit)
	}
	if err != nil {
		return up, err
	}
	up.Commit = *res
	if res.Revision == "" {
		up.Changes, up.MarkerChanges = nil, nil
	}
	return up, nil
}

// updateMessage is the commit message of an update: with marker changes,
// the automation's messageTemplate (Flux's default without one), followed
// by the lines of the workloads' changes; else images.Message. A subject
// given with -m replaces the template's message.
func updateMessage(a *imageauto.ImageUpdateAutomation, changes []images.Change, marked []images.MarkerChange, manual bool, subject string) (string, error) {
	if len(marked) == 0 {
		return images.Message(changes, manual, subject), nil
	}
	var msg string
	if subject != "" {
		lines := make([]string, len(marked))
		for i, c := range marked {
			lines[i] = c.Describe()
		}
		msg = subject + "\n\n" + strings.Join(lines, "\n") + "\n"
	} else {
		var err error
		if msg, err = images.FluxMessage(a, marked); err != nil {
			return "", err
		}
	}
	if len(changes) > 0 {
		msg += "\n" + images.Message(changes, manual, "Workloads:")
	}
	return msg, nil
}

// imagesAuthor is the author of an update's commit: --author, else the
// automation's spec.git.commit.author, else git's user.name and
// user.email.
func imagesAuthor(repo *source.Repository, flag string, a *imageauto.ImageUpdateAutomation) (source.Author, error) {
	if flag == "" && a != nil {
		author := source.Author{Name: a.AuthorName, Email: a.AuthorEmail}
		if author.Name == "" {
			author.Name = a.AuthorEmail
		}
		return author, nil
	}
	return Author(repo, flag)
}

// checkoutBranch is the branch an update commits to: --ref when given,
// else the automation's git.checkout.ref.branch, else the branch read.
func (s *Session) checkoutBranch(co *Checkout, a *imageauto.ImageUpdateAutomation) (string, error) {
	if a == nil || a.Checkout == nil || s.opts.Named.Ref {
		return co.Snapshot.Ref, nil
	}
	if a.Checkout.Branch == "" {
		return "", fmt.Errorf("%s %s: spec.git.checkout.ref names no branch, and an update commits to a branch: set spec.git.checkout.ref.branch, or pass --ref BRANCH", imageauto.KindImageUpdateAutomation, a.ObjectRef)
	}
	return a.Checkout.Branch, nil
}

// skipped says which images an update would have moved but leaves alone,
// because nothing can move them: a generated workload without an updater,
// an image set by a kustomize patch.
func skipped(containers []images.Container, req ImagesRequest) []string {
	var out []string
	for _, c := range containers {
		if c.Note == "" || c.Locked {
			continue
		}
		considered := c.Automated
		switch ref, _ := imageref.Parse(c.Image); {
		case len(req.Workloads) > 0:
			considered = slices.Contains(req.Workloads, c.Workload)
		case len(req.Images) > 0:
			considered = slices.ContainsFunc(req.Images, func(r imageref.Ref) bool { return r.Repo == ref.Repo })
		}
		if considered {
			out = append(out, fmt.Sprintf("skipped %s container %s: %s", c.Workload, c.Name, c.Note))
		}
	}
	return out
}

// Author returns the commit author: flag, "Name <email>", when given, else
// git's user.name and user.email.
func Author(repo *source.Repository, flag string) (source.Author, error) {
	if flag == "" {
		return source.DefaultAuthor(repo.Name())
	}
	author, err := source.ParseAuthor(flag)
	if err != nil {
		return source.Author{}, fmt.Errorf("--author: %w", err)
	}
	return author, nil
}
