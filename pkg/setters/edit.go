package setters

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// step is one node on a resolved path.
type step struct {
	node   *yaml.Node
	key    *yaml.Node // the key of node, when parent is a mapping
	parent *yaml.Node // nil for the document's root
	index  int        // index of node in parent.Content
}

// resolution is a Target resolved in a stream.
type resolution struct {
	doc   int
	chain []step // from the document's root
	// missing holds the path elements that were not found, nil when the
	// whole path was. The first one was looked for in chain's last node.
	missing []string
	// missingItem is why missing[0], a sequence item, was not found.
	missingItem error
}

func (r *resolution) last() step { return r.chain[len(r.chain)-1] }

// resolve follows t's path as far as it goes.
func (s *stream) resolve(t Target) (*resolution, error) {
	if t.Doc < 0 || t.Doc >= len(s.docs) {
		return nil, fmt.Errorf("no document %d: the file has %d", t.Doc, len(s.docs))
	}
	if len(t.Path) == 0 {
		return nil, errors.New("empty path")
	}
	root := docRoot(s.docs[t.Doc])
	r := &resolution{doc: t.Doc, chain: []step{{node: root}}}
	cur := root
	for i, el := range t.Path {
		var next step
		switch cur.Kind {
		case yaml.MappingNode:
			idx := -1
			for k := 0; k+1 < len(cur.Content); k += 2 {
				key := cur.Content[k]
				if key.Kind != yaml.ScalarNode || key.Value != el || key.ShortTag() == "!!merge" {
					continue
				}
				if idx >= 0 {
					// kubectl would take the last one silently.
					return nil, fmt.Errorf("%s is there twice, on lines %d and %d: remove one", pathString(t.Path[:i+1]), cur.Content[idx-1].Line, key.Line)
				}
				idx = k + 1
			}
			if idx < 0 {
				r.missing = t.Path[i:]
				return r, nil
			}
			next = step{node: cur.Content[idx], key: cur.Content[idx-1], parent: cur, index: idx}
		case yaml.SequenceNode:
			idx, err := matchItem(cur, el)
			if errors.Is(err, errNoItem) {
				r.missing = t.Path[i:]
				r.missingItem = fmt.Errorf("%s: %w (sequence items are not created)", pathString(t.Path[:i]), err)
				return r, nil
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", pathString(t.Path[:i+1]), err)
			}
			next = step{node: cur.Content[idx], parent: cur, index: idx}
		default:
			if cur.Kind == yaml.ScalarNode && cur.ShortTag() == "!!null" && r.last().key != nil {
				// "annotations:" with no value: the mapping is missing.
				r.missing = t.Path[i:]
				return r, nil
			}
			where := "the document"
			if i > 0 {
				where = pathString(t.Path[:i])
			}
			return nil, fmt.Errorf("%s is %s, not a mapping or a sequence", where, describe(cur))
		}
		if next.node.Kind == yaml.AliasNode && i < len(t.Path)-1 {
			return nil, unsupported("%s is an alias (*%s)", pathString(t.Path[:i+1]), next.node.Value)
		}
		r.chain = append(r.chain, next)
		cur = next.node
	}
	return r, nil
}

var errNoItem = errors.New("no such item")

// matchItem returns the index of the item of seq that el selects.
func matchItem(seq *yaml.Node, el string) (int, error) {
	if n, err := strconv.Atoi(el); err == nil {
		if n < 0 || n >= len(seq.Content) {
			return 0, fmt.Errorf("%w: index %d, the sequence has %d items", errNoItem, n, len(seq.Content))
		}
		return n, nil
	}
	if !yaml.IsListIndex(el) {
		return 0, fmt.Errorf("%q is not a sequence index (like 0) or item selector (like [name=web])", el)
	}
	field, value, ok := strings.Cut(el[1:len(el)-1], "=")
	if !ok {
		return 0, fmt.Errorf("item selector %q has no '='", el)
	}
	found := -1
	for i, item := range seq.Content {
		if !itemMatches(item, field, value) {
			continue
		}
		if found >= 0 {
			return 0, fmt.Errorf("items %d and %d both match %s", found, i, el)
		}
		found = i
	}
	if found < 0 {
		return 0, fmt.Errorf("%w: no item matches %s", errNoItem, el)
	}
	return found, nil
}

