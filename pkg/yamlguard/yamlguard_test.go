package yamlguard

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/kubectl-gitops/kubectl-gitops/internal/yamlbomb"
)

func TestCheck(t *testing.T) {
	deepFlow := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	var deepBlock strings.Builder
	for i := range MaxDepth + 1 {
		fmt.Fprintf(&deepBlock, "%s- \n", strings.Repeat("  ", i))
	}
	okDepth := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	tests := []struct {
		name, data string
		want       string // prefix of the error, "" for none
	}{
		{"plain manifest", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", ""},
		{"anchors used a few times", "base: &b {x: 1, y: [1, 2]}\nuse: *b\nmerged:\n  <<: *b\n  y: 3\n", ""},
		{"syntax error is left to the decoder", "a: [\n", ""},
		{"empty", "", ""},
		{"JSON", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}`, ""},
		{"nesting at the limit", okDepth, ""},
		{"billion laughs", yamlbomb.Laughs(""), "f.yaml:1: aliases expand the document's"},
		{"billion laughs in the second document", "a: 1\n---\n" + yamlbomb.Laughs(""), "f.yaml:2: aliases expand"},
		{"anchors of an earlier document", "a: &a [x,x,x,x,x,x,x,x,x,x]\n---\n" + strings.Repeat("- [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n", 100), "f.yaml:2: aliases expand"},
		{"bomb after a broken document", "a: [\n---\n" + yamlbomb.Laughs(""), "f.yaml:3: aliases expand"},
		{"bomb behind a block scalar on a separator line", "--- |\n" + yamlbomb.Laughs(""), "f.yaml:2: aliases expand"},
		{"anchor on a separator line", "--- &a [x,x,x,x,x,x,x,x,x,x]\n---\n" + strings.Repeat("- [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n", 100), "f.yaml:2: aliases expand"},
		{"deep flow nesting", deepFlow, "f.yaml:1: nesting deeper than 512 levels"},
		{"deep block nesting", deepBlock.String(), "f.yaml:1: nesting deeper than 512 levels"},
		{"deep JSON that YAML does not parse", "[" + strings.Repeat("[\t", MaxDepth) + strings.Repeat("]", MaxDepth+1), "f.yaml:1: nesting deeper than 512 levels"},
		{"deep through aliases", "a: &a " + strings.Repeat("[", 300) + strings.Repeat("]", 300) + "\nb: " + strings.Repeat("[", 250) + "*a" + strings.Repeat("]", 250) + "\n", "f.yaml:1: nesting deeper than 512 levels (aliases expanded)"},
		{"document too large", "a: 1\n---\nb: " + strings.Repeat("x", MaxDocumentSize) + "\n", "f.yaml:2: the document has 8.0 MiB, more than the 8 MiB allowed"},
		{"file too large", strings.Repeat("a: 1\n---\n", MaxFileSize/9+1), "f.yaml: the file has 64.0 MiB, more than the 64 MiB allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check("f.yaml", []byte(tt.data))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("Check = %v, want an error starting with %q", err, tt.want)
			}
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.File != "f.yaml") {
				t.Errorf("error %#v is not an *Error naming f.yaml", err)
			}
		})
	}
}

// FuzzFastPath checks the bounds that let Check skip parsing: where
// mayAlias says no, the parsed documents hold no alias, and no document
// nests deeper than depthBound says.
func FuzzFastPath(f *testing.F) {
	for _, s := range []string{
		"a: 1\n",
		"a:\n- b\n- - c\n  - d: [e, {f: g}]\n",
		"- - - - x\n",
		"? - a\n: - b\n",
		"a: &x [1]\nb: *x\n",
		"verbs: [\"*\"]\nschedule: \"*/5 * * * *\"\n",
		"a: b*c\n",
		"--- [[[x]]]\n---\nk:\n  l:\n    m: n\n",
		"a:\n  b: |\n      deep text\n",
		yamlbomb.Laughs(""),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, _ := split(data)
		for _, d := range docs {
			dec := yamlv3.NewDecoder(bytes.NewReader(d.text))
			bound := depthBound(d.text)
			for {
				var doc yamlv3.Node
				if err := dec.Decode(&doc); err != nil {
					break
				}
				if got := depth(&doc, -1); got > bound {
					t.Fatalf("document %q nests %d deep, more than its bound %d", d.text, got, bound)
				}
				if !mayAlias(data) && hasAlias(&doc) {
					t.Fatalf("mayAlias(%q) is false, but it parses with an alias", data)
				}
			}
		}
	})
}

func hasAlias(n *yamlv3.Node) bool {
	if n.Kind == yamlv3.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

func TestOneDocument(t *testing.T) {
	if root, err := OneDocument([]byte("a: 1\n")); err != nil || root.Kind != yamlv3.MappingNode {
		t.Fatalf("one document: %v, %v", root, err)
	}
	if _, err := OneDocument([]byte("# nothing\n")); !errors.Is(err, ErrEmpty) {
		t.Errorf("no document: %v, want ErrEmpty", err)
	}
	var second *DocumentError
	if _, err := OneDocument([]byte("a: 1\n---\nb: 2\n")); !errors.As(err, &second) || second.Line == 0 {
		t.Errorf("two documents: %v, want a DocumentError with its line", err)
	}
	if _, err := OneDocument([]byte("a: [\n")); err == nil || errors.Is(err, ErrEmpty) {
		t.Errorf("bad YAML: %v, want the decoder's error", err)
	}
}
