package images

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageauto"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imagepolicy"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageref"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/registry"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/setters"
)

// Marker is one Flux v2 setter marker (`# {"$imagepolicy": "ns:name"}`)
// of a file under an automation's update.path, with what its policy
// chose.
type Marker struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Policy string `json:"policy"` // ns:name, or ns:name:tag|name|digest
	Value  string `json:"value"`
	// Latest is the newest tag the policy allows.
	Latest string `json:"latest,omitempty"`
	// Error says why the marker cannot be set.
	Error string `json:"error,omitempty"`

	ref  setters.PolicyRef
	part setters.Part
}

// Flux is the Flux v2 image automation of a tree: its ImageRepository,
// ImagePolicy and ImageUpdateAutomation objects, read as configuration,
// and the markers of the files the automations update, with what each
// policy chose.
type Flux struct {
	Config  *imageauto.Config
	Markers []Marker
	// Warnings are lines for stderr: numerical policies that skipped
	// tags they could not order.
	Warnings []string
	// Err joins what keeps markers from being set: markers that do not
	// parse, policies that are missing or whose registry failed.
	Err error

	policies map[imageauto.ObjectRef]*fluxPolicy
	// fileErrs are the marker errors of each file, which an update of
	// that file refuses.
	fileErrs map[string]error
}

type fluxPolicy struct {
	policy imageauto.ImagePolicy
	repo   imageauto.ImageRepository
	latest string
	err    error
}

// Empty says whether the tree holds no Flux v2 image automation.
func (f *Flux) Empty() bool {
	return f == nil || f.Config == nil || len(f.Config.Policies)+len(f.Config.Automations)+len(f.Config.Repositories) == 0
}

