package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Vars are the variables of a vars file, in file order.
type Vars struct {
	File  string
	names []string
	vals  map[string]string
	lines map[string]int // 1-based line of each variable
	data  []byte
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseVars reads a vars file: one NAME=value per line, blank lines and
// lines starting with # ignored. The value is the rest of the line without
// the spaces around it: no quotes, no escapes, no expansion.
func ParseVars(file string, data []byte) (*Vars, error) {
	v := &Vars{File: file, vals: map[string]string{}, lines: map[string]int{}, data: data}
	var errs []error
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || !varName.MatchString(name) {
			errs = append(errs, fmt.Errorf("%s:%d: want NAME=value, like WEB_TAG=1.2.0", file, n))
			continue
		}
		if prev, dup := v.lines[name]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: %s is already set at line %d", file, n, name, prev))
			continue
		}
		v.names = append(v.names, name)
		v.vals[name] = strings.TrimSpace(val)
		v.lines[name] = n
	}
	return v, errors.Join(errs...)
}

// Set returns the vars file with name's value replaced by val; every other
// byte, the spaces around the value included, is kept.
func (v *Vars) Set(name, val string) ([]byte, error) {
	n, ok := v.lines[name]
	if !ok {
		return nil, fmt.Errorf("%s does not set %s", v.File, name)
	}
	if strings.ContainsAny(val, "\r\n") {
		return nil, fmt.Errorf("the value of %s cannot hold a line break", name)
	}
	lines := bytes.SplitAfter(v.data, []byte("\n"))
	line := lines[n-1]
	start := bytes.IndexByte(line, '=') + 1
	end := len(bytes.TrimRight(line, "\r\n"))
	for start < end && (line[start] == ' ' || line[start] == '\t') {
		start++
	}
	for end > start && (line[end-1] == ' ' || line[end-1] == '\t') {
		end--
	}
	var out bytes.Buffer
	for i, l := range lines {
		if i == n-1 {
			out.Write(line[:start])
			out.WriteString(val)
			out.Write(line[end:])
			continue
		}
		out.Write(l)
	}
	return out.Bytes(), nil
}

// part is a piece of a template string: literal text, or a variable.
type part struct {
	text string
	name string // a variable, when set
}

// parse splits s into literal text and ${NAME} references. $${ is a
// literal ${.
func parse(s string) ([]part, error) {
	var parts []part
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			lit.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, errors.New("${ is not closed by }")
			}
			name := s[i+2 : i+end]
			if !varName.MatchString(name) {
				return nil, fmt.Errorf("${%s} is not a variable name (letters, digits and _; write $${ for a literal ${)", name)
			}
			if lit.Len() > 0 {
				parts = append(parts, part{text: lit.String()})
				lit.Reset()
			}
			parts = append(parts, part{name: name})
			i += end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, part{text: lit.String()})
	}
	return parts, nil
}

// Substitute replaces each ${NAME} of text, the content of file, with its
// value. An unknown variable is an error naming the file and line.
func (v *Vars) Substitute(file string, text []byte) ([]byte, error) {
	var out bytes.Buffer
	var errs []error
	for i, line := range strings.SplitAfter(string(text), "\n") {
		parts, err := parse(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, i+1, err))
			continue
		}
		s, err := v.join(parts)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, i+1, err))
			continue
		}
		out.WriteString(s)
	}
	return out.Bytes(), errors.Join(errs...)
}

func (v *Vars) join(parts []part) (string, error) {
	var b strings.Builder
	for _, p := range parts {
		if p.name == "" {
			b.WriteString(p.text)
			continue
		}
		val, ok := v.vals[p.name]
		if !ok {
			return "", fmt.Errorf("${%s} is not set in %s", p.name, v.File)
		}
		b.WriteString(val)
	}
	return b.String(), nil
}

// Templates returns the templates under dir of fsys: files ending in
// .yaml.tmpl or .yml.tmpl, in lexical order, skipping files and
// directories whose name starts with ".".
func Templates(fsys fs.FS, dir string) ([]string, error) {
	var out []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml.tmpl") || strings.HasSuffix(p, ".yml.tmpl")) {
			out = append(out, p)
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// Render substitutes every template under dir and joins them into one
// stream of YAML documents, each template introduced by a comment naming
// it.
func Render(fsys fs.FS, dir string, vars *Vars) ([]byte, error) {
	files, err := Templates(fsys, dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no templates (*.yaml.tmpl) under %s", dir)
	}
	var out bytes.Buffer
	var errs []error
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		text, err := vars.Substitute(f, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n", path.Clean(f))
		out.Write(text)
		if len(text) > 0 && text[len(text)-1] != '\n' {
			out.WriteByte('\n')
		}
	}
	return out.Bytes(), errors.Join(errs...)
}

// solve finds the variable of the template string tmpl to change so that
// it reads want, and that variable's new value. It tries the variables from
// the last, where a tag usually is, and takes the first that can do it
// alone: the text around it must stay as it is.
func (v *Vars) solve(tmpl, want string) (name, val string, err error) {
	parts, err := parse(tmpl)
	if err != nil {
		return "", "", err
	}
	rendered := make([]string, len(parts))
	count := map[string]int{}
	for i, p := range parts {
		rendered[i] = p.text
		if p.name != "" {
			count[p.name]++
			val, ok := v.vals[p.name]
			if !ok {
				return "", "", fmt.Errorf("${%s} is not set in %s", p.name, v.File)
			}
			rendered[i] = val
		}
	}
	if len(count) == 0 {
		return "", "", fmt.Errorf("the image %q is written in the template, not in a variable of %s: put it in one, like image: ${WEB_IMAGE}", tmpl, v.File)
	}
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		if p.name == "" || count[p.name] > 1 {
			continue
		}
		prefix := strings.Join(rendered[:i], "")
		suffix := strings.Join(rendered[i+1:], "")
		if len(want) >= len(prefix)+len(suffix) && strings.HasPrefix(want, prefix) && strings.HasSuffix(want, suffix) {
			return p.name, want[len(prefix) : len(want)-len(suffix)], nil
		}
	}
	return "", "", fmt.Errorf("no single variable of %q can make it read %q", tmpl, want)
}
