package setters

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// stream is a parsed YAML stream together with its bytes, so that a node
// found in the parsed documents can be mapped back to where it is written.
type stream struct {
	src  []byte
	docs []*yaml.Node // document nodes, in order
	// lines holds the offset in src of the start of each line, counted the
	// way the YAML parser counts them (CR LF, CR, LF, NEL, LS and PS end a
	// line), so that lines[n.Line-1] is the line of node n.
	lines []int
	bom   int // length of the byte order mark at the start of src
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseError is a YAML syntax error, with the line where the parser found
// it, or where the construct holding it starts.
type ParseError struct {
	Line int // 1-based; 0 when the parser did not say
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return e.Msg
}

// yamlErrLine matches the line number in the errors of go.yaml.in/yaml/v3,
// which count lines from the start of the stream.
var yamlErrLine = regexp.MustCompile(`line (\d+): ([^\n]*)`)

// parserErrors are the messages of go.yaml.in/yaml/v3's parser, as opposed
// to its scanner: it reports their line 0-based.
var parserErrors = []string{
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected key",
	"did not find expected '-' indicator",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

func parseError(err error) error {
	msg := err.Error()
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		if slices.Contains(parserErrors, m[2]) {
			n++
		}
		return &ParseError{Line: n, Msg: m[2]}
	}
	if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	return &ParseError{Msg: msg}
}

// parseStream parses src, a YAML stream of any number of documents.
func parseStream(src []byte) (s *stream, err error) {
	if bytes.HasPrefix(src, []byte{0xFE, 0xFF}) || bytes.HasPrefix(src, []byte{0xFF, 0xFE}) {
		return nil, &ParseError{Msg: "the file is UTF-16: save it as UTF-8"}
	}
	if !utf8.Valid(src) {
		return nil, &ParseError{Line: firstInvalidLine(src), Msg: "invalid UTF-8"}
	}
	defer func() {
		// The parser is not expected to panic, but a panic here would take
		// down a whole command for one odd file.
		if r := recover(); r != nil {
			s, err = nil, &ParseError{Msg: fmt.Sprintf("cannot parse: %v", r)}
		}
	}()
	s = &stream{src: src, lines: lineStarts(src)}
	if bytes.HasPrefix(src, utf8BOM) {
		s.bom = len(utf8BOM)
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		doc := new(yaml.Node)
		err := dec.Decode(doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, parseError(err)
		}
		s.docs = append(s.docs, doc)
	}
	return s, nil
}

func firstInvalidLine(src []byte) int {
	line := 1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			return line
		}
		if r == '\n' {
			line++
		}
		i += size
	}
	return 0
}

// breakLen returns the length of the line break at src[i], 0 if there is
// none. It counts what the YAML parser counts as a line break.
func breakLen(src []byte, i int) int {
	if i >= len(src) {
		return 0
	}
	switch c := src[i]; {
	case c == '\n':
		return 1
	case c == '\r':
		if i+1 < len(src) && src[i+1] == '\n' {
			return 2
		}
		return 1
	case c == 0xC2 && i+1 < len(src) && src[i+1] == 0x85: // NEL
		return 2
	case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xA8 || src[i+2] == 0xA9): // LS, PS
		return 3
	}
	return 0
}

func lineStarts(src []byte) []int {
	starts := []int{0}
	for i := 0; i < len(src); {
		if n := breakLen(src, i); n > 0 {
			i += n
			starts = append(starts, i)
			continue
		}
		i++
	}
	return starts
}

// errLocate means that a node could not be found in the bytes where the
// parser said it is, or that its extent could not be worked out. It should
// not happen with what people write; it is reported as an unsupported
// layout rather than risk a wrong edit.
var errLocate = errors.New("cannot locate the node in the file")

func locateErr(n *yaml.Node, what string) error {
	if n == nil {
		return fmt.Errorf("%w: %s", errLocate, what)
	}
	return fmt.Errorf("%w: line %d column %d: %s", errLocate, n.Line, n.Column, what)
}

// lineStart returns the offset of the first byte of line i (0-based), after
// the byte order mark on the first line.
func (s *stream) lineStart(i int) int {
	if i == 0 {
		return s.bom
	}
	return s.lines[i]
}

// lineEnd returns the offset of the line break ending line i, or len(src).
func (s *stream) lineEnd(i int) int {
	end := len(s.src)
	if i+1 < len(s.lines) {
		end = s.lines[i+1]
		// Step back over the break.
		for j := s.lines[i]; j < end; j++ {
			if n := breakLen(s.src, j); n > 0 && j+n == end {
				return j
			}
		}
	}
	return end
}

