// Package yamlbomb builds hostile YAML for the tests that prove decoding is
// bounded.
package yamlbomb

import (
	"fmt"
	"strings"
)

// Laughs returns the "billion laughs" mapping: nine levels, each an anchored
// sequence of nine aliases of the one before, 387 million strings once
// expanded, in about 600 bytes. Every line starts with indent, so that the
// mapping can be the value of a field at that depth.
func Laughs(indent string) string {
	var b strings.Builder
	b.WriteString(indent + "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for c := 'b'; c <= 'i'; c++ {
		p := "*" + string(c-1)
		fmt.Fprintf(&b, "%s%c: &%c [%s]\n", indent, c, c, strings.Join([]string{p, p, p, p, p, p, p, p, p}, ","))
	}
	return b.String()
}

// ConfigMap is a ConfigMap named lol whose data is Laughs: a valid object to
// every decoder, until the aliases are expanded.
func ConfigMap() string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n" + Laughs("  ")
}
