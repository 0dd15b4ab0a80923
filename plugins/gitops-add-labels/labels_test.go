package main

import (
	"bytes"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/fn/framework/command"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const input = `apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
    labels: {app: web}
  spec:
    selector:
      matchLabels: {app: web}
    template:
      metadata:
        labels: {app: web}
      spec:
        containers: [{name: web, image: web:1.0}]
- apiVersion: batch/v1
  kind: CronJob
  metadata:
    name: nightly
  spec:
    schedule: "@daily"
    jobTemplate:
      spec:
        template:
          spec:
            containers: [{name: job, image: job:1.0}]
- apiVersion: v1
  kind: Service
  metadata:
    name: web
functionConfig:
`

// runFunction runs the function as kubectl-gitops does: a ResourceList on
// stdin, a ResourceList on stdout.
func runFunction(t *testing.T, functionConfig string) (*yaml.RNode, string, error) {
	t.Helper()
	cmd := command.Build(Processor(), command.StandaloneEnabled, false)
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(input + functionConfig))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		return nil, errOut.String(), err
	}
	rl, err := yaml.Parse(out.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return rl, errOut.String(), nil
}

func label(t *testing.T, rl *yaml.RNode, item int, path ...string) string {
	t.Helper()
	items, err := rl.Pipe(yaml.Lookup("items"))
	if err != nil || items == nil || len(items.Content()) <= item {
		t.Fatalf("no item %d", item)
	}
	v, err := yaml.NewRNode(items.Content()[item]).Pipe(yaml.Lookup(path...))
	if err != nil || v == nil {
		return ""
	}
	return yaml.GetValue(v)
}

func TestAddLabels(t *testing.T) {
	for name, cfg := range map[string]string{
		"AddLabels": "  apiVersion: plugins.kubectl-gitops.dev/v1alpha1\n  kind: AddLabels\n  metadata: {name: labels}\n  labels: {team: web, tier: frontend}\n",
		"ConfigMap": "  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: labels}\n  data: {team: web, tier: frontend}\n",
	} {
		t.Run(name, func(t *testing.T) {
			rl, errOut, err := runFunction(t, cfg)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			for _, c := range []struct {
				item int
				path []string
				want string
			}{
				{0, []string{"metadata", "labels", "team"}, "web"},
				{0, []string{"metadata", "labels", "app"}, "web"},
				{0, []string{"spec", "template", "metadata", "labels", "tier"}, "frontend"},
				{0, []string{"spec", "selector", "matchLabels", "team"}, ""},
				{1, []string{"metadata", "labels", "team"}, "web"},
				{1, []string{"spec", "jobTemplate", "spec", "template", "metadata", "labels", "team"}, "web"},
				{2, []string{"metadata", "labels", "tier"}, "frontend"},
				{2, []string{"spec"}, ""},
			} {
				if got := label(t, rl, c.item, c.path...); got != c.want {
					t.Errorf("item %d %v = %q, want %q", c.item, c.path, got, c.want)
				}
			}
		})
	}
}

func TestAddLabelsRefusesBadConfig(t *testing.T) {
	for cfg, want := range map[string]string{
		"": "no functionConfig",
		"  apiVersion: v1\n  kind: Secret\n  data: {a: b}\n":                                                "want plugins.kubectl-gitops.dev/v1alpha1 AddLabels",
		"  apiVersion: plugins.kubectl-gitops.dev/v1alpha1\n  kind: AddLabels\n":                            "no labels given",
		"  apiVersion: plugins.kubectl-gitops.dev/v1alpha1\n  kind: AddLabels\n  labels: {'bad key!': x}\n": `label key "bad key!"`,
		"  apiVersion: plugins.kubectl-gitops.dev/v1alpha1\n  kind: AddLabels\n  labels: {team: 'a b'}\n":   `label team value "a b"`,
	} {
		_, errOut, err := runFunction(t, cfg)
		if err == nil || !strings.Contains(errOut, want) {
			t.Errorf("config %q: %v, stderr %q; want %q", cfg, err, errOut, want)
		}
	}
}
