package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamlguard"
)

// decodeFile decodes the manifests in data, the content of file, in document
// order. It returns the objects and every problem found. When lines is false
// the origins carry no line, because data is not what the user wrote (it is
// the output of kustomize).
//
// As with kubectl, data starting with "{" is read as a stream of JSON
// values, falling back to YAML if the first or second value is not JSON, and
// anything else is YAML, decoded with the YAML 1.1 rules of kubectl, so that
// the objects are the ones `kubectl apply -f` would send.
func decodeFile(file string, data []byte, lines bool) ([]Object, []error) {
	return decodeOutput(Origin{File: file}, data, lines)
}

// decodeOutput is decodeFile for data from origin's File or, when origin
// names a Generator, from that generator's output.
//
// Before anything is decoded, data goes through yamlguard.Check, which
// refuses what would cost too much memory to decode (aliases expanding a
// few bytes into gigabytes, deep nesting, huge documents).
func decodeOutput(origin Origin, data []byte, lines bool) ([]Object, []error) {
	file := origin.File
	d := &decoder{file: file, generator: origin.Generator, lines: lines}
	if err := guard(origin, data); err != nil {
		return nil, []error{err}
	}
	if !bytes.HasPrefix(bytes.TrimLeftFunc(data, unicode.IsSpace), []byte("{")) {
		d.decodeYAML(data, 1)
		return d.objs, d.errs
	}
	n, off, line, err := d.decodeJSON(data)
	if err == nil {
		return d.objs, d.errs
	}
	if n > 1 {
		return d.objs, append(d.errs, err)
	}
	y := &decoder{file: file, generator: origin.Generator, lines: lines}
	y.decodeYAML(data[off:], line)
	if len(y.errs) > 0 && path.Ext(file) == ".json" {
		// Neither JSON nor YAML: in a .json file, JSON is what was meant.
		return d.objs, append(d.errs, err)
	}
	return append(d.objs, y.objs...), append(d.errs, y.errs...)
}

// guard checks data from origin with yamlguard.Check, returning an *Error
// with the line of the document at fault.
func guard(origin Origin, data []byte) error {
	err := yamlguard.Check(origin.String(), data)
	if err == nil {
		return nil
	}
	var e *yamlguard.Error
	if !errors.As(err, &e) {
		return &Error{Origin: origin, Err: err}
	}
	origin.Line = e.Line
	return &Error{Origin: origin, Err: errors.New(e.Msg)}
}

type decoder struct {
	file      string
	generator string
	lines     bool
	objs      []Object
	errs      []error
}

func (d *decoder) origin(line int) Origin {
	if !d.lines {
		line = 0
	}
	return Origin{File: d.file, Line: line, Generator: d.generator}
}

func (d *decoder) fail(line int, err error) {
	d.errs = append(d.errs, &Error{Origin: d.origin(line), Err: err})
}

// decodeYAML splits data into documents on "---" lines, as kubectl does, and
// decodes each one. A broken document does not stop the next ones.
// Lines count from first, the line of data[0] in the file.
func (d *decoder) decodeYAML(data []byte, first int) {
	var (
		start   = first // line of the first line of the current document
		content = 0     // line of its first line that is not blank or a comment
		begin   = 0     // offset of the current document in data
	)
	for n, off := first, 0; off < len(data); n++ {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off + 1
		}
		line := data[off:end]
		if rest, ok := bytes.CutPrefix(line, []byte("---")); ok {
			rest = bytes.TrimSpace(rest)
			if len(rest) > 0 && rest[0] != '#' {
				// kubectl rejects this too: it splits documents before
				// parsing, so content after the separator would be lost.
				d.fail(n, fmt.Errorf("yaml: invalid document separator %q: put the document on the next line", bytes.TrimSpace(line)))
			}
			if content > 0 {
				d.decodeYAMLDocument(data[begin:off], start, content)
			}
			start, content, begin = n+1, 0, end
		} else if content == 0 {
			if t := bytes.TrimLeft(line, " \t\r\n"); len(t) > 0 && t[0] != '#' {
				content = n
			}
		}
		off = end
	}
	if content > 0 {
		d.decodeYAMLDocument(data[begin:], start, content)
	}
}

// yamlLineError matches the errors of go.yaml.in/yaml/v2, whose line numbers
// count from the start of the document.
var yamlLineError = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// decodeYAMLDocument decodes doc, which starts at line start of the file and
// whose content starts at line content.
func (d *decoder) decodeYAMLDocument(doc []byte, start, content int) {
	v, err := yamlToJSONValue(doc)
	if err != nil {
		if m := yamlLineError.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			d.fail(start+n-1, errors.New("yaml: "+m[2]))
		} else {
			d.fail(content, err)
		}
		return
	}
	d.decodeValue(v, doc, start, content)
}

