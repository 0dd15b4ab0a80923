package setters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// MarkerKey is the key of Flux v2's image setter markers: a line-end
// comment `# {"$imagepolicy": "<namespace>:<policy>[:tag|:name|:digest]"}`
// after the scalar it marks.
const MarkerKey = "$imagepolicy"

// markerNeedle is what a file must hold to have markers: the quoted key,
// as image-automation-controller checks before it parses a file.
var markerNeedle = []byte(`"` + MarkerKey + `"`)

// Part is the part of an image reference a marker writes.
type Part string

// The parts. PartFull writes name:tag, or name:tag@digest when the policy
// reports a digest.
const (
	PartFull   Part = "full"
	PartName   Part = "name"
	PartTag    Part = "tag"
	PartDigest Part = "digest"
)

// PolicyRef names an ImagePolicy: "namespace:name" in a marker.
type PolicyRef struct {
	Namespace string
	Name      string
}

func (p PolicyRef) String() string { return p.Namespace + ":" + p.Name }

// Marker is one setter marker and the scalar it marks.
type Marker struct {
	File   string // as given to FindMarkers
	Line   int    // 1-based line where the marked scalar starts
	Target Target // the marked scalar: document and path
	Policy PolicyRef
	Part   Part
	Value  string // the scalar's current value
}

// String returns "file:line: document 0: spec.x (ns:name:tag)".
func (m Marker) String() string {
	pol := m.Policy.String()
	if m.Part != PartFull {
		pol += ":" + string(m.Part)
	}
	return fmt.Sprintf("%s:%d: %s (%s)", m.File, m.Line, m.Target, pol)
}

// HasMarkers is the cheap check made before parsing: only a file holding
// the string "$imagepolicy" (with its quotes) can have markers.
func HasMarkers(src []byte) bool { return bytes.Contains(src, markerNeedle) }

// MarkerError is a comment that mentions $imagepolicy but cannot be used
// as a marker, or a marker on something that is not a scalar value.
type MarkerError struct {
	File string
	Line int
	Msg  string
}

