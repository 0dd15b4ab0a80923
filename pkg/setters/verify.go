package setters

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// verify parses out, the edited bytes, and checks that it holds the same
// documents as s, except document doc, which must be s's with mutate
// applied. Comments, quoting and layout are not compared; kinds, tags,
// values, anchors and aliases are. It returns the parsed out.
func (s *stream) verify(out []byte, doc int, mutate func(map[*yaml.Node]*yaml.Node)) (*stream, error) {
	m := map[*yaml.Node]*yaml.Node{}
	want := clone(s.docs[doc], m)
	mutate(m)
	got, err := parseStream(out)
	if err != nil {
		return nil, unsupported("the edited file would not parse (%v)", err)
	}
	if len(got.docs) != len(s.docs) {
		return nil, unsupported("the edit would change the number of documents from %d to %d", len(s.docs), len(got.docs))
	}
	for i, d := range s.docs {
		if i == doc {
			d = want
		}
		if path, ok := sameNode(d, got.docs[i]); !ok {
			return nil, unsupported("the edit would change more than intended, at %s", describePath(i, path))
		}
	}
	return got, nil
}

func describePath(doc int, path []string) string {
	return fmt.Sprint(Target{Doc: doc, Path: path})
}

// clone deep-copies n, recording in m the copy of each node.
func clone(n *yaml.Node, m map[*yaml.Node]*yaml.Node) *yaml.Node {
	c := *n
	m[n] = &c
	if n.Content != nil {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, ch := range n.Content {
			c.Content[i] = clone(ch, m)
		}
	}
	return &c
}

// sameNode compares two trees, ignoring positions, comments and quoting
// style. When they differ it returns where, as a path.
func sameNode(a, b *yaml.Node) ([]string, bool) {
	if a.Kind != b.Kind || a.Anchor != b.Anchor || len(a.Content) != len(b.Content) {
		return nil, false
	}
	switch a.Kind {
	case yaml.ScalarNode:
		if a.Value != b.Value || a.ShortTag() != b.ShortTag() {
			return nil, false
		}
	case yaml.AliasNode:
		if a.Value != b.Value {
			return nil, false
		}
	case yaml.MappingNode, yaml.SequenceNode:
		if a.ShortTag() != b.ShortTag() {
			return nil, false
		}
	}
	for i := range a.Content {
		if p, ok := sameNode(a.Content[i], b.Content[i]); !ok {
			el := fmt.Sprint(i)
			switch {
			case a.Kind == yaml.MappingNode && i%2 == 1:
				el = a.Content[i-1].Value
			case a.Kind == yaml.MappingNode:
				el = a.Content[i].Value + " (key)"
			case a.Kind == yaml.DocumentNode:
				return p, false
			}
			return append([]string{el}, p...), false
		}
	}
	return nil, true
}
