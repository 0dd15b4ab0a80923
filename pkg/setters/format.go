package setters

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// style is the quoting of a scalar as written.
type style int

const (
	plain style = iota
	single
	double
)

// styleOf returns how scalar n is quoted.
func styleOf(n *yaml.Node) style {
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		return double
	case n.Style&yaml.SingleQuotedStyle != 0:
		return single
	}
	return plain
}

// entryStyle returns the quoting for a new string value in mapping m: the
// quoting all its string values share, else double quotes.
func entryStyle(m *yaml.Node) style {
	st, seen := double, false
	for i := 1; i < len(m.Content); i += 2 {
		v := m.Content[i]
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
			continue
		}
		if isBlockScalar(v) {
			return double
		}
		s := styleOf(v)
		if seen && s != st {
			return double
		}
		st, seen = s, true
	}
	return st
}

// formatValue writes the string v as a scalar, in style st when v can be
// written so, else double-quoted. flow says whether the scalar is inside a
// flow collection, where more characters need quotes.
func formatValue(v string, st style, flow bool) string {
	switch {
	case st == plain && plainOK(v, flow):
		return v
	case st == single && singleOK(v):
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return quoteDouble(v)
}

// keyStyle returns the quoting for a new key in mapping m: the quoting all
// its keys share, else plain.
func keyStyle(m *yaml.Node) style {
	st := plain
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yaml.ScalarNode {
			return plain
		}
		s := styleOf(k)
		if i > 0 && s != st {
			return plain
		}
		st = s
	}
	return st
}

// formatKey writes a mapping key in style st, or plain, or double-quoted,
// whichever is the first that can hold it.
func formatKey(k string, st style, flow bool) string {
	switch {
	case st == double:
		return quoteDouble(k)
	case st == single && singleOK(k):
		return "'" + strings.ReplaceAll(k, "'", "''") + "'"
	case plainOK(k, flow):
		return k
	}
	return quoteDouble(k)
}

// quoteDouble writes s as a double-quoted YAML scalar, escaping what cannot
// appear as is.
func quoteDouble(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			switch {
			case unicode.IsPrint(r):
				b.WriteRune(r)
			case r <= 0xFFFF:
				fmt.Fprintf(&b, `\u%04X`, r)
			default:
				fmt.Fprintf(&b, `\U%08X`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// printable says whether s is valid UTF-8 made of printable characters
// (spaces included, tabs and line breaks not).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// singleOK says whether s can be written single-quoted on one line.
func singleOK(s string) bool { return printable(s) }

// plainOK says whether s can be written as a plain scalar that both YAML
// 1.2 (go.yaml.in/yaml/v3, as kyaml reads it) and YAML 1.1 (yaml/v2, as
// kubectl reads it) read back as the string s.
func plainOK(s string, flow bool) bool {
	if s == "" || !printable(s) || s == "<<" {
		return false
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' || strings.ContainsRune("-?:,[]{}#&*!|>'\"%@`", rune(s[0])) {
		return false
	}
	if strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.HasSuffix(s, ":") {
		return false
	}
	if flow && strings.ContainsAny(s, ",[]{}") {
		return false
	}
	doc := "k: " + s
	if flow {
		doc = "{k: " + s + "}"
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		return false
	}
	if len(n.Content) != 1 || n.Content[0].Kind != yaml.MappingNode || len(n.Content[0].Content) != 2 {
		return false
	}
	if v := n.Content[0].Content[1]; v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" || v.Value != s {
		return false
	}
	var m map[string]any
	if err := yamlv2.Unmarshal([]byte(doc), &m); err != nil {
		return false
	}
	v, ok := m["k"].(string)
	return ok && v == s
}

// flowEntry writes the entry keys[0]: {keys[1]: ... value} in flow style,
// with keys quoted in style ks and the value in style st.
func flowEntry(keys []string, value string, ks, st style) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('{')
		}
		b.WriteString(formatKey(k, ks, true))
		b.WriteString(": ")
	}
	if len(keys) > 1 {
		st = double
	}
	b.WriteString(formatValue(value, st, true))
	b.WriteString(strings.Repeat("}", len(keys)-1))
	return b.String()
}

// blockEntry writes the entry keys[0]: ... value as block lines, the first
// indented by indent spaces and each next one by step more, every line
// ending with eol, with keys quoted in style ks and the value in style st.
func blockEntry(keys []string, value string, ks, st style, indent, step int, eol string) string {
	var b strings.Builder
	for i, k := range keys {
		b.WriteString(strings.Repeat(" ", indent+i*step))
		b.WriteString(formatKey(k, ks, false))
		b.WriteByte(':')
		if i == len(keys)-1 {
			if len(keys) > 1 {
				st = double
			}
			b.WriteByte(' ')
			b.WriteString(formatValue(value, st, false))
		}
		b.WriteString(eol)
	}
	return b.String()
}