func itemMatches(item *yaml.Node, field, value string) bool {
	if field == "" {
		return item.Kind == yaml.ScalarNode && item.Value == value
	}
	if item.Kind != yaml.MappingNode {
		return false
	}
	for k := 0; k+1 < len(item.Content); k += 2 {
		if item.Content[k].Value == field {
			v := item.Content[k+1]
			return v.Kind == yaml.ScalarNode && v.Value == value
		}
	}
	return false
}

func pathString(p []string) string { return Target{Path: p}.String()[len("document 0: "):] }

// splice replaces src[start:end] with text.
type splice struct {
	start, end int
	text       string
}

func applySplices(src []byte, sp []splice) []byte {
	sort.Slice(sp, func(i, j int) bool { return sp[i].start < sp[j].start })
	out := make([]byte, 0, len(src)+64)
	at := 0
	for _, x := range sp {
		out = append(out, src[at:x.start]...)
		out = append(out, x.text...)
		at = x.end
	}
	return append(out, src[at:]...)
}

// plan is an edit worked out on a stream: the splices to make and the same
// change made to a copy of the document's tree, to verify the result.
type plan struct {
	splices []splice
	// mutate changes the copy of the document; m maps each original node
	// to its copy.
	mutate func(m map[*yaml.Node]*yaml.Node)
}

// apply makes edit e on s and returns the edited stream.
func (s *stream) apply(e Edit) (*stream, error) {
	r, err := s.resolve(e.Target)
	if err != nil {
		return nil, err
	}
	var p *plan
	if e.Delete {
		p, err = s.planDelete(r)
	} else {
		p, err = s.planSet(r, e.Value)
	}
	if err != nil {
		return nil, err
	}
	if p == nil {
		return s, nil // nothing to change
	}
	for _, x := range p.splices {
		if x.start < 0 || x.start > x.end || x.end > len(s.src) {
			return nil, locateErr(nil, "edit out of range")
		}
	}
	return s.verify(applySplices(s.src, p.splices), r.doc, p.mutate)
}

// inFlow says whether the node reached by the chain sits in a flow
// collection.
func (r *resolution) inFlow() bool {
	for _, st := range r.chain {
		if st.node.Kind != yaml.ScalarNode && isFlow(st.node) {
			return true
		}
	}
	return false
}

func setString(n *yaml.Node, v string) {
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Anchor: n.Anchor}
}

func (s *stream) planSet(r *resolution, value string) (*plan, error) {
	if !utf8.ValidString(value) {
		return nil, fmt.Errorf("the value %q is not valid UTF-8", value)
	}
	if r.missingItem != nil {
		return nil, r.missingItem
	}
	if r.missing != nil {
		return s.planAdd(r, value)
	}
	st := r.last()
	n := st.node
	switch {
	case n.Kind == yaml.AliasNode:
		return nil, unsupported("the value is an alias (*%s): change the anchored value instead", n.Value)
	case n.Kind != yaml.ScalarNode:
		return nil, fmt.Errorf("the value is %s, not a scalar", describe(n))
	case isBlockScalar(n):
		return nil, unsupported("the value is a block scalar (| or >)")
	case n.Value == value && n.ShortTag() == "!!str":
		return nil, nil
	}
	if err := s.checkAnchors(r, len(r.chain)); err != nil {
		return nil, err
	}
	flow := r.inFlow()
	var sp splice
	if isImplicitNull(n) {
		if st.key == nil {
			return nil, unsupported("empty sequence item")
		}
		text := " " + formatValue(value, entryStyle(st.parent), flow)
		at, err := s.colonEnd(st.key)
		if err != nil && isFlow(st.parent) {
			// "{image}": a key alone in a flow mapping.
			if at, err = s.nodeEnd(st.key, -1); err == nil {
				text = ":" + text
			}
		}
		if err != nil {
			return nil, err
		}
		sp = splice{at, at, text}
	} else {
		start, end, err := s.scalarSpan(n, -1)
		if err != nil {
			return nil, err
		}
		sp = splice{start, end, formatValue(value, styleOf(n), flow)}
	}
	return &plan{
		splices: []splice{sp},
		mutate:  func(m map[*yaml.Node]*yaml.Node) { setString(m[n], value) },
	}, nil
}