// nextLine returns the offset of the start of the line after line i, or
// len(src) if line i is the last one.
func (s *stream) nextLine(i int) int {
	if i+1 < len(s.lines) {
		return s.lines[i+1]
	}
	return len(s.src)
}

// hasBreak says whether line i ends with a line break.
func (s *stream) hasBreak(i int) bool { return i+1 < len(s.lines) }

// lineOf returns the 0-based line holding offset off.
func (s *stream) lineOf(off int) int {
	return sort.Search(len(s.lines), func(k int) bool { return s.lines[k] > off }) - 1
}

// lineText returns line i without its line break.
func (s *stream) lineText(i int) []byte { return s.src[s.lineStart(i):s.lineEnd(i)] }

// eol returns the line break to use for a line inserted after line i: the
// one ending line i, else the first one in the file, else "\n".
func (s *stream) eol(i int) string {
	if s.hasBreak(i) {
		e := s.lineEnd(i)
		return string(s.src[e:s.lines[i+1]])
	}
	if len(s.lines) > 1 {
		return string(s.src[s.lineEnd(0):s.lines[1]])
	}
	return "\n"
}

// offset returns the offset in src of the node's position (1-based line
// and column, the column counted in characters as the parser counts it).
func (s *stream) offset(n *yaml.Node) (int, error) {
	if n.Line < 1 || n.Line > len(s.lines) || n.Column < 1 {
		return 0, locateErr(n, "position out of range")
	}
	i := n.Line - 1
	off, end := s.lineStart(i), s.lineEnd(i)
	for c := 1; c < n.Column; c++ {
		if off >= end {
			return 0, locateErr(n, "column past the end of the line")
		}
		_, size := utf8.DecodeRune(s.src[off:end])
		off += size
	}
	return off, nil
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// indentOf returns the number of spaces that start line i.
func (s *stream) indentOf(i int) int {
	t := s.lineText(i)
	n := 0
	for n < len(t) && t[n] == ' ' {
		n++
	}
	return n
}

// blankLine says whether line i holds nothing but spaces and tabs.
func (s *stream) blankLine(i int) bool {
	for _, c := range s.lineText(i) {
		if !isBlank(c) {
			return false
		}
	}
	return true
}

// commentLine says whether line i holds only a comment.
func (s *stream) commentLine(i int) bool {
	t := bytes.TrimLeft(s.lineText(i), " \t")
	return len(t) > 0 && t[0] == '#'
}

// skipSpace skips spaces, tabs, line breaks and comments from off.
func (s *stream) skipSpace(off int) int {
	for off < len(s.src) {
		c := s.src[off]
		switch {
		case isBlank(c):
			off++
		case breakLen(s.src, off) > 0:
			off += breakLen(s.src, off)
		case c == '#' && (off == 0 || isBlank(s.src[off-1]) || breakLen(s.src, off-1) > 0 || off == s.bom):
			for off < len(s.src) && breakLen(s.src, off) == 0 {
				off++
			}
		default:
			return off
		}
	}
	return off
}

// props skips the node properties (anchor and tag) at off. It returns the
// offset just after the last property, and the offset of the node's content
// (after the spaces, line breaks and comments that follow the properties).
// Without properties both are off.
func (s *stream) props(off int) (end, content int) {
	end, content = off, off
	for content < len(s.src) {
		switch c := s.src[content]; c {
		case '&':
			i := content + 1
			for i < len(s.src) && isAnchorChar(s.src[i]) {
				i++
			}
			end = i
		case '!':
			i := content + 1
			for i < len(s.src) && !isBlank(s.src[i]) && breakLen(s.src, i) == 0 && !isFlowIndicator(s.src[i]) {
				i++
			}
			end = i
		default:
			return end, content
		}
		content = s.skipSpace(end)
	}
	return end, content
}

func isAnchorChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
}

func isFlowIndicator(c byte) bool {
	return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'
}

// start returns the offset of the node's content, after its properties.
func (s *stream) start(n *yaml.Node) (int, error) {
	off, err := s.offset(n)
	if err != nil {
		return 0, err
	}
	_, c := s.props(off)
	return c, nil
}

// isImplicitNull says whether n is an empty value with nothing written, as
// in "key:" with no value. The parser's position for such a node is that of
// the next token, so it is never used.
func isImplicitNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "" && n.Style == 0 && n.Anchor == "" && n.Tag == "!!null"
}

func isBlockScalar(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
}

func isFlow(n *yaml.Node) bool { return n.Style&yaml.FlowStyle != 0 }

