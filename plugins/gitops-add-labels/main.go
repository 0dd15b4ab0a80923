// Command gitops-add-labels is a KRM function, written with kyaml's
// fn/framework: it adds labels to every object of the ResourceList it reads,
// and to the pod templates of workloads, and prints the ResourceList.
//
// Its functionConfig is either
//
//	apiVersion: plugins.kubectl-gitops.dev/v1alpha1
//	kind: AddLabels
//	metadata: {name: labels}
//	labels: {team: web}
//
// or a ConfigMap whose data are the labels (as `kustomize fn run` makes
// from arguments). See README.md beside this file.
package main

import (
	"os"

	"sigs.k8s.io/kustomize/kyaml/fn/framework/command"
)

func main() {
	cmd := command.Build(Processor(), command.StandaloneEnabled, false)
	cmd.Use = "gitops-add-labels"
	cmd.Short = "A KRM function that adds labels to every object and pod template"
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
