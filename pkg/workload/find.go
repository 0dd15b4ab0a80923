// Package workload reads the workloads (Deployments, StatefulSets,
// DaemonSets, ReplicaSets, Jobs, CronJobs and Pods) of rendered objects
// (FromObject) and of manifest files, with their containers and where each
// image is written (Parse), and reads and edits their policy annotations.
// Edits go through pkg/setters, so they change only the bytes they must.
// Which files a revision holds, and what they render to, is pkg/render's
// to say (see pkg/images, which joins the two).
package workload

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/setters"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamlguard"
)

// Workload is a workload found in a file.
type Workload struct {
	ID ID
	// File is the slash path of the file, relative to the tree's root.
	File string
	// Doc is the index of the document in the file, as setters counts them.
	Doc int
	// Path leads from the document's root to the object: nil for the
	// document itself, {"items", "2"} for an item of a List.
	Path []string
	// Line is the 1-based line where the object starts.
	Line int
	// Annotations are the object's metadata.annotations (not its pod
	// template's).
	Annotations map[string]string
	// Containers are the containers, then the init containers, in the
	// order of the file. Containers without an image, as in a kustomize
	// patch, are left out.
	Containers []Container
	// FileID, when set, is the ID the object has as File writes it, where
	// that differs from ID: kustomize built the workload from File and
	// renamed it or moved it to another namespace. Edits find the object
	// in File under this ID.
	FileID ID
	// PolicyNote, when set, says why the policy annotations cannot be
	// edited in File: what is applied reads another policy than File
	// writes, as when a kustomization sets policy annotations. SetPolicy
	// refuses, with this note.
	PolicyNote string
}

// InFile returns the ID under which the workload is written in File.
func (w Workload) InFile() ID {
	if w.FileID != (ID{}) {
		return w.FileID
	}
	return w.ID
}

// Container is a container of a workload.
type Container struct {
	Name  string
	Image string
	Init  bool // an init container
	// Target is where the image is written, for pkg/setters.
	Target setters.Target
}

// Origin returns "file:line".
func (w Workload) Origin() string { return w.File + ":" + strconv.Itoa(w.Line) }

// Policy returns the workload's policy, read from its annotations.
func (w Workload) Policy() Policy { return ReadPolicy(w.Annotations) }

// Container returns the container (or init container) called name.
func (w Workload) Container(name string) (Container, bool) {
	for _, c := range w.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return Container{}, false
}

// Error is a problem with a file.
type Error struct {
	File string
	Line int // 0 when not known
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Err.Error()
	}
	return e.File + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// kindOrder lists the workload kinds.
var kindOrder = []string{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}

// kinds gives, for each workload kind, the API groups it is read in and the
// path of its pod spec.
var kinds = map[string]struct {
	groups  []string
	podSpec []string
}{
	"Deployment":  {[]string{"apps", "extensions"}, []string{"spec", "template", "spec"}},
	"StatefulSet": {[]string{"apps"}, []string{"spec", "template", "spec"}},
	"DaemonSet":   {[]string{"apps", "extensions"}, []string{"spec", "template", "spec"}},
	"ReplicaSet":  {[]string{"apps", "extensions"}, []string{"spec", "template", "spec"}},
	"Job":         {[]string{"batch"}, []string{"spec", "template", "spec"}},
	"CronJob":     {[]string{"batch"}, []string{"spec", "jobTemplate", "spec", "template", "spec"}},
	"Pod":         {[]string{""}, []string{"spec"}},
}

// Parse returns the workloads in data, the content of file (a slash path
// of the tree), with the position of each and of its images. Objects
// without a namespace are in defaultNamespace. Which files are manifests
// is pkg/render's to say; Parse reads one of them to find where the
// objects render returns are written.
//
// A file may hold several documents, and the items of a List are read as
// objects. A JSON object is read as the YAML flow mapping it also is, so
// that its images are edited in place like YAML's; a file holding several
// JSON values one after another, or JSON that YAML reads otherwise (a
// "\/" escape), is an *Error when it holds a workload, and holds no
// workload otherwise. Only the built-in API groups count (apps/v1
// Deployment, not another group's). A file that cannot be read is an
// *Error naming the file and line.
func Parse(file string, data []byte, defaultNamespace string) ([]Workload, error) {
	return parseFile(file, data, defaultNamespace)
}