func (e *MarkerError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// FindMarkers returns the setter markers of src, a YAML stream read from
// file, in the order they appear. A marker is a line-end comment that holds
// the JSON object {"$imagepolicy": "ns:name"} (or "ns:name:tag", ":name",
// ":digest") after a scalar that is a mapping value or a sequence item, in
// block or flow style, quoted or not. Whole-line comments are not markers,
// as in Flux.
//
// A comment that holds "$imagepolicy" (quoted) but is not such a marker (bad JSON,
// a bad reference, after a key whose value is a mapping, after a whole flow
// collection, after an alias) is a *MarkerError; all of them are returned
// joined, together with the good markers, so that the caller can report
// them and still update the others. A file that does not parse is an error
// naming the file, with no markers.
func FindMarkers(file string, src []byte) ([]Marker, error) {
	if !HasMarkers(src) {
		return nil, nil
	}
	s, err := parseStream(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	f := &markerFinder{file: file, s: s}
	for doc, d := range s.docs {
		f.walk(doc, docRoot(d), nil, nil)
	}
	return f.markers, errors.Join(f.errs...)
}

type markerFinder struct {
	file    string
	s       *stream
	markers []Marker
	errs    []error
}

func (f *markerFinder) fail(line int, format string, args ...any) {
	f.errs = append(f.errs, &MarkerError{File: f.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// walk visits n, found at path in document doc; key is n's key when n is a
// mapping value.
func (f *markerFinder) walk(doc int, n *yaml.Node, path []string, key *yaml.Node) {
	if isMarkerComment(n.LineComment) {
		f.marker(doc, n, path)
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				continue // a complex key: nothing a Target can reach
			}
			if isMarkerComment(k.LineComment) {
				f.keyMarker(doc, k, v, append(path[:len(path):len(path)], k.Value))
			}
			f.walk(doc, v, append(path[:len(path):len(path)], k.Value), k)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			f.walk(doc, item, append(path[:len(path):len(path)], strconv.Itoa(i)), nil)
		}
	}
}

// isMarkerComment says whether a comment is meant as a marker: it holds
// the quoted key. Other mentions of $imagepolicy are prose.
func isMarkerComment(c string) bool { return strings.Contains(c, string(markerNeedle)) }

// keyMarker handles a marker the parser gave to a key. That happens when
// the value does not end on the key's line: "key: # marker" before a
// mapping, or a multi-line value.
func (f *markerFinder) keyMarker(doc int, k, v *yaml.Node, path []string) {
	if v.Kind == yaml.ScalarNode && v.Line == k.Line && v.LineComment == "" {
		v.LineComment = k.LineComment
		return // walk finds it on the value
	}
	f.fail(k.Line, "the marker %s is after the key %q, whose value is %s: put it at the end of the line of a scalar value", strings.TrimSpace(k.LineComment), k.Value, describe(v))
}

func (f *markerFinder) marker(doc int, n *yaml.Node, path []string) {
	ref, part, err := parseMarker(n.LineComment)
	if err != nil {
		f.fail(n.Line, "%v", err)
		return
	}
	if isFlow(n) && (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) {
		// "{name: app, newTag: 1.0} # marker": the comment follows the
		// collection's last value, when that ends on the same line.
		last, lastPath := lastValue(n, path)
		if last != nil && last.Kind == yaml.ScalarNode && last.LineComment == "" && f.sameEndLine(n, last) {
			n, path = last, lastPath
		} else {
			f.fail(n.Line, "the marker for %s is after a flow %s whose last value is not a scalar on the marker's line: put the marker at the end of the line of the value it sets", ref, strings.TrimPrefix(describe(n), "a "))
			return
		}
	}
	switch {
	case n.Kind == yaml.AliasNode:
		f.fail(n.Line, "the marker for %s is after an alias (*%s): mark the anchored value instead", ref, n.Value)
		return
	case n.Kind != yaml.ScalarNode:
		f.fail(n.Line, "the marker for %s is after %s, not a scalar: put it at the end of the line of the value it sets", ref, describe(n))
		return
	case len(path) == 0:
		f.fail(n.Line, "the marker for %s is on a document that is a lone scalar: it can only mark a mapping value or a sequence item", ref)
		return
	}
	f.markers = append(f.markers, Marker{
		File:   f.file,
		Line:   n.Line,
		Target: Target{Doc: doc, Path: path},
		Policy: ref,
		Part:   part,
		Value:  n.Value,
	})
}

// lastValue returns the last value of collection n, descending into
// collections, and its path; nil when n is empty.
func lastValue(n *yaml.Node, path []string) (*yaml.Node, []string) {
	for n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			return nil, nil
		}
		last := n.Content[len(n.Content)-1]
		el := strconv.Itoa(len(n.Content) - 1)
		if n.Kind == yaml.MappingNode {
			k := n.Content[len(n.Content)-2]
			if k.Kind != yaml.ScalarNode {
				return nil, nil
			}
			el = k.Value
		}
		path = append(path[:len(path):len(path)], el)
		n = last
	}
	return n, path
}

// sameEndLine says whether the flow collection c and the scalar v in it end
// on the same line, where the marker after c is.
func (f *markerFinder) sameEndLine(c, v *yaml.Node) bool {
	cEnd, err := f.s.nodeEnd(c, -1)
	if err != nil {
		return false
	}
	_, vEnd, err := f.s.scalarSpan(v, -1)
	if err != nil {
		return false
	}
	return f.s.lineOf(cEnd) == f.s.lineOf(vEnd)
}

// parseMarker reads a marker comment, "# {"$imagepolicy": "ns:name:tag"}".
func parseMarker(comment string) (PolicyRef, Part, error) {
	const want = `want # {"$imagepolicy": "<namespace>:<policy>"}, optionally ending in :tag, :name or :digest`
	text := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(comment), "#"))
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &obj); err != nil {
		return PolicyRef{}, "", fmt.Errorf("the comment %s mentions %s but is not a JSON object (%w): %s", comment, MarkerKey, err, want)
	}
	raw, ok := obj[MarkerKey]
	if !ok || len(obj) != 1 {
		return PolicyRef{}, "", fmt.Errorf("the comment %s is not a setter marker: %s", comment, want)
	}
	var ref string
	if err := json.Unmarshal(raw, &ref); err != nil {
		return PolicyRef{}, "", fmt.Errorf("the marker %s: the value of %s is not a string: %s", comment, MarkerKey, want)
	}
	parts := strings.Split(ref, ":")
	part := PartFull
	switch len(parts) {
	case 2:
	case 3:
		switch p := Part(parts[2]); p {
		case PartTag, PartName, PartDigest:
			part = p
		default:
			return PolicyRef{}, "", fmt.Errorf("the marker %s: unknown part %q: %s", comment, parts[2], want)
		}
	default:
		return PolicyRef{}, "", fmt.Errorf("the marker %s: %q is not <namespace>:<policy>: %s", comment, ref, want)
	}
	p := PolicyRef{Namespace: parts[0], Name: parts[1]}
	if p.Namespace == "" || p.Name == "" {
		return PolicyRef{}, "", fmt.Errorf("the marker %s: empty namespace or policy name in %q: %s", comment, ref, want)
	}
	return p, part, nil
}

