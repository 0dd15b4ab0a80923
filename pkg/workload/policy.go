package workload

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/annotations"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/setters"
)

// Policy is what a workload's annotations say about its images.
type Policy struct {
	Automated  bool
	Locked     bool
	LockedUser string
	LockedMsg  string
	// Tags maps a container name to its raw tag pattern, such as
	// "semver:~1.2" or "glob:1.*"; a container without one takes any tag.
	Tags map[string]string
	// Prefix is the annotation prefix the workload's policy annotations
	// use (annotations.Prefix, FluxPrefix or FluxLegacyPrefix; FluxPrefix
	// for filter.fluxcd.io/ filters), "" if it has none.
	Prefix string
}

// policyKeys are the policy annotations, without prefix, apart from tags.
var policyKeys = []string{annotations.Automated, annotations.Locked, annotations.LockedUser, annotations.LockedMsg, annotations.Ignore}

// Equal says whether p and q are the same policy.
func (p Policy) Equal(q Policy) bool {
	return p.Automated == q.Automated && p.Locked == q.Locked && p.LockedUser == q.LockedUser &&
		p.LockedMsg == q.LockedMsg && p.Prefix == q.Prefix && maps.Equal(p.Tags, q.Tags)
}

// ReadPolicy reads a policy from a workload's annotations: kubectl-gitops'
// own (kubectl-gitops.dev/) and Flux v1's (fluxcd.io/, flux.weave.works/,
// and filter.fluxcd.io/<container> for tag.<container>). When a key is
// written under several prefixes, the first of those wins, in that order.
// Only the exact value "true" turns Automated and Locked on.
func ReadPolicy(a map[string]string) Policy {
	var p Policy
	get := func(key string) string {
		v, _ := annotations.Lookup(a, key)
		return v
	}
	p.Automated = get(annotations.Automated) == "true"
	p.Locked = get(annotations.Locked) == "true"
	p.LockedUser = get(annotations.LockedUser)
	p.LockedMsg = get(annotations.LockedMsg)
	for _, c := range tagContainers(a) {
		if k := tagKey(a, c); k != "" {
			if p.Tags == nil {
				p.Tags = map[string]string{}
			}
			p.Tags[c] = a[k]
		}
	}
	p.Prefix = usedPrefix(a)
	return p
}

// tagKey returns the key that holds the tag pattern of container c, "" if
// there is none.
func tagKey(a map[string]string, c string) string {
	for _, k := range annotations.TagKeys(c) {
		if _, ok := a[k]; ok {
			return k
		}
	}
	return ""
}

// tagContainers returns the containers that have a tag annotation, sorted.
func tagContainers(a map[string]string) []string {
	var cs []string
	for k := range a {
		for _, p := range annotations.TagKeys("") {
			if c, ok := strings.CutPrefix(k, p); ok && c != "" && !slices.Contains(cs, c) {
				cs = append(cs, c)
			}
		}
	}
	sort.Strings(cs)
	return cs
}

// usedPrefix returns the first prefix under which a has a policy
// annotation, "" if none.
func usedPrefix(a map[string]string) string {
	for _, p := range annotations.Prefixes() {
		for k := range a {
			rest, ok := strings.CutPrefix(k, p)
			if !ok {
				continue
			}
			if slices.Contains(policyKeys, rest) || (strings.HasPrefix(rest, annotations.TagPrefix) && len(rest) > len(annotations.TagPrefix)) {
				return p
			}
		}
		if p == annotations.FluxPrefix {
			for k := range a {
				if c, ok := strings.CutPrefix(k, annotations.FluxFilterPrefix); ok && c != "" {
					return p
				}
			}
		}
	}
	return ""
}

// PolicyChange is a change to a workload's policy. Nil fields and missing
// tags are left as they are.
type PolicyChange struct {
	// Automated true sets automated "true"; false removes it.
	Automated *bool
	// Locked true sets locked "true", and locked_user and locked_msg to
	// LockedUser and LockedMsg, removing those that are empty; false
	// removes all three.
	Locked     *bool
	LockedUser string
	LockedMsg  string
	// Tags maps a container name to its new tag pattern; "", "*" and
	// "glob:*" (any tag, the default) remove the container's filter. The
	// patterns are written as given: check them before.
	Tags map[string]string
}

// SetPolicy changes the policy annotations of workload w in src, the
// content of w.File, and returns the new content. New annotations take the
// prefix the workload's policy already uses (Flux v1's, say), else
// kubectl-gitops.dev/; an annotation that exists keeps its key. So a lock
// followed by an unlock gives back src byte for byte, even when src had no
// annotations.
//
// A workload whose PolicyNote is set is refused with that note.
func SetPolicy(src []byte, w Workload, change PolicyChange) ([]byte, error) {
	if w.PolicyNote != "" {
		return src, fmt.Errorf("%s: %s", w.ID, w.PolicyNote)
	}
	cur, err := locate(src, w)
	if err != nil {
		return src, err
	}
	edits, err := policyEdits(cur, change)
	if err != nil {
		return src, fmt.Errorf("%s (%s): %w", w.ID, cur.Origin(), err)
	}
	out, err := setters.Apply(src, edits...)
	if err != nil {
		return src, fmt.Errorf("%s (%s): %w", w.ID, cur.Origin(), err)
	}
	return out, nil
}

