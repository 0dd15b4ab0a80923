package setters

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	yamlv3 "go.yaml.in/yaml/v3"
)

// FuzzSetImage checks, for any input that parses and holds a container
// image, that Set on the first image either fails and returns the input, or
// changes only the bytes of that scalar, and that the result decodes (with
// a plain decode, not the package's own tree comparison) as the input with
// only that value changed. It checks UpdateMarkers the same way on the
// input's setter markers (see checkMarkers). Run it with
//
//	go test ./pkg/setters/ -run '^$' -fuzz FuzzSetImage -fuzztime 60s
//
// With SETTERS_FUZZ_STRICT=1 a refusal is a failure too, unless it is one
// of the documented ones (block scalar, alias or anchor, duplicate key,
// invalid UTF-8): that finds valid input the package fails to handle.
func FuzzSetImage(f *testing.F) {
	inputs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "setters", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "registry.example.com/team/app:2.0.1")
		f.Add(data, "app")
	}
	f.Add([]byte("spec:\n  containers:\n  - image: a\n"), "a: b")
	f.Add([]byte("{spec: {containers: [{image: 'a'}]}}"), "x,y")
	f.Add([]byte("spec:\n  containers:\n  - image: \"a\\\"b\" # c\n"), "it's")
	f.Add([]byte("containers:\n- image: a\n  b\n"), "true")

	f.Add([]byte("a: x # {\"$imagepolicy\": \"ns:p\"}\nb: [y, 'z'] # {\"$imagepolicy\": \"ns:p:tag\"}\n"), "v: 1")
	f.Add([]byte("- {newTag: 1.0, # {\"$imagepolicy\": \"ns:p:tag\"}\n  n: \"q\" # {\"$imagepolicy\": \"ns:q:name\"}\n}\n"), "true")

	f.Fuzz(func(t *testing.T, src []byte, image string) {
		checkMarkers(t, src, image)
		doc, path, node := firstImage(src)
		if node == nil {
			return
		}
		target := Target{Doc: doc, Path: make([]string, len(path))}
		for i, el := range path {
			if s, ok := el.(string); ok {
				target.Path[i] = s
			} else {
				target.Path[i] = strconv.Itoa(el.(int))
			}
		}
		out, err := Set(src, target, image)
		if err != nil {
			if !bytes.Equal(out, src) {
				t.Fatalf("Set failed (%v) but did not return the input", err)
			}
			if os.Getenv("SETTERS_FUZZ_STRICT") != "" && !expectedRefusal(err) {
				t.Fatalf("Set refused: %v\n%q", err, src)
			}
			return
		}
		if node.Value == image && node.ShortTag() == "!!str" {
			if !bytes.Equal(out, src) {
				t.Fatalf("Set of the same value changed the file:\n%s", out)
			}
			return
		}

		// Only the scalar's bytes changed.
		start, end, ok := fuzzScalarSpan(src, node)
		if ok {
			p := 0
			for p < len(src) && p < len(out) && src[p] == out[p] {
				p++
			}
			q := 0
			for q < len(src)-p && q < len(out)-p && src[len(src)-1-q] == out[len(out)-1-q] {
				q++
			}
			if p < start || len(src)-q > end {
				t.Fatalf("bytes [%d, %d) changed, outside the scalar at [%d, %d):\n--- in\n%s\n--- out\n%s", p, len(src)-q, start, end, src, out)
			}
		}

		// The documents are the same but for the image.
		want, err := decodeAll(src)
		if err != nil {
			return
		}
		if !setPath(want[doc], path, image) {
			t.Fatalf("path %v not found in the decoded input", path)
		}
		got, err := decodeAll(out)
		if err != nil {
			t.Fatalf("the output does not decode: %v\n%s", err, out)
		}
		if !equalValues(want, got) {
			t.Fatalf("documents differ beyond the image:\n--- in\n%s\n--- out\n%s\n--- want %#v\n--- got  %#v", src, out, want, got)
		}
	})
}

// firstImage finds the first "image" scalar of an item of a "containers"
// or "initContainers" sequence, and returns its document, its path (keys
// and indexes) and its node.
func firstImage(src []byte) (int, []any, *yamlv3.Node) {
	if !utf8.Valid(src) {
		return 0, nil, nil
	}
	var docs []*yamlv3.Node
	dec := yamlv3.NewDecoder(bytes.NewReader(src))
	for {
		n := new(yamlv3.Node)
		if err := dec.Decode(n); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return 0, nil, nil // the whole stream must parse
		}
		docs = append(docs, n)
	}
	for doc, n := range docs {
		if len(n.Content) == 0 {
			continue
		}
		if path, node := findImage(n.Content[0], nil); node != nil {
			return doc, path, node
		}
	}
	return 0, nil, nil
}

