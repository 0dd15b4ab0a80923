package images

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/imagepolicy"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/registry"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/setters"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// UpdateOptions say which images to move.
type UpdateOptions struct {
	// Workloads, when set, is a manual release: these workloads are
	// updated whether automated or not. Otherwise, automated workloads are.
	Workloads []workload.ID
	// Images releases exactly these repo:tag images, to Workloads or, when
	// none is named, to every workload using the repository, whatever the
	// tag filters say.
	Images []imageref.Ref
	// Force updates locked workloads that are named.
	Force bool
}

// Change is one image moved in one container.
type Change struct {
	Workload  workload.ID `json:"workload"`
	Container string      `json:"container"`
	File      string      `json:"file,omitempty"`
	From      string      `json:"from"`
	To        string      `json:"to"`
	// Generated says that the workload is made by a generator, and the
	// change is made by the updaters of its config, not in File.
	Generated bool `json:"generated,omitempty"`
}

// Describe says what the change does, as in the commit message:
// "repo 1.0.0 -> 1.2.0 (ns:kind/name)".
func (c Change) Describe() string {
	from, _ := imageref.Parse(c.From)
	to, _ := imageref.Parse(c.To)
	return fmt.Sprintf("%s %s -> %s (%s)", from.Repo, tagOrDigest(from), tagOrDigest(to), c.Workload)
}

func tagOrDigest(r imageref.Ref) string {
	if r.Tag != "" {
		return r.Tag
	}
	return r.Digest
}

