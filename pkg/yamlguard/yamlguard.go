// Package yamlguard bounds what a YAML or JSON file from a repository may
// cost to decode, before any decoder expands it: the file's size, each
// document's size, nesting depth and the nodes that aliases add (a "billion
// laughs" document of a few hundred bytes expands to gigabytes).
//
// Every YAML the plugin reads from an untrusted source goes through Check:
// manifest files, the files a kustomization reads, a generator's output and
// .gitops.yaml. Check only rejects; the caller's own decoder still parses
// the data and reports syntax errors.
package yamlguard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	yamlv3 "go.yaml.in/yaml/v3"
)

const (
	// MaxFileSize bounds a file, or a generator's output.
	MaxFileSize = 64 << 20
	// MaxDocumentSize bounds the text of one document (between "---"
	// lines): twice the largest request the Kubernetes API server takes.
	MaxDocumentSize = 8 << 20
	// MaxDepth bounds the nesting of mappings and sequences in a
	// document, aliases expanded.
	MaxDepth = 512
	// AliasAllowance is how many nodes aliases may add to a document
	// beyond the number of nodes written in it: aliases may at most
	// double a document, plus this.
	AliasAllowance = 4096
)

// Error is a file that is too costly to decode. Line is the line of the
// document at fault, 0 when the whole file is.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return e.File + ": " + e.Msg
}

// Check returns an *Error when data, the content of the file named name,
// is larger than MaxFileSize, has a document larger than MaxDocumentSize,
// nests deeper than MaxDepth, or has aliases that add more nodes than the
// document holds plus AliasAllowance. It returns nil for data that does
// not parse: the caller's decoder reports that.
//
// Documents are checked as a YAML stream, where an alias may refer to an
// anchor of an earlier document (go.yaml.in/yaml/v3 and kustomize read it
// so), and, when the stream does not parse or a "---" line carries content,
// also one by one as kubectl splits them on "---" lines.
func Check(name string, data []byte) error {
	if len(data) > MaxFileSize {
		return &Error{File: name, Msg: fmt.Sprintf("the file has %s, more than the %d MiB allowed", size(len(data)), MaxFileSize>>20)}
	}
	docs, inline := split(data)
	for _, d := range docs {
		if len(d.text) > MaxDocumentSize {
			return &Error{File: name, Line: d.line, Msg: fmt.Sprintf("the document has %s, more than the %d MiB allowed", size(len(d.text)), MaxDocumentSize>>20)}
		}
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		if line, ok := jsonDepth(data); !ok {
			return &Error{File: name, Line: line, Msg: fmt.Sprintf("nesting deeper than %d levels", MaxDepth)}
		}
	}
	if !mayAlias(data) && shallow(docs) {
		// Nothing to expand, and no document can nest deeper than
		// MaxDepth: no need to parse.
		return nil
	}
	parsed, err := checkStream(name, data, 1)
	if err != nil {
		return err
	}
	if parsed && !inline {
		return nil
	}
	for _, d := range docs {
		if _, err := checkStream(name, d.body, d.bodyLine); err != nil {
			return err
		}
	}
	return nil
}

// mayAlias says whether data may hold an alias: a "*" at the start of a
// token. A "*" within a quoted string or a word ("\"*\"", "a*b") is none.
func mayAlias(data []byte) bool {
	for i := bytes.IndexByte(data, '*'); i >= 0; {
		if i == 0 {
			return true
		}
		switch data[i-1] {
		case ' ', '\t', '\n', '\r', '[', '{', ',', ':':
			return true
		}
		next := bytes.IndexByte(data[i+1:], '*')
		if next < 0 {
			return false
		}
		i += 1 + next
	}
	return false
}

// shallow says whether no document of docs can nest deeper than MaxDepth
// (see depthBound).
func shallow(docs []document) bool {
	for _, d := range docs {
		if depthBound(d.text) > MaxDepth {
			return false
		}
	}
	return true
}

// depthBound bounds the nesting of the YAML document text without parsing
// it. A block collection starts at its line's indentation, or after the
// indicators ("- ", "? ", ": ") that start the line; its block children
// start further right, but for a sequence that is a mapping's value, so
// block nesting is at most twice the rightmost such column, plus one. Flow
// collections nest at most as deep as text has "[" and "{".
func depthBound(text []byte) int {
	col, opens := 0, 0
	for line := range bytes.Lines(text) {
		n := 0
		for n < len(line) && bytes.IndexByte([]byte(" \t-?:"), line[n]) >= 0 {
			n++
		}
		col = max(col, n)
		opens += bytes.Count(line, []byte("[")) + bytes.Count(line, []byte("{"))
	}
	return 2*(col+1) + 1 + opens
}

// document is one document of a file split on "---" lines: text includes
// its separator line, body does not.
type document struct {
	text, body     []byte
	line, bodyLine int
}

// split splits data on lines starting with "---", as kubectl does. inline
// says whether a separator line carries more than a comment.
func split(data []byte) (docs []document, inline bool) {
	cur := document{line: 1, bodyLine: 1}
	begin, bodyBegin := 0, 0
	for n, off := 1, 0; off < len(data); n++ {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off + 1
		}
		if rest, ok := bytes.CutPrefix(data[off:end], []byte("---")); ok {
			cur.text, cur.body = data[begin:off], data[bodyBegin:off]
			docs = append(docs, cur)
			if rest = bytes.TrimSpace(rest); len(rest) > 0 && rest[0] != '#' {
				inline = true
			}
			cur = document{line: n, bodyLine: n + 1}
			begin, bodyBegin = off, end
		}
		off = end
	}
	cur.text, cur.body = data[begin:], data[bodyBegin:]
	return append(docs, cur), inline
}