// newMapping builds the mapping keys[0]: {keys[1]: ... value}.
func newMapping(keys []string, value string) *yaml.Node {
	v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
	for i := len(keys) - 1; i >= 0; i-- {
		k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: keys[i]}
		v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{k, v}}
	}
	return v
}

func hasMerge(m *yaml.Node) bool {
	for k := 0; k+1 < len(m.Content); k += 2 {
		if m.Content[k].ShortTag() == "!!merge" {
			return true
		}
	}
	return false
}

// planAdd adds the missing keys of r, with value.
func (s *stream) planAdd(r *resolution, value string) (*plan, error) {
	for _, el := range r.missing {
		if _, err := strconv.Atoi(el); err == nil || yaml.IsListIndex(el) {
			return nil, fmt.Errorf("%s: not found, and sequence items are not created", el)
		}
	}
	if err := s.checkAnchors(r, len(r.chain)); err != nil {
		return nil, err
	}
	st := r.last()
	if st.node.Kind == yaml.ScalarNode {
		return s.planNullToMapping(r, value)
	}
	m := st.node
	if hasMerge(m) {
		return nil, unsupported("the mapping uses a merge key (<<)")
	}
	keys := r.missing
	var sp splice
	if isFlow(m) {
		text := flowEntry(keys, value, keyStyle(m), entryStyle(m))
		lines, err := s.flowLines(m)
		if err != nil {
			return nil, err
		}
		if lines {
			sps, err := s.flowLinesInsert(m, text)
			if err != nil {
				return nil, err
			}
			return &plan{splices: sps, mutate: addMutation(m, keys, value)}, nil
		}
		if len(m.Content) == 0 {
			p, err := s.start(m)
			if err != nil {
				return nil, err
			}
			if p >= len(s.src) || s.src[p] != '{' {
				return nil, locateErr(m, "no '{' where the mapping starts")
			}
			sp = splice{p + 1, p + 1, text}
		} else {
			end, err := s.entryEnd(m.Content[len(m.Content)-2], m.Content[len(m.Content)-1])
			if err != nil {
				return nil, err
			}
			sp = splice{end, end, ", " + text}
		}
	} else {
		if len(m.Content) == 0 {
			return nil, locateErr(m, "empty block mapping")
		}
		indent := keyIndent(m.Content[0])
		end, err := s.entryEnd(m.Content[len(m.Content)-2], m.Content[len(m.Content)-1])
		if err != nil {
			return nil, err
		}
		last := s.lineOf(end)
		// Comment lines at the keys' indentation or deeper after the last
		// entry belong to the mapping: the new entry goes after them.
		for j := last + 1; j < len(s.lines); j++ {
			if s.blankLine(j) {
				continue
			}
			if s.commentLine(j) && s.indentOf(j) >= indent {
				last = j
				continue
			}
			break
		}
		sp = s.insertLines(last, blockEntry(keys, value, keyStyle(m), entryStyle(m), indent, s.indentStep(r.chain, m, s.docs[r.doc]), s.eol(last)))
	}
	return &plan{splices: []splice{sp}, mutate: addMutation(m, keys, value)}, nil
}

// addMutation adds keys[0]: {keys[1]: ... value} to the copy of mapping m.
func addMutation(m *yaml.Node, keys []string, value string) func(map[*yaml.Node]*yaml.Node) {
	return func(c map[*yaml.Node]*yaml.Node) {
		cm := c[m]
		nm := newMapping(keys, value)
		cm.Content = append(cm.Content, nm.Content...)
	}
}

