package images

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/annotations"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imagepolicy"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/registry"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// Container is one container of a workload in git, with what the registry
// says about its image.
type Container struct {
	Workload   workload.ID `json:"workload"`
	Origin     string      `json:"origin"`
	Name       string      `json:"container"`
	Init       bool        `json:"init,omitempty"`
	Image      string      `json:"image"`
	Policy     string      `json:"policy"`
	Automated  bool        `json:"automated"`
	Locked     bool        `json:"locked"`
	LockedUser string      `json:"lockedUser,omitempty"`
	LockedMsg  string      `json:"lockedMessage,omitempty"`
	// Running is the image the cluster runs for this container, when known.
	Running string `json:"running,omitempty"`
	// Latest is the newest tag the policy allows.
	Latest string `json:"latest,omitempty"`
	// Tags are the tags the policy allows, newest first.
	Tags []Tag `json:"tags,omitempty"`
	// Skipped says which tags a numerical policy could not order (they
	// are left out; the others are still ordered).
	Skipped string `json:"skipped,omitempty"`
	// Error says why the image could not be scanned.
	Error string `json:"error,omitempty"`
	// Note says why the image is left alone, such as a digest-only reference.
	Note string `json:"note,omitempty"`
	// Generated says that a generator made the workload (Origin names
	// it): its images are moved by the updaters its config declares.
	Generated bool `json:"generated,omitempty"`

	ref    imageref.Ref
	pinned bool // by digest only: nothing to ask the registry
	// pinDigest: the digest annotation says pin (see
	// annotations.DigestPrefix).
	pinDigest bool
	pattern   imagepolicy.Pattern
	created   map[string]time.Time
	target    target // where the image is edited
}

// Tag is an allowed tag of a container's repository.
type Tag struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created,omitzero"`
	Current bool      `json:"current,omitempty"`
}

// Scan finds the workloads under dir of a commit's tree and asks the
// registry about each of their images, each repository once. only, when
// not empty, restricts it to those workloads. Problems with one image are
// reported on its containers; the error is for the tree as a whole.
//
// Scan reads the tree as Tree.Workloads does, without generators;
// ScanWorkloads takes the workloads of a Tree with generators.
func Scan(ctx context.Context, fsys fs.FS, dir, defaultNamespace string, reg *registry.Client, only []workload.ID) ([]Container, error) {
	found, err := Tree{FS: fsys, Dir: dir, Namespace: defaultNamespace}.Workloads(ctx)
	if err != nil {
		return nil, err
	}
	return ScanWorkloads(ctx, found, reg, only)
}

// ScanWorkloads is Scan for the workloads a tree was found to hold (see
// Tree.Workloads).
func ScanWorkloads(ctx context.Context, workloads []Found, reg *registry.Client, only []workload.ID) ([]Container, error) {
	if err := checkKnown(workloads, only); err != nil {
		return nil, err
	}
	var out []Container
	for _, w := range workloads {
		if len(only) > 0 && !slices.Contains(only, w.ID) {
			continue
		}
		pol := w.Policy()
		for i := range w.Containers {
			out = append(out, newContainer(w, pol, i))
		}
	}

	// One request per repository, with the creation times its policies need.
	needCreated := map[string][]imagepolicy.Pattern{}
	var repos []string
	for _, c := range out {
		if c.Error != "" || c.pinned {
			continue
		}
		if _, ok := needCreated[c.ref.Repo]; !ok {
			repos = append(repos, c.ref.Repo)
			needCreated[c.ref.Repo] = nil
		}
		if imagepolicy.NeedsCreated(c.pattern) {
			needCreated[c.ref.Repo] = append(needCreated[c.ref.Repo], c.pattern)
		}
	}
	reqs := make([]registry.Request, len(repos))
	for i, repo := range repos {
		pats := needCreated[repo]
		reqs[i] = registry.Request{Repo: repo}
		if len(pats) > 0 {
			reqs[i].Created = func(tag string) bool {
				for _, p := range pats {
					if p.Allows(tag) {
						return true
					}
				}
				return false
			}
		}
	}
	byRepo := map[string]registry.Response{}
	for _, res := range reg.Scan(ctx, reqs) {
		byRepo[res.Repo] = res
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		c := &out[i]
		if c.Error != "" || c.pinned {
			continue
		}
		res := byRepo[c.ref.Repo]
		if res.Err != nil {
			c.Error = res.Err.Error()
			continue
		}
		c.choose(res)
	}
	return out, nil
}

