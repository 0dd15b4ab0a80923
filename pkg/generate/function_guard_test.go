//go:build unix

package generate

import (
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/yamlbomb"
)

// TestFunctionOutputIsGuarded: a KRM function printing an alias bomb is an
// error naming the function, before kyaml reads the output.
func TestFunctionOutputIsGuarded(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: lol}\n  data:\n")
	b.WriteString(yamlbomb.Laughs("    "))
	cfg := testConfig(t, fmt.Sprintf(`includeFiles: true
generators:
  - name: bomb
    function:
      exec: [sh, -c, %q]
`, "cat >/dev/null; printf '%s' '"+b.String()+"'"))
	w := newTestWorkspace(t, nil)
	item, err := yaml.Parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Function(t.Context(), cfg, cfg.Generators[0], "deploy", []*yaml.RNode{item})
	if err == nil || !strings.Contains(err.Error(), `function "bomb" (deploy/.gitops.yaml:5) output:1: aliases expand`) {
		t.Errorf("Function = %v, want an error naming the function's output", err)
	}
}