// ImageRef is what a policy chose, as Flux's ImagePolicy reports it in
// status.latestRef: the image name (without tag), the tag, and the digest
// when the policy reflects digests.
type ImageRef struct {
	Name   string
	Tag    string
	Digest string
}

// String returns name:tag, or name:tag@digest when there is a digest, which
// is what a full marker writes.
func (r ImageRef) String() string {
	s := r.Name + ":" + r.Tag
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Value returns the part of r that a marker of the given part writes. A
// digest marker needs a digest: without one it is an error saying so (in
// Flux, the policy's digestReflectionPolicy must not be Never).
func (r ImageRef) Value(part Part) (string, error) {
	switch part {
	case PartFull:
		return r.String(), nil
	case PartName:
		return r.Name, nil
	case PartTag:
		return r.Tag, nil
	case PartDigest:
		if r.Digest == "" {
			return "", errors.New("a :digest marker needs the policy to report a digest (digestReflectionPolicy IfNotPresent or Always)")
		}
		return r.Digest, nil
	}
	return "", fmt.Errorf("unknown marker part %q", part)
}

// MarkerChange is one marked scalar that UpdateMarkers changed, as Flux
// records it: the old and new values and the marker.
type MarkerChange struct {
	Marker
	OldValue string
	NewValue string
}

// UpdateMarkers sets every marked scalar of src to the part of its
// policy's image that the marker names, byte for byte through Apply: only
// the bytes of the changed values change. lookup returns the image a
// policy chose, or false when it has none (its markers are left alone).
//
// It returns the new bytes and the changes made, in file order. A marker
// error (see FindMarkers) or a value that cannot be set (a :digest marker
// without a digest, a block scalar) fails the whole file, which is then
// returned unchanged, with an error naming the file and line.
func UpdateMarkers(file string, src []byte, lookup func(PolicyRef) (ImageRef, bool)) ([]byte, []MarkerChange, error) {
	markers, err := FindMarkers(file, src)
	if err != nil {
		return src, nil, err
	}
	var edits []Edit
	var changes []MarkerChange
	for _, m := range markers {
		ref, ok := lookup(m.Policy)
		if !ok {
			continue
		}
		v, err := ref.Value(m.Part)
		if err != nil {
			return src, nil, fmt.Errorf("%s:%d: marker for %s: %w", file, m.Line, m.Policy, err)
		}
		if v == m.Value {
			continue
		}
		edits = append(edits, Edit{Target: m.Target, Value: v})
		changes = append(changes, MarkerChange{Marker: m, OldValue: m.Value, NewValue: v})
	}
	out, err := Apply(src, edits...)
	if err != nil {
		// Apply names the target; the line is what a person looks for.
		for i, e := range edits {
			if _, err := Apply(src, e); err != nil {
				return src, nil, fmt.Errorf("%s:%d: marker for %s: %w", file, changes[i].Line, changes[i].Policy, err)
			}
		}
		return src, nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, changes, nil
}
