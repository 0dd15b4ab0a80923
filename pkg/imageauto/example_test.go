package imageauto

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/golden"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imagepolicy"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/setters"
)

const exampleDir = "../../testdata/imageauto/flux-v2"

// registryTags stand for what the registry lists for each repository.
var registryTags = map[string][]string{
	"ghcr.io/org/web": {"main-0a1b2c-1700000000", "main-ffff00-1700000500", "main-abcdef-1699999999", "main-dead00-1700000900.sig", "main-abc123-nightly", "dev-aaaaaa-1800000000"},
	"ghcr.io/org/api": {"5.0.1", "5.0.3", "5.1.0", "latest"},
	"ghcr.io/org/worker": {
		"RELEASE.2024-01-01T00-00-00Z", "RELEASE.2024-03-05T10-00-00Z", "RELEASE.2023-12-31T00-00-00Z",
	},
}

// TestFluxV2Example runs a Flux v2 repository as Flux lays it out (a
// kustomization with images: markers, a Deployment and a HelmRelease with
// markers, the ImagePolicy objects in another folder) through the pieces:
// the objects are read, each policy chooses from its repository's tags,
// and the markers under the automation's update.path are updated byte for
// byte. The updated files and the list of changes are golden files.
func TestFluxV2Example(t *testing.T) {
	files := map[string][]byte{}
	var names []string
	err := filepath.WalkDir(exampleDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(exampleDir, p)
		files[filepath.ToSlash(rel)] = data
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)

	var docs []string
	for _, n := range names {
		if strings.Contains(string(files[n]), Group) {
			docs = append(docs, string(files[n]))
		}
	}
	c, err := Read(objects(t, docs...), "")
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(c.Automations) != 1 {
		t.Fatalf("%d automations, want 1", len(c.Automations))
	}
	auto := c.Automations[0]

	choices := map[setters.PolicyRef]setters.ImageRef{}
	var log bytes.Buffer
	for _, p := range c.PoliciesFor(auto) {
		repo, pat, err := c.Pattern(p)
		if err != nil {
			t.Fatal(err)
		}
		var tags []imagepolicy.Tag
		for _, n := range registryTags[repo.Image] {
			tags = append(tags, imagepolicy.Tag{Name: n})
		}
		sel := imagepolicy.Select(pat, tags)
		newest, ok := sel.Newest()
		if !ok {
			t.Fatalf("%s chose nothing", p.ObjectRef)
		}
		fmt.Fprintf(&log, "policy %s (%s): %s\n", p.ObjectRef, pat, newest.Name)
		if s := sel.SkippedSummary(); s != "" {
			fmt.Fprintf(&log, "  %s\n", s)
		}
		choices[setters.PolicyRef{Namespace: p.Namespace, Name: p.Name}] = setters.ImageRef{Name: repo.Image, Tag: newest.Name}
	}

	for _, n := range names {
		if !strings.HasPrefix(n, auto.UpdatePath+"/") || !setters.HasMarkers(files[n]) {
			continue
		}
		out, changes, err := setters.UpdateMarkers(n, files[n], func(p setters.PolicyRef) (setters.ImageRef, bool) {
			r, ok := choices[p]
			return r, ok
		})
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		for _, ch := range changes {
			fmt.Fprintf(&log, "%s:%d %s: %q -> %q\n", ch.File, ch.Line, ch.Policy, ch.OldValue, ch.NewValue)
		}
		golden.Dir("../../testdata/imageauto").Assert(t, strings.NewReplacer("/", "-", ".yaml", "").Replace(n), out)
	}
	golden.Dir("../../testdata/imageauto").Assert(t, "changes", log.Bytes())
}