// scalarSpan returns where the text of scalar n is: [start, end). indent is
// the indentation of the block collection holding n (-1 at the root), which
// bounds the content of a block scalar.
func (s *stream) scalarSpan(n *yaml.Node, indent int) (start, end int, err error) {
	off, err := s.offset(n)
	if err != nil {
		return 0, 0, err
	}
	propEnd, p := s.props(off)
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if p >= len(s.src) || s.src[p] != '"' {
			return 0, 0, locateErr(n, `no '"' where the scalar starts`)
		}
		for i := p + 1; i < len(s.src); i++ {
			switch s.src[i] {
			case '\\':
				i++
			case '"':
				return p, i + 1, nil
			}
		}
		return 0, 0, locateErr(n, "unterminated double-quoted scalar")
	case n.Style&yaml.SingleQuotedStyle != 0:
		if p >= len(s.src) || s.src[p] != '\'' {
			return 0, 0, locateErr(n, `no "'" where the scalar starts`)
		}
		for i := p + 1; i < len(s.src); i++ {
			if s.src[i] == '\'' {
				if i+1 < len(s.src) && s.src[i+1] == '\'' {
					i++
					continue
				}
				return p, i + 1, nil
			}
		}
		return 0, 0, locateErr(n, "unterminated single-quoted scalar")
	case isBlockScalar(n):
		end, err := s.blockScalarEnd(n, p, indent)
		return p, end, err
	case n.Value == "":
		if propEnd == off {
			return 0, 0, locateErr(n, "empty value")
		}
		// Only properties, as in "key: !!null" or "key: &a".
		return propEnd, propEnd, nil
	default:
		end, ok := s.matchPlain(p, n.Value)
		if !ok {
			return 0, 0, locateErr(n, fmt.Sprintf("plain scalar %q not found", n.Value))
		}
		return p, end, nil
	}
}

// matchPlain matches the plain scalar value against the text at p, folding
// line breaks as the parser does, and returns the offset after it.
func (s *stream) matchPlain(p int, value string) (int, bool) {
	src := s.src
	i, j := p, 0
	for j < len(value) {
		if i >= len(src) {
			return 0, false
		}
		if isBlank(src[i]) {
			k := i
			for k < len(src) && isBlank(src[k]) {
				k++
			}
			if breakLen(src, k) == 0 {
				// Spaces inside a line are part of the value.
				if value[j] != src[i] {
					return 0, false
				}
				i++
				j++
				continue
			}
			i = k // trailing spaces before a fold
		}
		if breakLen(src, i) > 0 {
			breaks := 0
			for breakLen(src, i) > 0 {
				i += breakLen(src, i)
				breaks++
				for i < len(src) && isBlank(src[i]) {
					i++
				}
			}
			if breaks == 1 {
				if value[j] != ' ' {
					return 0, false
				}
				j++
				continue
			}
			for b := 1; b < breaks; b++ {
				if j >= len(value) || value[j] != '\n' {
					return 0, false
				}
				j++
			}
			continue
		}
		if src[i] != value[j] {
			return 0, false
		}
		i++
		j++
	}
	return i, true
}

// blockScalarEnd returns the offset of the end of the last line of the
// block scalar (| or >) whose header is at p, held by a block collection of
// the given indentation.
func (s *stream) blockScalarEnd(n *yaml.Node, p, indent int) (int, error) {
	if p >= len(s.src) || (s.src[p] != '|' && s.src[p] != '>') {
		return 0, locateErr(n, "no block scalar header")
	}
	keep := false
	for i := p + 1; i < len(s.src) && !isBlank(s.src[i]) && breakLen(s.src, i) == 0; i++ {
		if s.src[i] == '+' {
			keep = true
		}
	}
	header := s.lineOf(p)
	last := header
	for i := header + 1; i < len(s.lines); i++ {
		if s.blankLine(i) {
			if keep {
				last = i
			}
			continue
		}
		if s.indentOf(i) <= indent || (indent < 0 && isDocMarker(s.lineText(i))) {
			break
		}
		last = i
	}
	return s.lineEnd(last), nil
}

// isDocMarker says whether line starts with a document marker, "---" or
// "...", that ends a document's content.
func isDocMarker(line []byte) bool {
	if len(line) < 3 || (string(line[:3]) != "---" && string(line[:3]) != "...") {
		return false
	}
	return len(line) == 3 || isBlank(line[3])
}