func findImage(n *yamlv3.Node, path []any) ([]any, *yamlv3.Node) {
	switch n.Kind {
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yamlv3.ScalarNode || k.ShortTag() != "!!str" {
				continue
			}
			p := append(path[:len(path):len(path)], k.Value)
			if (k.Value == "containers" || k.Value == "initContainers") && v.Kind == yamlv3.SequenceNode {
				for j, item := range v.Content {
					if item.Kind != yamlv3.MappingNode {
						continue
					}
					for x := 0; x+1 < len(item.Content); x += 2 {
						ik, iv := item.Content[x], item.Content[x+1]
						if ik.Kind == yamlv3.ScalarNode && ik.ShortTag() == "!!str" && ik.Value == "image" && iv.Kind == yamlv3.ScalarNode {
							return append(p, j, "image"), iv
						}
					}
				}
			}
			if found, node := findImage(v, p); node != nil {
				return found, node
			}
		}
	case yamlv3.SequenceNode:
		for j, item := range n.Content {
			if found, node := findImage(item, append(path[:len(path):len(path)], j)); node != nil {
				return found, node
			}
		}
	}
	return nil, nil
}

// fuzzScalarSpan finds the bytes of scalar n in src, for quoted scalars
// and plain scalars on one line; ok is false for others.
func fuzzScalarSpan(src []byte, n *yamlv3.Node) (start, end int, ok bool) {
	lines := [][]byte{}
	for rest := src; ; {
		i := bytes.IndexAny(rest, "\r\n")
		if i < 0 {
			lines = append(lines, rest)
			break
		}
		lines = append(lines, rest[:i])
		if rest[i] == '\r' && i+1 < len(rest) && rest[i+1] == '\n' {
			i++
		}
		rest = rest[i+1:]
	}
	if bytes.ContainsAny(src, "\u0085\u2028\u2029") || bytes.HasPrefix(src, utf8BOM) || n.Line > len(lines) {
		return 0, 0, false
	}
	off := 0
	for _, l := range lines[:n.Line-1] {
		off += len(l)
		off += breakLen(src, off)
	}
	line := lines[n.Line-1]
	col := 0
	for c := 1; c < n.Column; c++ {
		if col >= len(line) {
			return 0, 0, false
		}
		_, size := utf8.DecodeRune(line[col:])
		col += size
	}
	if n.Anchor != "" || n.Style&yamlv3.TaggedStyle != 0 {
		return off + col, len(src), true // properties first: only check the start
	}
	start = off + col
	switch {
	case n.Style&yamlv3.DoubleQuotedStyle != 0:
		for i := start + 1; i < len(src); i++ {
			switch src[i] {
			case '\\':
				i++
			case '"':
				return start, i + 1, true
			}
		}
	case n.Style&yamlv3.SingleQuotedStyle != 0:
		for i := start + 1; i < len(src); i++ {
			if src[i] == '\'' {
				if i+1 < len(src) && src[i+1] == '\'' {
					i++
					continue
				}
				return start, i + 1, true
			}
		}
	case n.Style == 0 && n.Value != "" && bytes.HasPrefix(line[col:], []byte(n.Value)):
		return start, start + len(n.Value), true
	}
	return 0, 0, false
}

func decodeAll(src []byte) (docs []any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("panic")
		}
	}()
	dec := yamlv3.NewDecoder(bytes.NewReader(src))
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
}

// setPath sets the value at path (string keys, int indexes) in v.
func setPath(v any, path []any, value string) bool {
	for i, el := range path {
		last := i == len(path)-1
		switch el := el.(type) {
		case string:
			switch m := v.(type) {
			case map[string]any:
				if _, ok := m[el]; !ok {
					return false
				}
				if last {
					m[el] = value
					return true
				}
				v = m[el]
			case map[any]any:
				if _, ok := m[el]; !ok {
					return false
				}
				if last {
					m[el] = value
					return true
				}
				v = m[el]
			default:
				return false
			}
		case int:
			s, ok := v.([]any)
			if !ok || el >= len(s) {
				return false
			}
			if last {
				s[el] = value
				return true
			}
			v = s[el]
		}
	}
	return false
}