// flowLines says whether flow mapping m is written one entry per line,
// each key starting its line, with the closing bracket on a later line, as
// in JSON written by people. Entries are then added and removed as lines.
func (s *stream) flowLines(m *yaml.Node) (bool, error) {
	if len(m.Content) == 0 {
		return false, nil
	}
	open, err := s.start(m)
	if err != nil {
		return false, err
	}
	prev := s.lineOf(open)
	end := 0
	for i := 0; i+1 < len(m.Content); i += 2 {
		kp, err := s.offset(m.Content[i])
		if err != nil {
			return false, err
		}
		line := s.lineOf(kp)
		if line <= prev || strings.Trim(string(s.src[s.lineStart(line):kp]), " \t") != "" {
			return false, nil
		}
		if end, err = s.entryEnd(m.Content[i], m.Content[i+1]); err != nil {
			return false, err
		}
		prev = s.lineOf(end)
	}
	// After the last entry: a comma, a comment, then the end of the line.
	j := s.skipBlanks(end)
	if j < len(s.src) && s.src[j] == ',' {
		j = s.skipBlanks(j + 1)
	}
	if j < len(s.src) && s.src[j] == '#' {
		j = s.lineEnd(s.lineOf(j))
	}
	return breakLen(s.src, j) > 0, nil
}

func (s *stream) skipBlanks(off int) int {
	for off < len(s.src) && isBlank(s.src[off]) {
		off++
	}
	return off
}

// flowLinesInsert adds the entry text on a line of its own after the last
// entry of m (see flowLines), with a comma after it if the last entry has
// one, else a comma after the last entry.
func (s *stream) flowLinesInsert(m *yaml.Node, text string) ([]splice, error) {
	k, v := m.Content[len(m.Content)-2], m.Content[len(m.Content)-1]
	end, err := s.entryEnd(k, v)
	if err != nil {
		return nil, err
	}
	last := s.lineOf(end)
	j := s.skipBlanks(end)
	comma := j < len(s.src) && s.src[j] == ','
	line := strings.Repeat(" ", keyIndent(k)) + text
	var sps []splice
	if comma {
		line += ","
	} else {
		sps = append(sps, splice{end, end, ","})
	}
	return append(sps, s.insertLines(last, line+s.eol(last))), nil
}

// insertLines inserts text, whole lines each ending with a line break,
// after line i. At the end of a file that does not end with a line break,
// the break goes before the text instead, so that deleting the lines again
// gives back the original.
func (s *stream) insertLines(i int, text string) splice {
	if s.hasBreak(i) {
		at := s.nextLine(i)
		return splice{at, at, text}
	}
	eol := s.eol(i)
	return splice{len(s.src), len(s.src), eol + strings.TrimSuffix(text, eol)}
}

// planNullToMapping replaces the null value of the chain's last node by the
// mapping of the missing keys.
func (s *stream) planNullToMapping(r *resolution, value string) (*plan, error) {
	st := r.last()
	n, k, parent := st.node, st.key, st.parent
	if isBlockScalar(n) || n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("cannot set a field in %s", describe(n))
	}
	keys := r.missing
	var sps []splice
	if isFlow(parent) {
		text := "{" + flowEntry(keys, value, keyStyle(parent), double) + "}"
		if isImplicitNull(n) {
			at, err := s.colonEnd(k)
			if err != nil {
				return nil, err
			}
			sps = append(sps, splice{at, at, " " + text})
		} else {
			start, err := s.offset(n) // with any tag or anchor
			if err != nil {
				return nil, err
			}
			_, end, err := s.scalarSpan(n, -1)
			if err != nil {
				return nil, err
			}
			sps = append(sps, splice{start, end, text})
		}
	} else {
		ce, err := s.colonEnd(k)
		if err != nil {
			return nil, err
		}
		last := s.lineOf(ce - 1)
		if !isImplicitNull(n) {
			_, end, err := s.scalarSpan(n, -1)
			if err != nil {
				return nil, err
			}
			// Drop " ~" or " null" (and any tag or anchor before it).
			sps = append(sps, splice{ce, end, ""})
			last = s.lineOf(end)
		}
		indent := keyIndent(k) + s.indentStep(r.chain, parent, s.docs[r.doc])
		sps = append(sps, s.insertLines(last, blockEntry(keys, value, keyStyle(parent), double, indent, s.indentStep(r.chain, parent, s.docs[r.doc]), s.eol(last))))
	}
	return &plan{
		splices: sps,
		mutate: func(c map[*yaml.Node]*yaml.Node) {
			*c[n] = *newMapping(keys, value)
		},
	}, nil
}