// Plan decides the changes from a scan. Locked workloads are never moved,
// unless named and forced; a locked workload named without force is an
// error. Automated updates only move forward.
func Plan(ctx context.Context, containers []Container, reg *registry.Client, opts UpdateOptions) ([]Change, error) {
	var changes []Change
	var errs []error
	named := func(id workload.ID) bool { return slices.Contains(opts.Workloads, id) }
	refused := map[workload.ID]bool{}
	for _, c := range containers {
		manual := len(opts.Workloads) > 0 || len(opts.Images) > 0
		if len(opts.Workloads) > 0 && !named(c.Workload) {
			continue
		}
		if c.Locked && !(opts.Force && named(c.Workload)) {
			if named(c.Workload) && !refused[c.Workload] {
				refused[c.Workload] = true
				errs = append(errs, fmt.Errorf("%s is locked%s: unlock it, or pass --force to release it anyway", c.Workload, lockReason(c)))
			}
			continue
		}
		if !manual && !c.Automated {
			continue
		}
		if c.Note != "" {
			continue
		}
		var to imageref.Ref
		var ok bool
		var err error
		if len(opts.Images) > 0 {
			to, ok, err = c.release(ctx, reg, opts.Images)
		} else {
			if c.Error != "" {
				errs = append(errs, errors.New(c.Error))
				continue
			}
			to, ok, err = c.newest(ctx, reg, manual)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok && to.String() != c.Image {
			ch := Change{Workload: c.Workload, Container: c.Name, From: c.Image, To: to.String(), Generated: c.Generated}
			if !c.Generated {
				ch.File = c.target.file
			}
			changes = append(changes, ch)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return changes, nil
}

func lockReason(c Container) string {
	var parts []string
	if c.LockedUser != "" {
		parts = append(parts, "by "+c.LockedUser)
	}
	if c.LockedMsg != "" {
		parts = append(parts, fmt.Sprintf("%q", c.LockedMsg))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ": ") + ")"
}

// newest returns the container's image moved to the newest allowed tag, if
// that is newer than the one in git (or, for a manual release, different).
func (c *Container) newest(ctx context.Context, reg *registry.Client, manual bool) (imageref.Ref, bool, error) {
	if c.Latest == "" {
		return imageref.Ref{}, false, nil
	}
	if c.Latest == c.ref.Tag {
		if !c.pinDigest {
			return imageref.Ref{}, false, nil
		}
		// The same tag: pinned anew when it was pushed again with other
		// content (or pinned for the first time).
		to, ok, err := c.retag(ctx, reg, c.Latest)
		return to, ok && to.Digest != c.ref.Digest, err
	}
	if !manual && !c.isNewer(c.Latest) {
		return imageref.Ref{}, false, nil
	}
	return c.retag(ctx, reg, c.Latest)
}

// release returns the container's image at the released tag, if one of the
// released images is of its repository.
func (c *Container) release(ctx context.Context, reg *registry.Client, images []imageref.Ref) (imageref.Ref, bool, error) {
	for _, img := range images {
		if img.Repo != c.ref.Repo {
			continue
		}
		if !slices.ContainsFunc(c.Tags, func(t Tag) bool { return t.Name == img.Tag }) {
			tags, err := reg.Tags(ctx, img.Repo)
			if err != nil {
				return imageref.Ref{}, false, err
			}
			if !slices.Contains(tags, img.Tag) {
				return imageref.Ref{}, false, fmt.Errorf("image %s: the registry has no tag %q", img.Repo, img.Tag)
			}
		}
		return c.retag(ctx, reg, img.Tag)
	}
	return imageref.Ref{}, false, nil
}

// retag moves the reference to tag, keeping a digest pin (or making one,
// for a container whose digest annotation says pin) by pinning the digest
// the tag points at now, asked of the registry rather than its cache.
func (c *Container) retag(ctx context.Context, reg *registry.Client, tag string) (imageref.Ref, bool, error) {
	to := imageref.Ref{Repo: c.ref.Repo, Tag: tag}
	if c.ref.Digest != "" || c.pinDigest {
		d, err := reg.CurrentDigest(ctx, c.ref.Repo, tag)
		if err != nil {
			return imageref.Ref{}, false, err
		}
		to.Digest = d
	}
	return to, true, nil
}

// isNewer says whether tag is newer than the tag in git: by the policy's
// own order for semver, alphabetical and numerical policies (on the value
// a filter extracts, when it has one), by creation time for glob and regex
// ones. A tag in git that the policy does not allow, or whose age is
// unknown, is always moved.
func (c *Container) isNewer(tag string) bool {
	if cmp, ok := c.pattern.Compare(tag, c.ref.Tag); ok {
		return cmp > 0
	}
	switch c.pattern.Kind() {
	case imagepolicy.Semver:
		// A version in git outside the range is not moved back.
		cur, err1 := semver.NewVersion(c.ref.Tag)
		next, err2 := semver.NewVersion(tag)
		return err1 != nil || err2 != nil || next.GreaterThan(cur)
	case imagepolicy.Alphabetical, imagepolicy.Numerical:
		return true // the tag in git is not one the policy orders
	}
	cur, ok1 := c.created[c.ref.Tag]
	next, ok2 := c.created[tag]
	if !ok1 || !ok2 || cur.IsZero() {
		return true
	}
	return next.After(cur)
}

// Edit applies the changes to the workloads in the files of a tree (no
// generated ones) and returns the new contents of the files that changed;
// see EditTree, which it is for a tree without generators.
func Edit(fsys fs.FS, dir, defaultNamespace string, changes []Change) (map[string][]byte, error) {
	ctx := context.Background()
	t := Tree{FS: fsys, Dir: dir, Namespace: defaultNamespace}
	before, err := t.Workloads(ctx)
	if err != nil {
		return nil, err
	}
	return EditTree(ctx, t, before, changes)
}

// editFiles makes the changes, of workloads of before that are not
// generated, in the files of fsys, and returns the new content of the
// files that changed. Each image is edited where its target says.
func editFiles(fsys fs.FS, before []Found, changes []Change) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, ch := range changes {
		seen, edited := false, false
		var names []string
		for _, w := range before {
			if w.Generated || w.ID != ch.Workload {
				continue
			}
			seen = true
			for i, c := range w.Containers {
				names = append(names, c.Name)
				if c.Name != ch.Container || c.Image != ch.From {
					continue
				}
				if i >= len(w.targets) || w.targets[i].note != "" {
					why := w.Note
					if i < len(w.targets) {
						why = w.targets[i].note
					}
					return nil, fmt.Errorf("%s (%s) container %s: %s", w.ID, w.Origin, c.Name, why)
				}
				t := w.targets[i]
				src, ok := files[t.file]
				if !ok {
					var err error
					if src, err = fs.ReadFile(fsys, t.file); err != nil {
						return nil, err
					}
				}
				out, err := setImage(src, w, c.Name, t, ch.To)
				if err != nil {
					return nil, err
				}
				files[t.file] = out
				edited = true
			}
		}
		switch {
		case !seen:
			return nil, fmt.Errorf("workload %s is no longer in the repository", ch.Workload)
		case !edited:
			return nil, fmt.Errorf("%s has no container %q with image %s: it has %s", ch.Workload, ch.Container, ch.From, strings.Join(names, ", "))
		}
	}
	return files, nil
}

// setImage sets the image of container of w to image in src, the content
// of t.file: in the workload's file, only the tag and digest change, the
// repository staying as that file writes it; in an images entry of a
// kustomization, newTag and digest are set (a digest is removed when the
// image has none), in the entry's own style.
func setImage(src []byte, w Found, container string, t target, image string) ([]byte, error) {
	to, err := imageref.Parse(image)
	if err != nil {
		return src, err
	}
	if t.entry == nil {
		if t.repo != "" {
			image = imageref.Ref{Repo: t.repo, Tag: to.Tag, Digest: to.Digest}.String()
		}
		return workload.SetImage(src, w.Workload, container, image)
	}
	var edits []setters.Edit
	for _, f := range []struct{ field, value string }{{"newTag", to.Tag}, {"digest", to.Digest}} {
		at := setters.Target{Path: append(slices.Clip(t.entry), f.field)}
		if f.value != "" {
			edits = append(edits, setters.Edit{Target: at, Value: f.value})
		} else if _, ok, _ := setters.Lookup(src, at); ok {
			edits = append(edits, setters.Edit{Target: at, Delete: true})
		}
	}
	out, err := setters.Apply(src, edits...)
	if err != nil {
		return src, fmt.Errorf("%s: %s container %s: %w", t.file, w.ID, container, err)
	}
	return out, nil
}

// Message is the commit message for the changes: Flux v1's "Auto-release"
// subject for automation, "Release" for a manual release, or the given
// subject, then one line per change.
func Message(changes []Change, manual bool, subject string) string {
	if subject == "" {
		verb := "Auto-release"
		if manual {
			verb = "Release"
		}
		imgs := map[string]bool{}
		for _, c := range changes {
			imgs[c.To] = true
		}
		if len(imgs) == 1 {
			subject = verb + " " + changes[0].To
		} else {
			subject = fmt.Sprintf("%s multiple (%d) images", verb, len(imgs))
		}
	}
	lines := make([]string, len(changes))
	for i, c := range changes {
		lines[i] = c.Describe()
	}
	sort.Strings(lines)
	return subject + "\n\n" + strings.Join(lines, "\n") + "\n"
}