// nodeEnd returns the offset just after the last character of node n.
// indent is the indentation of the block collection holding n (-1 at the
// root).
func (s *stream) nodeEnd(n *yaml.Node, indent int) (int, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		_, end, err := s.scalarSpan(n, indent)
		return end, err
	case yaml.AliasNode:
		p, err := s.offset(n)
		if err != nil {
			return 0, err
		}
		if p >= len(s.src) || s.src[p] != '*' {
			return 0, locateErr(n, "no '*' where the alias starts")
		}
		return p + 1 + len(n.Value), nil
	case yaml.MappingNode, yaml.SequenceNode:
		if isFlow(n) {
			p, err := s.start(n)
			if err != nil {
				return 0, err
			}
			return s.flowEnd(n, p)
		}
		if len(n.Content) == 0 {
			return 0, locateErr(n, "empty block collection")
		}
		if n.Kind == yaml.MappingNode {
			return s.entryEnd(n.Content[len(n.Content)-2], n.Content[len(n.Content)-1])
		}
		item := n.Content[len(n.Content)-1]
		ind, err := s.itemIndent(item)
		if err != nil {
			return 0, err
		}
		return s.nodeEnd(item, ind)
	}
	return 0, locateErr(n, "unexpected node kind")
}

// itemIndent returns the indentation of the block sequence holding item:
// the column of the "-" before it, 0-based.
func (s *stream) itemIndent(item *yaml.Node) (int, error) {
	if isImplicitNull(item) {
		return 0, locateErr(item, "empty sequence item")
	}
	p, err := s.offset(item)
	if err != nil {
		return 0, err
	}
	i := p - 1
	for i >= 0 && isBlank(s.src[i]) {
		i--
	}
	if i < 0 || s.src[i] != '-' {
		return 0, locateErr(item, "no '-' before the sequence item")
	}
	line := s.lineOf(i)
	return utf8.RuneCount(s.src[s.lineStart(line):i]), nil
}

// keyIndent returns the indentation of the block mapping whose key is k.
func keyIndent(k *yaml.Node) int { return k.Column - 1 }

// entryEnd returns the offset after the last character of the mapping
// entry k: v.
func (s *stream) entryEnd(k, v *yaml.Node) (int, error) {
	if isImplicitNull(v) {
		return s.colonEnd(k)
	}
	return s.nodeEnd(v, keyIndent(k))
}

// colonEnd returns the offset after the ":" that follows key k.
func (s *stream) colonEnd(k *yaml.Node) (int, error) {
	if k.Kind != yaml.ScalarNode || isImplicitNull(k) {
		return 0, locateErr(k, "complex mapping key")
	}
	end, err := s.nodeEnd(k, -1)
	if err != nil {
		return 0, err
	}
	for end < len(s.src) && isBlank(s.src[end]) {
		end++
	}
	if end >= len(s.src) || s.src[end] != ':' {
		return 0, locateErr(k, "no ':' after the key")
	}
	return end + 1, nil
}

// flowEnd returns the offset after the bracket closing the flow collection
// that opens at p.
func (s *stream) flowEnd(n *yaml.Node, p int) (int, error) {
	src := s.src
	if p >= len(src) || (src[p] != '{' && src[p] != '[') {
		return 0, locateErr(n, "no bracket where the flow collection starts")
	}
	depth := 0
	nodeStart := true // at a place where a node may start
	for i := p; i < len(src); {
		c := src[i]
		switch {
		case isBlank(c):
			i++
		case breakLen(src, i) > 0:
			i += breakLen(src, i)
		case c == '#' && i > 0 && (isBlank(src[i-1]) || breakLen(src, i-1) > 0):
			for i < len(src) && breakLen(src, i) == 0 {
				i++
			}
		case c == '{' || c == '[':
			depth++
			i++
			nodeStart = true
		case c == '}' || c == ']':
			depth--
			i++
			if depth == 0 {
				return i, nil
			}
			nodeStart = false
		case c == ',':
			i++
			nodeStart = true
		case c == '?' || c == ':':
			i++
			nodeStart = true
		case (c == '"' || c == '\'') && nodeStart:
			i++
			for i < len(src) {
				if c == '"' && src[i] == '\\' {
					i += 2
					continue
				}
				if src[i] == c {
					if c == '\'' && i+1 < len(src) && src[i+1] == '\'' {
						i += 2
						continue
					}
					break
				}
				i++
			}
			i++
			nodeStart = false
		case (c == '&' || c == '!') && nodeStart:
			for i < len(src) && !isBlank(src[i]) && breakLen(src, i) == 0 && !isFlowIndicator(src[i]) {
				i++
			}
		default:
			// A plain scalar (or an alias): up to a flow indicator, ": ",
			// " #" or the end of the line.
			for i < len(src) && breakLen(src, i) == 0 && !isFlowIndicator(src[i]) {
				if src[i] == ':' && (i+1 >= len(src) || isBlank(src[i+1]) || breakLen(src, i+1) > 0 || isFlowIndicator(src[i+1])) {
					break
				}
				if src[i] == '#' && isBlank(src[i-1]) {
					break
				}
				i++
			}
			nodeStart = false
		}
	}
	return 0, locateErr(n, "unterminated flow collection")
}