// equalValues is reflect.DeepEqual, but NaN equals NaN.
func equalValues(a, b any) bool {
	switch a := a.(type) {
	case float64:
		if b, ok := b.(float64); ok && math.IsNaN(a) && math.IsNaN(b) {
			return true
		}
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalValues(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || !equalValues(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// expectedRefusal says whether err is one of the refusals the package
// documents, rather than a failure to handle valid input.
func expectedRefusal(err error) bool {
	for _, s := range []string{"block scalar", "alias", "anchor", "UTF-8", "there twice"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

// checkMarkers updates every setter marker of src to values made of image
// and checks that UpdateMarkers either fails and returns src, or changes
// only the lines of the marked scalars, keeps their markers, and gives
// documents that decode as the input with only the marked values changed.
func checkMarkers(t *testing.T, src []byte, image string) {
	markers, err := FindMarkers("fuzz.yaml", src)
	if len(markers) == 0 || err != nil {
		return
	}
	ref := ImageRef{Name: image, Tag: image, Digest: image}
	out, changes, err := UpdateMarkers("fuzz.yaml", src, func(PolicyRef) (ImageRef, bool) { return ref, true })
	if err != nil {
		if !bytes.Equal(out, src) {
			t.Fatalf("UpdateMarkers failed (%v) but did not return the input", err)
		}
		return
	}
	if len(changes) == 0 {
		if !bytes.Equal(out, src) {
			t.Fatalf("UpdateMarkers changed nothing but the file:\n%s", out)
		}
		return
	}

	// Only the lines of the changed scalars changed. A scalar may span
	// lines (a folded plain or quoted one); those lines may change.
	s, err := parseStream(src)
	if err != nil {
		t.Fatalf("the input parsed for FindMarkers but not again: %v", err)
	}
	mayChange := map[int]bool{}
	for _, c := range changes {
		r, err := s.resolve(c.Target)
		if err != nil || r.missing != nil {
			t.Fatalf("marker %v: target not found (%v)", c.Marker, err)
		}
		start, end, err := s.scalarSpan(r.last().node, -1)
		if err != nil {
			continue // UpdateMarkers succeeded, so this should not happen; the decode check below still runs
		}
		for l := s.lineOf(start); l <= s.lineOf(end); l++ {
			mayChange[l] = true
		}
	}
	o, err := parseStream(out)
	if err != nil {
		t.Fatalf("the output does not parse: %v\n%s", err, out)
	}
	// Folded scalars written on one line remove lines: compare the lines
	// before the first and after the last changed line.
	first, last := len(s.lines), -1
	for l := range mayChange {
		first, last = min(first, l), max(last, l)
	}
	for l := 0; l < first; l++ {
		if l >= len(o.lines) || !bytes.Equal(s.lineText(l), o.lineText(l)) {
			t.Fatalf("line %d changed, before the first marked value:\n--- in\n%s\n--- out\n%s", l+1, src, out)
		}
	}
	shift := len(o.lines) - len(s.lines)
	for l := last + 1; l < len(s.lines); l++ {
		if l+shift < 0 || !bytes.Equal(s.lineText(l), o.lineText(l+shift)) {
			t.Fatalf("line %d changed, after the last marked value:\n--- in\n%s\n--- out\n%s", l+1, src, out)
		}
	}
	for l := first; l <= last && shift == 0; l++ {
		if !mayChange[l] && !bytes.Equal(s.lineText(l), o.lineText(l)) {
			t.Fatalf("line %d changed, holding no marked value:\n--- in\n%s\n--- out\n%s", l+1, src, out)
		}
	}

	// The markers are still there, now holding the new values.
	again, err := FindMarkers("fuzz.yaml", out)
	if err != nil || len(again) != len(markers) {
		t.Fatalf("after the update: %d markers (%v), want %d:\n%s", len(again), err, len(markers), out)
	}
	for i, m := range again {
		want, _ := ref.Value(markers[i].Part)
		if m.Policy != markers[i].Policy || m.Part != markers[i].Part || m.Target.String() != markers[i].Target.String() || m.Value != want {
			t.Fatalf("after the update: marker %v = %q, want %v = %q", m, m.Value, markers[i], want)
		}
	}

	// The documents are the input's with the marked values set.
	want, err := decodeAll(src)
	if err != nil {
		return
	}
	for _, c := range changes {
		path := make([]any, len(c.Target.Path))
		for i, el := range c.Target.Path {
			path[i] = el
			if n, err := strconv.Atoi(el); err == nil && isSeqIndex(want[c.Target.Doc], c.Target.Path[:i]) {
				path[i] = n
			}
		}
		if !setPath(want[c.Target.Doc], path, c.NewValue) {
			// A key that decodes as a number or a bool (map[any]any):
			// the line checks above still hold.
			return
		}
	}
	got, err := decodeAll(out)
	if err != nil {
		t.Fatalf("the output does not decode: %v\n%s", err, out)
	}
	if !equalValues(want, got) {
		t.Fatalf("documents differ beyond the marked values:\n--- in\n%s\n--- out\n%s", src, out)
	}
}

// isSeqIndex says whether the value at path (string keys, or indexes of
// sequences) in v is a sequence, so that the next element is an index.
func isSeqIndex(v any, path []string) bool {
	for _, el := range path {
		switch m := v.(type) {
		case map[string]any:
			v = m[el]
		case map[any]any:
			v = m[el]
		case []any:
			n, err := strconv.Atoi(el)
			if err != nil || n >= len(m) {
				return false
			}
			v = m[n]
		default:
			return false
		}
	}
	_, ok := v.([]any)
	return ok
}