// FromObject returns the workload that obj, a decoded object such as
// pkg/render returns, is, and false when it is no workload. Its ID,
// annotations and containers are read as Find reads them from a file;
// File, Doc, Path and Line are not set, nor the containers' targets.
// Objects without a namespace are in defaultNamespace.
func FromObject(obj map[string]any, defaultNamespace string) (Workload, bool, error) {
	if kind, _ := obj["kind"].(string); kinds[kind].podSpec == nil {
		return Workload{}, false, nil
	}
	n, err := yaml.FromMap(obj)
	if err != nil {
		return Workload{}, false, err
	}
	ws := collect(nil, n.YNode(), "", 0, nil, defaultNamespace)
	if len(ws) != 1 {
		return Workload{}, false, nil
	}
	w := ws[0]
	w.Line = 0
	for i := range w.Containers {
		w.Containers[i].Target = setters.Target{}
	}
	return w, true, nil
}

// parseFile returns the workloads in data, the content of file.
func parseFile(file string, data []byte, defaultNamespace string) ([]Workload, error) {
	if err := yamlguard.Check(file, data); err != nil {
		return nil, err // names the file and line
	}
	docs, err := setters.Parse(data)
	if err != nil {
		if isJSON, jerr := unreadableJSON(file, data, defaultNamespace); isJSON {
			return nil, jerr
		}
		var pe *setters.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: file, Line: pe.Line, Err: errors.New(pe.Msg)}
		}
		return nil, &Error{File: file, Err: err}
	}
	var ws []Workload
	for i, doc := range docs {
		ws = collect(ws, doc.YNode(), file, i, nil, defaultNamespace)
	}
	return ws, nil
}

// collect appends the workloads of object n, found at path in document doc,
// to ws: n itself, or the items of n if it is a List.
func collect(ws []Workload, n *yaml.Node, file string, doc int, at []string, defaultNamespace string) []Workload {
	if n == nil || n.Kind != yaml.MappingNode {
		return ws
	}
	kind := scalar(field(n, "kind"))
	if items := field(n, "items"); strings.HasSuffix(kind, "List") && items != nil && items.Kind == yaml.SequenceNode {
		for i, item := range items.Content {
			ws = collect(ws, deref(item), file, doc, append(slices.Clip(at), "items", strconv.Itoa(i)), defaultNamespace)
		}
		return ws
	}
	k, ok := kinds[kind]
	if !ok {
		return ws
	}
	group := "" // the core group: apiVersion "v1"
	if g, _, ok := strings.Cut(scalar(field(n, "apiVersion")), "/"); ok {
		group = g
	}
	if !slices.Contains(k.groups, group) {
		return ws
	}
	meta := field(n, "metadata")
	name := scalar(field(meta, "name"))
	if name == "" {
		return ws
	}
	ns := scalar(field(meta, "namespace"))
	if ns == "" {
		ns = defaultNamespace
	}
	w := Workload{
		ID:          ID{Namespace: ns, Kind: strings.ToLower(kind), Name: name},
		File:        file,
		Doc:         doc,
		Path:        at,
		Line:        n.Line,
		Annotations: stringMap(field(meta, "annotations")),
	}
	spec := n
	for _, f := range k.podSpec {
		spec = field(spec, f)
	}
	for _, list := range []string{"containers", "initContainers"} {
		seq := field(spec, list)
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		for i, c := range seq.Content {
			c = deref(c)
			img := field(c, "image")
			if img == nil || img.Kind != yaml.ScalarNode {
				continue
			}
			cname := scalar(field(c, "name"))
			// Address the container by name when the name is unique in
			// its list, which reads better in errors, else by index.
			el := strconv.Itoa(i)
			if cname != "" && countNamed(seq, cname) == 1 {
				el = "[name=" + cname + "]"
			}
			p := append(append(slices.Clip(at), k.podSpec...), list, el, "image")
			w.Containers = append(w.Containers, Container{
				Name:   cname,
				Image:  img.Value,
				Init:   list == "initContainers",
				Target: setters.Target{Doc: doc, Path: p},
			})
		}
	}
	return append(ws, w)
}

func countNamed(seq *yaml.Node, name string) int {
	n := 0
	for _, c := range seq.Content {
		if scalar(field(deref(c), "name")) == name {
			n++
		}
	}
	return n
}

// deref follows an alias.
func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

// field returns the value of key in mapping n, nil if there is none. Of
// duplicate keys, the last counts, as with kubectl.
func field(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := len(n.Content) - 2; i >= 0; i -= 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

// scalar returns the value of scalar n, "" if n is not a scalar.
func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// stringMap returns the scalar entries of mapping n.
func stringMap(n *yaml.Node) map[string]string {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	m := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && v != nil && v.Kind == yaml.ScalarNode {
			m[k.Value] = v.Value
		}
	}
	return m
}
