package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Workload names a workload as kubectl-gitops and Flux v1 do:
// "<namespace>:<kind>/<name>", the kind in lower case.
type Workload struct {
	Namespace, Kind, Name string
}

// ParseWorkload reads "<namespace>:<kind>/<name>".
func ParseWorkload(s string) (Workload, error) {
	ns, rest, ok1 := strings.Cut(s, ":")
	kind, name, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || kind == "" || name == "" {
		return Workload{}, fmt.Errorf("workload %q: want <namespace>:<kind>/<name>", s)
	}
	return Workload{Namespace: ns, Kind: strings.ToLower(kind), Name: name}, nil
}

func (w Workload) String() string { return w.Namespace + ":" + w.Kind + "/" + w.Name }

// podSpecs gives the path to the pod spec of each workload kind.
var podSpecs = map[string][]string{
	"deployment":  {"spec", "template", "spec"},
	"statefulset": {"spec", "template", "spec"},
	"daemonset":   {"spec", "template", "spec"},
	"replicaset":  {"spec", "template", "spec"},
	"job":         {"spec", "template", "spec"},
	"cronjob":     {"spec", "jobTemplate", "spec", "template", "spec"},
	"pod":         {"spec"},
}

// SetImage finds the container of workload w in the templates under dir,
// and sets the variable its image is written with so that it reads image.
// It returns the new content of the vars file, and what it did; nil
// content when no template holds the container, which is then another
// updater's business.
func SetImage(fsys fs.FS, dir string, vars *Vars, w Workload, container, image string) ([]byte, []string, error) {
	files, err := Templates(fsys, dir)
	if err != nil {
		return nil, nil, err
	}
	var done []string
	var errs []error
	out := vars
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, nil, err
		}
		images, err := findImages(data, out, w, container)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		for _, tmpl := range images {
			name, val, err := out.solve(tmpl, image)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s container %s: %w", f, w, container, err))
				continue
			}
			data, err := out.Set(name, val)
			if err != nil {
				return nil, nil, err
			}
			if out, err = ParseVars(vars.File, data); err != nil {
				return nil, nil, err
			}
			done = append(done, fmt.Sprintf("%s: %s=%s (%s container %s, template %s)", vars.File, name, val, w, container, f))
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	if len(done) == 0 {
		return nil, nil, nil
	}
	return out.data, done, nil
}

// findImages returns the image strings, as the template writes them, of
// the container of w in the template data.
func findImages(data []byte, vars *Vars, w Workload, container string) ([]string, error) {
	// Resolve the template's variables in the fields that identify the
	// workload; the image itself is read as written.
	value := func(n *yaml.Node) string {
		if n == nil || n.Kind != yaml.ScalarNode {
			return ""
		}
		parts, err := parse(n.Value)
		if err != nil {
			return n.Value
		}
		s, err := vars.join(parts)
		if err != nil {
			return n.Value
		}
		return s
	}
	var found []string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return found, nil
		}
		if err != nil {
			return nil, fmt.Errorf("the template is not YAML before substitution, so its images cannot be found: %w", err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		obj := doc.Content[0]
		kind := strings.ToLower(value(field(obj, "kind")))
		spec, ok := podSpecs[kind]
		if !ok || kind != w.Kind {
			continue
		}
		meta := field(obj, "metadata")
		if value(field(meta, "name")) != w.Name {
			continue
		}
		if ns := value(field(meta, "namespace")); ns != "" && ns != w.Namespace {
			continue
		}
		pod := obj
		for _, f := range spec {
			pod = field(pod, f)
		}
		for _, list := range []string{"containers", "initContainers"} {
			seq := field(pod, list)
			if seq == nil || seq.Kind != yaml.SequenceNode {
				continue
			}
			for _, c := range seq.Content {
				if value(field(c, "name")) != container {
					continue
				}
				if img := field(c, "image"); img != nil && img.Kind == yaml.ScalarNode {
					found = append(found, img.Value)
				}
			}
		}
	}
}

// field returns the value of key in mapping n, nil if there is none.
func field(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := len(n.Content) - 2; i >= 0; i -= 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			if v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}