// indentStep returns how many more spaces a nested block mapping is
// indented by than its key, as the file does it: around m first, then
// anywhere in the document, else 2.
func (s *stream) indentStep(chain []step, m, doc *yaml.Node) int {
	step := func(k, v *yaml.Node) int {
		if v.Kind == yaml.MappingNode && !isFlow(v) && len(v.Content) > 0 {
			return v.Content[0].Column - k.Column
		}
		return 0
	}
	if m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if d := step(m.Content[i], m.Content[i+1]); d > 0 {
				return d
			}
		}
	}
	for _, st := range chain {
		if st.node == m && st.key != nil {
			if d := step(st.key, m); d > 0 {
				return d
			}
		}
	}
	var walk func(n *yaml.Node) int
	walk = func(n *yaml.Node) int {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if d := step(n.Content[i], n.Content[i+1]); d > 0 {
					return d
				}
			}
		}
		for _, c := range n.Content {
			if d := walk(c); d > 0 {
				return d
			}
		}
		return 0
	}
	if d := walk(doc); d > 0 {
		return d
	}
	return 2
}

func (s *stream) planDelete(r *resolution) (*plan, error) {
	if r.missing != nil {
		return nil, nil
	}
	i := len(r.chain) - 1
	if r.chain[i].key == nil {
		return nil, errors.New("not a mapping entry: only mapping entries are deleted")
	}
	// A block mapping cannot be empty: when its last entry goes, the entry
	// holding it goes too. So does a flow mapping in a flow mapping, which
	// Set creates; a flow mapping in a block mapping, which Set does not
	// create, is left as "{}".
	for {
		m := r.chain[i].parent
		if len(m.Content) > 2 || i < 2 || r.chain[i-1].key == nil {
			break
		}
		if isFlow(m) && !isFlow(r.chain[i-1].parent) {
			break
		}
		i--
	}
	st := r.chain[i]
	m := st.parent
	if err := s.checkAnchors(r, i, st.key, st.node); err != nil {
		return nil, err
	}
	if hasMerge(m) {
		return nil, unsupported("the mapping uses a merge key (<<)")
	}
	var sps []splice
	var sp splice
	var err error
	if isFlow(m) {
		var lines bool
		if lines, err = s.flowLines(m); err == nil {
			if lines {
				sps, err = s.flowLinesDelete(m, st.index-1)
			} else {
				sp, err = s.flowDelete(m, st.index-1)
			}
		}
	} else {
		if len(m.Content) == 2 {
			return nil, unsupported("deleting %s would leave an empty mapping", st.key.Value)
		}
		sp, err = s.blockDelete(m, st.index-1)
	}
	if err != nil {
		return nil, err
	}
	if sps == nil {
		sps = []splice{sp}
	}
	idx := st.index - 1
	return &plan{
		splices: sps,
		mutate: func(c map[*yaml.Node]*yaml.Node) {
			cm := c[m]
			cm.Content = append(cm.Content[:idx:idx], cm.Content[idx+2:]...)
		},
	}, nil
}