// decodeJSON decodes a stream of JSON values. On a syntax error, which ends
// the stream, it returns the error, the number n of values decoded before it,
// and the offset and line in data where the failing value began.
func (d *decoder) decodeJSON(data []byte) (n, off, line int, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	lines, counted := 1, 0 // lines is the line of data[counted]
	lineAt := func(off int) int {
		lines += bytes.Count(data[counted:off], []byte("\n"))
		counted = off
		return lines
	}
	for ; ; n++ {
		off = int(dec.InputOffset())
		off += len(data[off:]) - len(bytes.TrimLeftFunc(data[off:], unicode.IsSpace))
		line = lineAt(off)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return n, off, line, nil
		} else if err != nil {
			at := line
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) && int(syntax.Offset) >= off && int(syntax.Offset) <= len(data) {
				at = lineAt(int(syntax.Offset))
			}
			return n, off, line, &Error{Origin: d.origin(at), Err: fmt.Errorf("json: %w", err)}
		}
		var v any
		if err := utiljson.Unmarshal(raw, &v); err != nil {
			d.fail(line, fmt.Errorf("json: %w", err))
			continue
		}
		d.decodeValue(v, raw, line, line)
	}
}

// decodeValue turns v, the decoded JSON value of one document, into objects.
// src is the document as written, starting at line start of the file, its
// content at line content; it is read again only to find the lines of a
// List's items.
func (d *decoder) decodeValue(v any, src []byte, start, content int) {
	switch v := v.(type) {
	case nil:
		// An empty document, or one of only comments, or "null".
	case map[string]any:
		if isList(v) {
			d.expandList(v, src, start, content)
			return
		}
		d.add(v, content)
	default:
		d.fail(content, fmt.Errorf("document is %s, not an object", describe(v)))
	}
}

// isList says whether m is a list of objects, like the v1 List that
// `kubectl get -o yaml` prints or a typed list like ConfigMapList.
func isList(m map[string]any) bool {
	kind, _ := m["kind"].(string)
	_, hasItems := m["items"]
	return strings.HasSuffix(kind, "List") && hasItems
}

func (d *decoder) expandList(list map[string]any, src []byte, start, content int) {
	items, ok := list["items"].([]any)
	if !ok && list["items"] != nil {
		d.fail(content, fmt.Errorf("%s items is %s, not a list", list["kind"], describe(list["items"])))
		return
	}
	var lines []int
	if d.lines {
		lines = itemLines(src, len(items))
	}
	for i, item := range items {
		line := content
		if lines != nil {
			line = start + lines[i] - 1
		}
		m, ok := item.(map[string]any)
		if !ok {
			d.fail(line, fmt.Errorf("%s item %d is %s, not an object", list["kind"], i, describe(item)))
			continue
		}
		if isList(m) {
			d.expandList(m, nil, line, line)
			continue
		}
		d.add(m, line)
	}
}

// itemLines returns the lines, counted from 1 at the start of src, of the
// n items of the List in src, or nil if they cannot be found.
func itemLines(src []byte, n int) []int {
	if src == nil {
		return nil
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(src, &doc); err != nil || len(doc.Content) != 1 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yamlv3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "items" {
			continue
		}
		seq := root.Content[i+1]
		if seq.Kind != yamlv3.SequenceNode || len(seq.Content) != n {
			return nil
		}
		lines := make([]int, n)
		for j, item := range seq.Content {
			lines[j] = item.Line
		}
		return lines
	}
	return nil
}

// add checks that m is an object that can be applied and keeps it.
func (d *decoder) add(m map[string]any, line int) {
	var missing []string
	for _, f := range [][]string{{"apiVersion"}, {"kind"}, {"metadata", "name"}} {
		s, found, err := unstructured.NestedString(m, f...)
		if err != nil {
			d.fail(line, fmt.Errorf("%s must be a string", strings.Join(f, ".")))
			return
		}
		if !found || s == "" {
			missing = append(missing, strings.Join(f, "."))
		}
	}
	if len(missing) > 0 {
		what := "object"
		if kind, ok := m["kind"].(string); ok && kind != "" {
			what = kind
		}
		d.fail(line, fmt.Errorf("%s has no %s", what, joinAnd(missing)))
		return
	}
	d.objs = append(d.objs, Object{Object: &unstructured.Unstructured{Object: m}, Origin: d.origin(line)})
}

// joinAnd joins words as in "a, b and c".
func joinAnd(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// describe names the JSON type of v for error messages.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}
