// Package setters edits YAML files byte for byte: it changes a scalar, or
// adds or removes a mapping entry, and leaves every other byte of the file as
// it was (comments, quoting, indentation, line endings, other documents).
//
// kyaml parses the file and locates the nodes; the edit is then spliced into
// the original bytes, never re-serialized. Every edit is verified: the result
// is parsed again and must hold the same documents as the original with only
// the intended change applied, or the edit is refused with an error and the
// original bytes.
//
// Nodes are addressed by a Target: a document of the stream and a path from
// its root, with the path elements kyaml uses.
package setters

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Target addresses a node in a YAML stream.
//
// Doc is the index of the document in the stream, from 0, as Parse returns
// them (an empty document between two "---" counts). Path leads from the
// document's root to the node. In a mapping, an element is a key, taken
// literally. In a sequence, an element is an index ("3"), or selects the
// single item whose field has a value ("[name=web]"), or the single scalar
// item with a value ("[=web]"). The items of a List are therefore reached
// with Path{"items", "3", ...}.
type Target struct {
	Doc  int
	Path []string
}

// String returns the target as "document 1: metadata.annotations.x", with
// elements quoted when they hold a dot.
func (t Target) String() string {
	var b strings.Builder
	b.WriteString("document ")
	b.WriteString(strconv.Itoa(t.Doc))
	b.WriteString(": ")
	for i, el := range t.Path {
		if i > 0 {
			b.WriteByte('.')
		}
		if el == "" || strings.ContainsAny(el, ". \"") {
			el = strconv.Quote(el)
		}
		b.WriteString(el)
	}
	return b.String()
}

// Edit is one change to a YAML stream: set the string at Target, or, with
// Delete, remove the mapping entry at Target.
//
// Setting replaces the scalar at Target, keeping its quoting style unless
// the new value needs quotes, and keeping any comment after it. When the
// last key of the path is missing, the entry is added after the mapping's
// last entry, in the mapping's own style (a new line at the keys' indentation
// in a block mapping, ", key: value" before the "}" of a flow mapping); the
// value is quoted like the other string values of that mapping, or
// double-quoted when they disagree or when it needs quotes. Missing mappings
// on the path are created the same way, indented by the file's own step.
// Only mapping keys are created: a missing sequence item is an error.
//
// Deleting removes the entry's line(s) from a block mapping, or the entry
// and one comma from a flow mapping; a missing entry is not an error. When
// this leaves a block mapping empty, the entry holding that mapping is
// removed too, and so on up the path (a flow mapping is left as "{}"), so
// that setting a key and then deleting it gives back the original bytes,
// also when the set created the mapping.
type Edit struct {
	Target Target
	Value  string
	Delete bool
}

// Set sets the string at t in src. See Edit.
func Set(src []byte, t Target, value string) ([]byte, error) {
	return Apply(src, Edit{Target: t, Value: value})
}

// Delete removes the mapping entry at t from src. See Edit.
func Delete(src []byte, t Target) ([]byte, error) {
	return Apply(src, Edit{Target: t, Delete: true})
}

// Apply applies the edits to src in order, each one verified, and returns
// the result. It applies all of them or none: on error it returns src
// unchanged, with an error naming the edit that failed.
func Apply(src []byte, edits ...Edit) ([]byte, error) {
	if len(edits) == 0 {
		return src, nil
	}
	s, err := parseStream(src)
	if err != nil {
		return src, err
	}
	for _, e := range edits {
		// Each edit's result was parsed to verify it: that parse is the
		// next edit's input.
		next, err := s.apply(e)
		if err != nil {
			return src, fmt.Errorf("%s: %w", e.Target, err)
		}
		s = next
	}
	return s.src, nil
}

// Parse parses src, a YAML stream, and returns the root node of each of its
// documents, in the order a Target's Doc counts them. A syntax error is a
// *ParseError, with the line where it is.
func Parse(src []byte) ([]*yaml.RNode, error) {
	s, err := parseStream(src)
	if err != nil {
		return nil, err
	}
	docs := make([]*yaml.RNode, len(s.docs))
	for i, d := range s.docs {
		docs[i] = yaml.NewRNode(docRoot(d))
	}
	return docs, nil
}

// Lookup returns the value of the scalar at t in src, and whether there is
// one. An alias is followed.
func Lookup(src []byte, t Target) (string, bool, error) {
	s, err := parseStream(src)
	if err != nil {
		return "", false, err
	}
	r, err := s.resolve(t)
	if err != nil {
		return "", false, err
	}
	if r.missing != nil {
		return "", false, nil
	}
	n := r.last().node
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return "", false, fmt.Errorf("%s is %s, not a scalar", t, describe(n))
	}
	return n.Value, true, nil
}

// docRoot returns the content of a document node.
func docRoot(d *yaml.Node) *yaml.Node {
	if d.Kind == yaml.DocumentNode {
		if len(d.Content) == 0 {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
		}
		return d.Content[0]
	}
	return d
}

// ErrUnsupported is wrapped by the errors of edits that the package refuses
// because it cannot make them safely byte for byte (block scalars, aliases,
// merge keys, unusual layouts); they are to be made by hand.
var ErrUnsupported = errors.New("not supported")

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	if n.ShortTag() == "!!null" {
		return "null"
	}
	return "a scalar"
}