// checkStream checks the documents of data, whose first line is line first
// of the file, as one YAML stream. parsed says whether the whole stream
// parsed.
func checkStream(name string, data []byte, first int) (parsed bool, err error) {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	c := &counter{memo: map[*yamlv3.Node]cost{}}
	// Without a "*" there is no alias to expand: only the depth counts.
	aliases := bytes.IndexByte(data, '*') >= 0
	for {
		var doc yamlv3.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return true, nil
		} else if err != nil {
			return false, nil
		}
		line := first + doc.Line - 1
		if !aliases {
			if depth(&doc, -1) > MaxDepth {
				return false, &Error{File: name, Line: line, Msg: fmt.Sprintf("nesting deeper than %d levels", MaxDepth)}
			}
			continue
		}
		written := c.written(&doc)
		total := c.cost(&doc, 0)
		switch {
		case total.depth > MaxDepth:
			return false, &Error{File: name, Line: line, Msg: fmt.Sprintf("nesting deeper than %d levels (aliases expanded)", MaxDepth)}
		case total.nodes > 2*written+AliasAllowance:
			return false, &Error{File: name, Line: line, Msg: fmt.Sprintf("aliases expand the document's %d nodes to more than %d; write the values out instead of using anchors this much", written, 2*written+AliasAllowance)}
		}
	}
}

// cost is the size of a node with its aliases expanded: its nodes and the
// depth of its deepest descendant below it.
type cost struct {
	nodes int
	depth int
}

// limit stops counting once a document is over any bound, so that sums of
// exponentially many nodes stay small numbers.
const limit = 1 << 40

type counter struct {
	memo map[*yamlv3.Node]cost
	seen map[*yamlv3.Node]bool
}

// depth returns the depth of the deepest node below n, n being at level
// d, stopping past MaxDepth. A document's own node is at level -1.
func depth(n *yamlv3.Node, d int) int {
	deepest := d
	if d > MaxDepth {
		return d
	}
	for _, child := range n.Content {
		deepest = max(deepest, depth(child, d+1))
	}
	return deepest
}

// written counts the nodes written in n, not following aliases.
func (c *counter) written(n *yamlv3.Node) int {
	total := 1
	for _, child := range n.Content {
		total += c.written(child)
	}
	return total
}

// cost returns the cost of n, aliases expanded. depth is n's own depth,
// only to stop early on a document too deep to walk.
func (c *counter) cost(n *yamlv3.Node, depth int) cost {
	if v, ok := c.memo[n]; ok {
		return v
	}
	if depth > MaxDepth {
		return cost{nodes: 1, depth: limit}
	}
	var v cost
	switch {
	case n.Kind == yamlv3.AliasNode && n.Alias != nil:
		if c.seen == nil {
			c.seen = map[*yamlv3.Node]bool{}
		}
		if c.seen[n] {
			// An alias within its own anchor: the parser refuses these;
			// do not loop if it ever does not.
			return cost{nodes: limit, depth: limit}
		}
		c.seen[n] = true
		v = c.cost(n.Alias, depth)
		delete(c.seen, n)
	default:
		v.nodes = 1
		for _, child := range n.Content {
			cc := c.cost(child, depth+1)
			v.nodes = min(v.nodes+cc.nodes, limit)
			v.depth = max(v.depth, cc.depth+1)
		}
		if n.Kind == yamlv3.DocumentNode {
			// The document node is no level of nesting.
			v.depth = max(v.depth-1, 0)
		}
	}
	v.depth = min(v.depth, limit)
	if n.Anchor != "" {
		// Only anchored nodes are reached more than once; keeping no
		// others lets each document's nodes go once it is checked.
		c.memo[n] = v
	}
	return v
}

// jsonDepth scans data as JSON for the nesting of arrays and objects. It
// returns false, with the line, when the nesting goes deeper than MaxDepth.
func jsonDepth(data []byte) (line int, ok bool) {
	depth, line := 0, 1
	inString, escaped := false, false
	for _, b := range data {
		switch {
		case b == '\n':
			line++
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			if depth++; depth > MaxDepth {
				return line, false
			}
		case b == '}' || b == ']':
			depth--
		}
	}
	return 0, true
}

// size says n bytes in MiB, KiB or bytes.
func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// ErrEmpty is OneDocument's error for data that holds no document.
var ErrEmpty = errors.New("the file is empty")

// OneDocument decodes data, a file that must hold exactly one YAML
// document, and returns the document's root node. Data without a document
// is ErrEmpty; a second document is a *DocumentError at its line; data
// that does not parse is the decoder's error. Callers run Check first.
func OneDocument(data []byte) (*yamlv3.Node, error) {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	var doc yamlv3.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
		}
		return nil, err
	}
	var extra yamlv3.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &DocumentError{Line: extra.Line}
	} else if !errors.Is(err, io.EOF) {
		return nil, err
	}
	return doc.Content[0], nil
}

// DocumentError is a second document in a file that must hold one.
type DocumentError struct{ Line int }

func (e *DocumentError) Error() string {
	return "the file holds more than one YAML document; put everything in one"
}

// Describe says what a node is, for an error that expected another kind:
// "a mapping", "a list", "null" or the scalar quoted.
func Describe(n *yamlv3.Node) string {
	switch n.Kind {
	case yamlv3.MappingNode:
		return "a mapping"
	case yamlv3.SequenceNode:
		return "a list"
	case yamlv3.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}