// blockDelete removes the entry whose key is m.Content[idx] from block
// mapping m: its whole lines.
func (s *stream) blockDelete(m *yaml.Node, idx int) (splice, error) {
	k, v := m.Content[idx], m.Content[idx+1]
	kp, err := s.offset(k)
	if err != nil {
		return splice{}, err
	}
	end, err := s.entryEnd(k, v)
	if err != nil {
		return splice{}, err
	}
	first, last := s.lineOf(kp), s.lineOf(end)
	// Comment lines right after the entry and indented deeper than its key
	// are inside it.
	for last+1 < len(s.lines) && s.commentLine(last+1) && s.indentOf(last+1) > keyIndent(k) {
		last++
	}
	ls := s.lineStart(first)
	if strings.Trim(string(s.src[ls:kp]), " \t") == "" {
		start, stop := ls, s.nextLine(last)
		if !s.hasBreak(last) && first > 0 {
			// The entry ends the file without a line break: take the
			// break before it instead.
			start = s.lineEnd(first - 1)
		}
		return splice{start, stop, ""}, nil
	}
	// The key shares its line with what comes before it, as the first key
	// of a sequence item ("- name: x"): the next key moves up.
	if idx+2 < len(m.Content) {
		np, err := s.offset(m.Content[idx+2])
		if err != nil {
			return splice{}, err
		}
		return splice{kp, np, ""}, nil
	}
	return splice{}, unsupported("the entry %s shares its line with what comes before it", k.Value)
}

// flowLinesDelete removes the lines of the entry whose key is
// m.Content[idx] from flow mapping m written one entry per line (see
// flowLines), and the comma before it when it is the last entry and has
// none after it.
func (s *stream) flowLinesDelete(m *yaml.Node, idx int) ([]splice, error) {
	k, v := m.Content[idx], m.Content[idx+1]
	kp, err := s.offset(k)
	if err != nil {
		return nil, err
	}
	end, err := s.entryEnd(k, v)
	if err != nil {
		return nil, err
	}
	sps := []splice{{s.lineStart(s.lineOf(kp)), s.nextLine(s.lineOf(end)), ""}}
	j := s.skipBlanks(end)
	if idx > 0 && idx+2 == len(m.Content) && (j >= len(s.src) || s.src[j] != ',') {
		pe, err := s.entryEnd(m.Content[idx-2], m.Content[idx-1])
		if err != nil {
			return nil, err
		}
		if c := s.skipBlanks(pe); c < len(s.src) && s.src[c] == ',' {
			sps = append(sps, splice{c, c + 1, ""})
		}
	}
	return sps, nil
}

// flowDelete removes the entry whose key is m.Content[idx] from flow
// mapping m, with one comma.
func (s *stream) flowDelete(m *yaml.Node, idx int) (splice, error) {
	k, v := m.Content[idx], m.Content[idx+1]
	kp, err := s.offset(k)
	if err != nil {
		return splice{}, err
	}
	switch {
	case idx > 0:
		start, err := s.entryEnd(m.Content[idx-2], m.Content[idx-1])
		if err != nil {
			return splice{}, err
		}
		end, err := s.entryEnd(k, v)
		return splice{start, end, ""}, err
	case len(m.Content) > 2:
		np, err := s.offset(m.Content[2])
		return splice{kp, np, ""}, err
	default:
		end, err := s.entryEnd(k, v)
		if err != nil {
			return splice{}, err
		}
		j := s.skipSpace(end)
		if j < len(s.src) && s.src[j] == ',' {
			end = j + 1
		}
		return splice{kp, end, ""}, nil
	}
}

// checkAnchors refuses an edit that would change, through an alias, more
// than the node it edits: when one of the first n nodes of the chain, or a
// node of the extra trees, has an anchor that an alias uses.
func (s *stream) checkAnchors(r *resolution, n int, extra ...*yaml.Node) error {
	used := map[string]bool{}
	var collect func(n *yaml.Node)
	collect = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode {
			used[n.Value] = true
		}
		for _, c := range n.Content {
			collect(c)
		}
	}
	collect(s.docs[r.doc])
	if len(used) == 0 {
		return nil
	}
	for _, st := range r.chain[:n] {
		if a := st.node.Anchor; a != "" && used[a] {
			return unsupported("the value is inside the anchor &%s, which an alias uses", a)
		}
	}
	var check func(n *yaml.Node) error
	check = func(n *yaml.Node) error {
		if n == nil {
			return nil
		}
		if n.Anchor != "" && used[n.Anchor] {
			return unsupported("the entry holds the anchor &%s, which an alias uses", n.Anchor)
		}
		for _, c := range n.Content {
			if err := check(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, e := range extra {
		if err := check(e); err != nil {
			return err
		}
	}
	return nil
}
