package health

import (
	"errors"
	"fmt"

	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/yamlguard"
)

// Key is the key of the rules in a repository's config.
const Key = "healthChecks"

// Parse reads health rules from the YAML of file: a mapping with a
// healthChecks list, or the list alone. Each rule's Origin is file:line of
// its entry; errors name file:line too. It does not compile the rules
// (Compile does).
func Parse(file string, data []byte) ([]Rule, error) {
	if err := yamlguard.Check(file, data); err != nil {
		return nil, err
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	n := doc.Content[0]
	if n.Kind == yamlv3.MappingNode {
		var list *yamlv3.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == Key {
				list = n.Content[i+1]
			}
		}
		if list == nil {
			return nil, nil
		}
		n = list
	}
	return FromNode(file, n)
}

// FromNode reads health rules from a YAML sequence node of file, such as
// the value of healthChecks in a config the caller decoded. Unknown fields
// are errors, so that a misspelt "curent" does not go unnoticed.
func FromNode(file string, n *yamlv3.Node) ([]Rule, error) {
	if n == nil || n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yamlv3.SequenceNode {
		return nil, fmt.Errorf("%s:%d: %s must be a list of rules (apiVersion, kind, current, failed, inProgress)", file, n.Line, Key)
	}
	var rules []Rule
	var errs []error
	for _, item := range n.Content {
		at := fmt.Sprintf("%s:%d", file, item.Line)
		if item.Kind != yamlv3.MappingNode {
			errs = append(errs, fmt.Errorf("%s: a health rule must be a mapping with apiVersion, kind and current", at))
			continue
		}
		r := Rule{Origin: at}
		for i := 0; i+1 < len(item.Content); i += 2 {
			k, v := item.Content[i], item.Content[i+1]
			var dst *string
			switch k.Value {
			case "apiVersion":
				dst = &r.APIVersion
			case "kind":
				dst = &r.Kind
			case "current":
				dst = &r.Current
			case "failed":
				dst = &r.Failed
			case "inProgress":
				dst = &r.InProgress
			default:
				errs = append(errs, fmt.Errorf("%s:%d: health rule: unknown field %q (known: apiVersion, kind, current, failed, inProgress)", file, k.Line, k.Value))
				continue
			}
			if v.Kind != yamlv3.ScalarNode {
				errs = append(errs, fmt.Errorf("%s:%d: health rule: %s must be a string", file, v.Line, k.Value))
				continue
			}
			*dst = v.Value
		}
		if r.APIVersion == "" || r.Kind == "" || r.Current == "" {
			errs = append(errs, fmt.Errorf("%s: health rule: apiVersion, kind and current are required", at))
			continue
		}
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}
