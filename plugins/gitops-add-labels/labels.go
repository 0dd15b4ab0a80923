package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const (
	// APIVersion and Kind name the function's own config.
	APIVersion = "plugins.kubectl-gitops.dev/v1alpha1"
	Kind       = "AddLabels"
)

// Config is the functionConfig: an AddLabels, or a ConfigMap whose data
// are the labels.
type Config struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Labels     map[string]string `json:"labels,omitempty"`
	Data       map[string]string `json:"data,omitempty"`
}

// labels returns the labels to add.
func (c *Config) labels() map[string]string {
	if c.Kind == "ConfigMap" {
		return c.Data
	}
	return c.Labels
}

// Validate checks the config and the labels, so that the function fails
// with a clear message rather than the API server later.
func (c *Config) Validate() error {
	switch {
	case c.Kind == Kind && c.APIVersion == APIVersion:
	case c.Kind == "ConfigMap" && c.APIVersion == "v1":
	default:
		return fmt.Errorf("functionConfig is %s %s: want %s %s, or a v1 ConfigMap whose data are the labels", c.APIVersion, c.Kind, APIVersion, Kind)
	}
	labels := c.labels()
	if len(labels) == 0 {
		return errors.New("no labels given")
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("label key %q: %s", k, strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(labels[k]); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("label %s value %q: %s", k, labels[k], strings.Join(msgs, "; ")))
		}
	}
	return errors.Join(errs...)
}

// podTemplates gives the path to the pod template of each workload kind.
// Selectors are left alone: they are immutable once applied.
var podTemplates = map[string][]string{
	"Deployment":  {"spec", "template"},
	"StatefulSet": {"spec", "template"},
	"DaemonSet":   {"spec", "template"},
	"ReplicaSet":  {"spec", "template"},
	"Job":         {"spec", "template"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template"},
}

// Processor is the function: it loads the functionConfig and labels every
// item.
func Processor() framework.ResourceListProcessor {
	return framework.ResourceListProcessorFunc(func(rl *framework.ResourceList) error {
		if yaml.IsMissingOrNull(rl.FunctionConfig) {
			return fmt.Errorf("no functionConfig: give an %s %s with labels", APIVersion, Kind)
		}
		cfg := &Config{}
		if err := framework.LoadFunctionConfig(rl.FunctionConfig, cfg); err != nil {
			return err
		}
		return rl.Filter(kio.FilterFunc(func(items []*yaml.RNode) ([]*yaml.RNode, error) {
			return AddLabels(items, cfg.labels())
		}))
	})
}

// AddLabels sets labels on items and on the pod templates of workloads.
func AddLabels(items []*yaml.RNode, labels map[string]string) ([]*yaml.RNode, error) {
	keys := slices.Sorted(maps.Keys(labels))
	for _, item := range items {
		targets := []*yaml.RNode{item}
		if p, ok := podTemplates[item.GetKind()]; ok {
			tmpl, err := item.Pipe(yaml.Lookup(p...))
			if err != nil {
				return nil, err
			}
			if tmpl != nil {
				targets = append(targets, tmpl)
			}
		}
		for _, t := range targets {
			for _, k := range keys {
				if err := t.PipeE(yaml.SetLabel(k, labels[k])); err != nil {
					return nil, fmt.Errorf("%s %s: %w", item.GetKind(), item.GetName(), err)
				}
			}
		}
	}
	return items, nil
}