// updatePaths are the directories whose files an automation updates:
// each automation's update.path, or dir when there is none.
func updatePaths(cfg *imageauto.Config, dir string) []string {
	var out []string
	for _, a := range cfg.Automations {
		out = append(out, a.UpdatePath)
	}
	if len(out) == 0 {
		out = append(out, path.Clean(dir))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// under says whether file is in directory dir ("." for the root).
func under(file, dir string) bool {
	return dir == "." || file == dir || strings.HasPrefix(file, dir+"/")
}

// markerFiles returns the YAML files under dirs of fsys that hold markers,
// each once, sorted. Hidden files and directories are skipped, as render
// skips them, and so is anything that is not a regular file.
func markerFiles(fsys fs.FS, dirs []string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, dir := range dirs {
		err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			ext := path.Ext(p)
			if d.IsDir() || !d.Type().IsRegular() || (ext != ".yaml" && ext != ".yml") {
				return nil
			}
			if _, ok := files[p]; ok {
				return nil
			}
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			if setters.HasMarkers(data) {
				files[p] = data
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading the files under %s (the automation's update.path): %w", dir, err)
		}
	}
	return files, nil
}

// ScanFlux finds the markers of the files the automations of cfg update
// (the files under dir when there is no automation), and asks the
// registry for the tags of each policy's repository, each repository
// once. It does nothing when cfg holds no image automation object.
func ScanFlux(ctx context.Context, fsys fs.FS, dir string, cfg *imageauto.Config, reg *registry.Client) (*Flux, error) {
	f := &Flux{Config: cfg, policies: map[imageauto.ObjectRef]*fluxPolicy{}, fileErrs: map[string]error{}}
	if f.Empty() {
		return f, nil
	}
	files, err := markerFiles(fsys, updatePaths(cfg, dir))
	if err != nil {
		return nil, err
	}
	var errs []error
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		ms, err := setters.FindMarkers(name, files[name])
		if err != nil {
			f.fileErrs[name] = err
			errs = append(errs, err)
		}
		for _, m := range ms {
			pol := m.Policy.String()
			if m.Part != setters.PartFull {
				pol += ":" + string(m.Part)
			}
			f.Markers = append(f.Markers, Marker{File: m.File, Line: m.Line, Policy: pol, Value: m.Value, ref: m.Policy, part: m.Part})
		}
	}

	// The policies the markers name, and their repositories' tags.
	var reqs []registry.Request
	seenRepo := map[string]bool{}
	for _, m := range f.Markers {
		ref := imageauto.ObjectRef{Namespace: m.ref.Namespace, Name: m.ref.Name}
		if _, ok := f.policies[ref]; ok {
			continue
		}
		fp := &fluxPolicy{}
		f.policies[ref] = fp
		p, ok := cfg.Policy(ref)
		if !ok {
			fp.err = fmt.Errorf("%s:%d: the marker names %s %s, which is not among the objects: add it, or fix the marker", m.File, m.Line, imageauto.KindImagePolicy, ref)
			continue
		}
		fp.policy = p
		if fp.repo, _, fp.err = cfg.Pattern(p); fp.err != nil {
			continue
		}
		if !seenRepo[fp.repo.Image] {
			seenRepo[fp.repo.Image] = true
			reqs = append(reqs, registry.Request{Repo: fp.repo.Image})
		}
	}
	byRepo := map[string]registry.Response{}
	for _, res := range reg.Scan(ctx, reqs) {
		byRepo[res.Repo] = res
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, ref := range slices.SortedFunc(func(yield func(imageauto.ObjectRef) bool) {
		for r := range f.policies {
			if !yield(r) {
				return
			}
		}
	}, func(a, b imageauto.ObjectRef) int { return strings.Compare(a.String(), b.String()) }) {
		fp := f.policies[ref]
		if fp.err != nil {
			errs = append(errs, fp.err)
			continue
		}
		res := byRepo[fp.repo.Image]
		if res.Err != nil {
			fp.err = fmt.Errorf("%s %s: %w", imageauto.KindImagePolicy, ref, res.Err)
			errs = append(errs, fp.err)
			continue
		}
		_, pat, _ := cfg.Pattern(fp.policy)
		tags := make([]imagepolicy.Tag, len(res.Tags))
		for i, t := range res.Tags {
			tags[i] = imagepolicy.Tag{Name: t}
		}
		sel := imagepolicy.Select(pat, tags)
		if s := sel.SkippedSummary(); s != "" {
			f.Warnings = append(f.Warnings, fmt.Sprintf("warning: %s %s (%s): %s", imageauto.KindImagePolicy, ref, fp.repo.Image, s))
		}
		newest, ok := sel.Newest()
		if !ok {
			f.Warnings = append(f.Warnings, fmt.Sprintf("warning: %s %s: no tag of %s matches the policy (%s): the markers naming it are left alone", imageauto.KindImagePolicy, ref, fp.repo.Image, pat))
			continue
		}
		fp.latest = newest.Name
	}
	for i := range f.Markers {
		m := &f.Markers[i]
		fp := f.policies[imageauto.ObjectRef{Namespace: m.ref.Namespace, Name: m.ref.Name}]
		m.Latest = fp.latest
		if fp.err != nil {
			m.Error = fp.err.Error()
		}
	}
	f.Err = errors.Join(errs...)
	return f, nil
}

// Automation returns the automation an update follows: the one named
// (namespace/name), or the only one; nil when there is none. Several
// automations and none named is an error listing them.
func (f *Flux) Automation(name string) (*imageauto.ImageUpdateAutomation, error) {
	if f.Empty() {
		if name != "" {
			return nil, fmt.Errorf("--automation %s: the repository holds no %s", name, imageauto.KindImageUpdateAutomation)
		}
		return nil, nil
	}
	as := f.Config.Automations
	var names []string
	for i, a := range as {
		names = append(names, a.String())
		if name != "" && (a.String() == name || a.Name == name) {
			return &as[i], nil
		}
	}
	switch {
	case name != "":
		return nil, fmt.Errorf("--automation %s: no such %s; the repository has %s", name, imageauto.KindImageUpdateAutomation, strings.Join(names, ", "))
	case len(as) == 0:
		return nil, nil
	case len(as) > 1:
		return nil, fmt.Errorf("the repository holds %d %ss (%s): name the one to follow with --automation", len(as), imageauto.KindImageUpdateAutomation, strings.Join(names, ", "))
	}
	return &as[0], nil
}

// MarkerChange is one marked field an update changed.
type MarkerChange struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Policy string `json:"policy"`
	From   string `json:"from"`
	To     string `json:"to"`
	// Object is the object of the document holding the field.
	Object ObjectIdentifier `json:"object"`
}

// Describe says what the change does: "file:line: old -> new (ns:policy)".
func (c MarkerChange) Describe() string {
	return fmt.Sprintf("%s:%d: %s -> %s (%s)", c.File, c.Line, c.From, c.To, c.Policy)
}

// ObjectIdentifier names the object of a document, as Flux's message
// template sees it ($resource.Kind, $resource.Name).
type ObjectIdentifier struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Name       string `json:"name,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
}

func (o ObjectIdentifier) String() string {
	s := o.Kind + " " + o.Name
	if o.Namespace != "" {
		s = o.Kind + " " + o.Namespace + "/" + o.Name
	}
	return s
}

// EditMarkers sets every marker of the files under the automation's
// update.path (every file scanned when a is nil) whose policy the
// automation selects to the policy's choice, byte for byte, starting from
// files[name] when an earlier edit changed the file. It adds the changed
// files to files and returns the changes, in file order.
//
// Digests follow the policy's digestReflectionPolicy: Never writes none
// (a full marker then writes name:tag); IfNotPresent looks the digest up
// when the tag moves or the file holds none for the policy, and keeps the
// file's otherwise; Always looks it up on every update, so that a tag
// pushed again with new content is pinned anew.
//
// A file with a marker that does not parse, or a policy that failed,
// fails the update: nothing is returned.
func (f *Flux) EditMarkers(ctx context.Context, fsys fs.FS, files map[string][]byte, reg *registry.Client, a *imageauto.ImageUpdateAutomation) ([]MarkerChange, error) {
	if f.Empty() {
		return nil, nil
	}
	byFile := map[string][]Marker{}
	var names []string
	for _, m := range f.Markers {
		if a != nil && !under(m.File, a.UpdatePath) {
			continue
		}
		if _, ok := byFile[m.File]; !ok {
			names = append(names, m.File)
		}
		byFile[m.File] = append(byFile[m.File], m)
	}
	for file, err := range f.fileErrs {
		if a == nil || under(file, a.UpdatePath) {
			return nil, fmt.Errorf("%w\nfix the markers: nothing was committed", err)
		}
	}
	sort.Strings(names)
	var changes []MarkerChange
	for _, name := range names {
		src, ok := files[name]
		if !ok {
			var err error
			if src, err = fs.ReadFile(fsys, name); err != nil {
				return nil, err
			}
		}
		refs, err := f.imageRefs(ctx, reg, a, byFile[name])
		if err != nil {
			return nil, err
		}
		out, mcs, err := setters.UpdateMarkers(name, src, func(p setters.PolicyRef) (setters.ImageRef, bool) {
			r, ok := refs[p]
			return r, ok
		})
		if err != nil {
			return nil, err
		}
		if len(mcs) == 0 {
			continue
		}
		docs, _ := setters.Parse(src)
		for _, mc := range mcs {
			pol := mc.Policy.String()
			if mc.Part != setters.PartFull {
				pol += ":" + string(mc.Part)
			}
			c := MarkerChange{File: name, Line: mc.Line, Policy: pol, From: mc.OldValue, To: mc.NewValue}
			if mc.Target.Doc < len(docs) {
				d := docs[mc.Target.Doc]
				c.Object = ObjectIdentifier{APIVersion: d.GetApiVersion(), Kind: d.GetKind(), Name: d.GetName(), Namespace: d.GetNamespace()}
			}
			changes = append(changes, c)
		}
		files[name] = out
	}
	return changes, nil
}

// imageRefs returns what each policy of a file's markers writes, for the
// policies the automation selects that chose a tag.
func (f *Flux) imageRefs(ctx context.Context, reg *registry.Client, a *imageauto.ImageUpdateAutomation, markers []Marker) (map[setters.PolicyRef]setters.ImageRef, error) {
	out := map[setters.PolicyRef]setters.ImageRef{}
	for _, m := range markers {
		if _, done := out[m.ref]; done {
			continue
		}
		fp := f.policies[imageauto.ObjectRef{Namespace: m.ref.Namespace, Name: m.ref.Name}]
		if fp == nil {
			continue
		}
		if fp.err != nil {
			return nil, fmt.Errorf("%s:%d: %w\nnothing was committed", m.File, m.Line, fp.err)
		}
		if fp.latest == "" || (a != nil && !a.Selects(fp.policy)) {
			continue
		}
		ref := setters.ImageRef{Name: fp.repo.Image, Tag: fp.latest}
		curTag, curDigest := currentOf(markers, m.ref)
		switch fp.policy.DigestReflection {
		case imageauto.DigestIfNotPresent:
			if curTag == fp.latest && curDigest != "" {
				ref.Digest = curDigest
				break
			}
			fallthrough
		case imageauto.DigestAlways:
			d, err := reg.CurrentDigest(ctx, fp.repo.Image, fp.latest)
			if err != nil {
				return nil, fmt.Errorf("%s %s: the digest of %s:%s: %w\nnothing was committed", imageauto.KindImagePolicy, fp.policy.ObjectRef, fp.repo.Image, fp.latest, err)
			}
			ref.Digest = d
		}
		out[m.ref] = ref
	}
	return out, nil
}

// currentOf returns the tag and digest that a file's markers of policy p
// hold now: from a full marker's reference, a :tag marker and a :digest
// marker.
func currentOf(markers []Marker, p setters.PolicyRef) (tag, digest string) {
	for _, m := range markers {
		if m.ref != p {
			continue
		}
		switch m.part {
		case setters.PartFull:
			if r, err := imageref.Parse(m.Value); err == nil {
				tag, digest = r.Tag, r.Digest
			}
		case setters.PartTag:
			tag = m.Value
		case setters.PartDigest:
			digest = m.Value
		}
	}
	return tag, digest
}