// SetImage sets the image of the container (or init container) called
// container of workload w in src, the content of w.File, and returns the
// new content. Only the bytes of that image change; its quoting and any
// comment after it are kept.
func SetImage(src []byte, w Workload, container string, image string) ([]byte, error) {
	cur, err := locate(src, w)
	if err != nil {
		return src, err
	}
	var found []Container
	for _, c := range cur.Containers {
		if c.Name == container {
			found = append(found, c)
		}
	}
	switch {
	case len(found) == 0:
		names := make([]string, len(cur.Containers))
		for i, c := range cur.Containers {
			names[i] = c.Name
		}
		return src, fmt.Errorf("%s (%s) has no container %q: it has %s", w.ID, cur.Origin(), container, strings.Join(names, ", "))
	case len(found) > 1:
		return src, fmt.Errorf("%s (%s) has %d containers called %q", w.ID, cur.Origin(), len(found), container)
	}
	out, err := setters.Set(src, found[0].Target, image)
	if err != nil {
		return src, fmt.Errorf("%s (%s): container %s: %w", w.ID, cur.Origin(), container, err)
	}
	return out, nil
}

// locate finds workload w again in src, which may have changed since w was
// found: at the same place if it is still there, else wherever the file
// holds its ID once.
//
// A workload built by kustomize is looked for under the ID its file
// gives it (Workload.InFile); what locate returns keeps w's ID.
func locate(src []byte, w Workload) (Workload, error) {
	id := w.InFile()
	ws, err := parseFile(w.File, src, id.Namespace)
	if err != nil {
		return Workload{}, err
	}
	var same []Workload
	for _, x := range ws {
		if x.ID != id {
			continue
		}
		x.ID, x.FileID, x.PolicyNote = w.ID, w.FileID, w.PolicyNote
		if x.Doc == w.Doc && slices.Equal(x.Path, w.Path) {
			return x, nil
		}
		same = append(same, x)
	}
	what := w.ID.String()
	if id != w.ID {
		what += " (" + id.String() + " in the file)"
	}
	switch len(same) {
	case 0:
		return Workload{}, fmt.Errorf("workload %s is not in %s", what, w.File)
	case 1:
		return same[0], nil
	}
	return Workload{}, fmt.Errorf("workload %s is in %s %d times", what, w.File, len(same))
}

// policyEdits returns the edits that make change to w's annotations.
func policyEdits(w Workload, change PolicyChange) ([]setters.Edit, error) {
	a := w.Annotations
	prefix := usedPrefix(a)
	if prefix == "" {
		prefix = annotations.Prefix
	}
	target := func(key string) setters.Target {
		p := append(slices.Clip(w.Path), "metadata", "annotations", key)
		return setters.Target{Doc: w.Doc, Path: p}
	}
	var edits []setters.Edit
	// set writes value under the first of keys that exists, else under
	// fallback, and removes the others, so that the result reads
	// unambiguously.
	set := func(keys []string, fallback, value string) {
		key := fallback
		for _, k := range keys {
			if _, ok := a[k]; ok {
				key = k
				break
			}
		}
		edits = append(edits, setters.Edit{Target: target(key), Value: value})
		for _, k := range keys {
			if _, ok := a[k]; ok && k != key {
				edits = append(edits, setters.Edit{Target: target(k), Delete: true})
			}
		}
	}
	unset := func(keys []string) {
		for _, k := range keys {
			if _, ok := a[k]; ok {
				edits = append(edits, setters.Edit{Target: target(k), Delete: true})
			}
		}
	}
	forms := annotations.Keys
	setOrUnset := func(name, value string) {
		if value == "" {
			unset(forms(name))
		} else {
			set(forms(name), prefix+name, value)
		}
	}

	if change.Automated != nil {
		if *change.Automated {
			set(forms(annotations.Automated), prefix+annotations.Automated, "true")
		} else {
			unset(forms(annotations.Automated))
		}
	}
	if change.Locked != nil {
		if *change.Locked {
			set(forms(annotations.Locked), prefix+annotations.Locked, "true")
			setOrUnset(annotations.LockedUser, change.LockedUser)
			setOrUnset(annotations.LockedMsg, change.LockedMsg)
		} else {
			unset(forms(annotations.Locked))
			unset(forms(annotations.LockedUser))
			unset(forms(annotations.LockedMsg))
		}
	} else if change.LockedUser != "" || change.LockedMsg != "" {
		return nil, errors.New("a lock user or message needs a lock")
	}

	containers := make([]string, 0, len(change.Tags))
	for c := range change.Tags {
		containers = append(containers, c)
	}
	sort.Strings(containers)
	// Flux v1 wrote filter.fluxcd.io/<container>; keep doing so in a
	// workload that uses that spelling only.
	tagPrefix := prefix + annotations.TagPrefix
	if prefix == annotations.FluxPrefix && usesOnly(a, annotations.FluxFilterPrefix, annotations.FluxPrefix+annotations.TagPrefix) {
		tagPrefix = annotations.FluxFilterPrefix
	}
	for _, c := range containers {
		pattern := change.Tags[c]
		if pattern == "" || pattern == "*" || pattern == "glob:*" {
			unset(annotations.TagKeys(c))
			continue
		}
		if _, ok := w.Container(c); !ok {
			names := make([]string, len(w.Containers))
			for i, c := range w.Containers {
				names[i] = c.Name
			}
			return nil, fmt.Errorf("no container %q to set a tag filter for: the containers are %s", c, strings.Join(names, ", "))
		}
		set(annotations.TagKeys(c), tagPrefix+c, pattern)
	}
	return edits, nil
}

// usesOnly says whether a has keys starting with prefix, and none starting
// with other.
func usesOnly(a map[string]string, prefix, other string) bool {
	found := false
	for k := range a {
		if strings.HasPrefix(k, other) {
			return false
		}
		if strings.HasPrefix(k, prefix) {
			found = true
		}
	}
	return found
}