func newContainer(w Found, pol workload.Policy, i int) Container {
	c := w.Containers[i]
	out := Container{
		Workload: w.ID, Origin: w.Origin, Name: c.Name, Init: c.Init, Image: c.Image,
		Automated: pol.Automated, Locked: pol.Locked, LockedUser: pol.LockedUser, LockedMsg: pol.LockedMsg,
		Generated: w.Generated, Note: w.Note,
	}
	if i < len(w.targets) {
		out.target = w.targets[i]
		if out.Note == "" {
			out.Note = out.target.note
		}
	}
	raw := pol.Tags[c.Name]
	p, err := imagepolicy.Parse(raw)
	if err != nil {
		out.Policy = raw
		out.Error = fmt.Sprintf("%s (%s): container %s: invalid tag filter %q: %v; fix the annotation", w.ID, w.Origin, c.Name, raw, err)
		return out
	}
	out.pattern, out.Policy = p, p.String()
	ref, err := imageref.Parse(c.Image)
	if err != nil {
		out.Error = fmt.Sprintf("%s (%s): container %s: %v", w.ID, w.Origin, c.Name, err)
		return out
	}
	out.ref = ref
	switch v, ok := w.Annotations[annotations.DigestPrefix+c.Name]; {
	case !ok:
	case v == annotations.DigestPin:
		out.pinDigest = true
	default:
		out.Error = fmt.Sprintf("%s (%s): container %s: %s%s is %q: the only value is %q (keep the image pinned as repo:tag@digest); fix the annotation", w.ID, w.Origin, c.Name, annotations.DigestPrefix, c.Name, v, annotations.DigestPin)
		return out
	}
	if ref.Tag == "" && ref.Digest != "" {
		out.pinned = true
		out.Note = "pinned by digest without a tag: left alone"
	}
	return out
}

// choose orders the allowed tags and picks the newest.
func (c *Container) choose(res registry.Response) {
	tags := make([]imagepolicy.Tag, 0, len(res.Tags))
	c.created = map[string]time.Time{}
	for _, name := range res.Tags {
		t := imagepolicy.Tag{Name: name}
		if img, ok := res.Images[name]; ok {
			t.Created = img.Created
			c.created[name] = img.Created
		}
		tags = append(tags, t)
	}
	sel := imagepolicy.Select(c.pattern, tags)
	c.Skipped = sel.SkippedSummary()
	for _, t := range sel.Tags {
		c.Tags = append(c.Tags, Tag{Name: t.Name, Created: t.Created, Current: t.Name == c.ref.Tag})
	}
	if len(c.Tags) > 0 {
		c.Latest = c.Tags[0].Name
	}
}

// checkKnown fails for named workloads that are not in the repository,
// naming close matches.
func checkKnown(workloads []Found, only []workload.ID) error {
	ids := make([]workload.ID, len(workloads))
	for i, w := range workloads {
		ids[i] = w.ID
	}
	for _, want := range only {
		if slices.Contains(ids, want) {
			continue
		}
		return UnknownWorkload(ids, want)
	}
	return nil
}

// UnknownWorkload is the error for a workload id the repository lacks.
func UnknownWorkload(ids []workload.ID, want workload.ID) error {
	close := workload.Closest(ids, want)
	if len(close) == 0 {
		return fmt.Errorf("workload %s is not in the repository; list them with kubectl gitops workloads", want)
	}
	names := make([]string, len(close))
	for i, id := range close {
		names[i] = id.String()
	}
	sort.Strings(names)
	return fmt.Errorf("workload %s is not in the repository; did you mean %v?", want, names)
}
