package images

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageauto"
)

// FluxDefaultMessageTemplate is image-automation-controller's message
// when an automation sets no messageTemplate.
const FluxDefaultMessageTemplate = `Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
`

// TemplateChange is one change as a message template sees it
// ($change.OldValue, .NewValue, .Setter), as in Flux.
type TemplateChange struct {
	OldValue string
	NewValue string
	Setter   string
}

// ObjectChanges are the changes of each object.
type ObjectChanges map[ObjectIdentifier][]TemplateChange

// Changed is the .Changed of a message template, as Flux's ResultV2:
// FileChanges by file then object; Objects and Changes flatten it.
type Changed struct {
	FileChanges map[string]ObjectChanges
}

// Objects returns the changes of each object, over every file.
func (c Changed) Objects() ObjectChanges {
	out := ObjectChanges{}
	for _, objs := range c.FileChanges {
		for id, chs := range objs {
			out[id] = append(out[id], chs...)
		}
	}
	return out
}

// Changes returns every change, in a stable order: by file, then object,
// then as they were made.
func (c Changed) Changes() []TemplateChange {
	var out []TemplateChange
	for _, file := range slices.Sorted(maps.Keys(c.FileChanges)) {
		objs := c.FileChanges[file]
		ids := slices.SortedFunc(maps.Keys(objs), func(a, b ObjectIdentifier) int {
			return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name), strings.Compare(a.APIVersion, b.APIVersion))
		})
		for _, id := range ids {
			out = append(out, objs[id]...)
		}
	}
	return out
}

// TemplateData is what a messageTemplate is executed with: Flux v2's
// fields .AutomationObject, .Changed and .Values (.Updated, which Flux
// removed, is an error).
type TemplateData struct {
	AutomationObject types.NamespacedName
	Changed          Changed
	Values           map[string]string
}

// templateFuncs are the functions a messageTemplate may call besides Go's
// builtins (and, or, not, len, index, print, printf, println, eq, ne, lt,
// le, gt, ge, slice, html, js, urlquery, call). Sprig is not a dependency:
// these are the string functions of Sprig most used in commit messages.
var templateFuncs = template.FuncMap{
	"upper":      strings.ToUpper,
	"lower":      strings.ToLower,
	"trim":       strings.TrimSpace,
	"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
	"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
	"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
	"contains":   func(sub, s string) bool { return strings.Contains(s, sub) },
	"join": func(sep string, v any) string {
		switch l := v.(type) {
		case []string:
			return strings.Join(l, sep)
		case []any:
			parts := make([]string, len(l))
			for i, x := range l {
				parts[i] = fmt.Sprint(x)
			}
			return strings.Join(parts, sep)
		}
		return fmt.Sprint(v)
	},
}

// TemplateFuncs names the functions a messageTemplate may call besides Go's
// builtins.
func TemplateFuncs() []string {
	return []string{"contains", "join", "lower", "replace", "trim", "trimPrefix", "trimSuffix", "upper"}
}

// FluxMessage writes the commit message of an automation's marker
// changes with its messageTemplate (Flux's default template when it sets
// none). A template that fails names the automation and the functions
// available.
func FluxMessage(a *imageauto.ImageUpdateAutomation, changes []MarkerChange) (string, error) {
	text, what := FluxDefaultMessageTemplate, "the default message template"
	data := TemplateData{Changed: Changed{FileChanges: map[string]ObjectChanges{}}}
	if a != nil {
		data.AutomationObject = types.NamespacedName{Namespace: a.Namespace, Name: a.Name}
		data.Values = a.MessageTemplateValues
		if a.MessageTemplate != "" {
			text, what = a.MessageTemplate, fmt.Sprintf("%s %s: spec.git.commit.messageTemplate", imageauto.KindImageUpdateAutomation, a.ObjectRef)
		}
	}
	for _, c := range changes {
		objs := data.Changed.FileChanges[c.File]
		if objs == nil {
			objs = ObjectChanges{}
			data.Changed.FileChanges[c.File] = objs
		}
		objs[c.Object] = append(objs[c.Object], TemplateChange{OldValue: c.From, NewValue: c.To, Setter: c.Policy})
	}
	tmpl, err := template.New("messageTemplate").Funcs(templateFuncs).Option("missingkey=zero").Parse(text)
	if err != nil {
		return "", fmt.Errorf("%s: %w (the functions are Go's template builtins and %s; Sprig's others are not available)", what, err, strings.Join(TemplateFuncs(), ", "))
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("%s: %w (the fields are .AutomationObject, .Changed.FileChanges, .Changed.Objects, .Changed.Changes and .Values)", what, err)
	}
	msg := strings.TrimRight(b.String(), "\n")
	if strings.TrimSpace(msg) == "" {
		return "", fmt.Errorf("%s: the message is empty", what)
	}
	return msg + "\n", nil
}
