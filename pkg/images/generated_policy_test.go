//go:build unix

package images

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// policyTree is a repository whose Deployment is generated with the
// annotations listed in policies.txt, and whose setPolicy updater edits that
// list, as Flux v1's updaters were given FLUX_POLICY and FLUX_POLICY_VALUE.
func policyTree() fstest.MapFS {
	cfg := `apiVersion: kubectl-gitops.dev/v1alpha1
kind: Generators
generators:
  - name: gen
    command: [sh, gen.sh]
updaters:
  - name: policies
    setPolicy: [sh, -c, 'grep -v "^$FLUX_POLICY=" policies.txt > p.new; if [ -n "$FLUX_POLICY_VALUE" ]; then echo "$FLUX_POLICY=$FLUX_POLICY_VALUE" >> p.new; fi; mv p.new policies.txt']
`
	gen := `echo "apiVersion: apps/v1"
echo "kind: Deployment"
echo "metadata:"
echo "  name: web"
echo "  annotations:"
echo "    generated-by: gen"
while IFS='=' read -r k v; do echo "    kubectl-gitops.dev/$k: \"$v\""; done < policies.txt
echo "spec: {template: {spec: {containers: [{name: app, image: reg.example.com/web:1.0.0}]}}}"
`
	return fstest.MapFS{
		"deploy/.gitops.yaml": {Data: []byte(cfg)},
		"deploy/gen.sh":       {Data: []byte(gen)},
		"deploy/policies.txt": {Data: []byte("")},
	}
}

func TestSetPolicyOfAGeneratedWorkload(t *testing.T) {
	fsys := policyTree()
	tree := Tree{FS: fsys, Dir: "deploy", Namespace: "shop", Generate: generate.Options{Allow: true}}
	id := workload.ID{Namespace: "shop", Kind: "deployment", Name: "web"}
	files, err := tree.SetPolicy(t.Context(), id, []generate.PolicyUpdate{{Policy: "automated", Value: "true"}, {Policy: "tag.app", Value: "semver:~1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(files["deploy/policies.txt"]); got != "automated=true\ntag.app=semver:~1\n" {
		t.Fatalf("policies.txt = %q", got)
	}
	// The updaters' result is checked: an updater that does not do what it
	// was asked is an error, and nothing is returned.
	fsys["deploy/.gitops.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(string(fsys["deploy/.gitops.yaml"].Data), "mv p.new policies.txt", "true", 1))}
	if _, err := tree.SetPolicy(t.Context(), id, []generate.PolicyUpdate{{Policy: "automated", Value: "true"}}); err == nil || !strings.Contains(err.Error(), "nothing is committed") {
		t.Fatalf("err = %v, want a failed verification", err)
	}
	// Without permission, nothing runs.
	tree.Generate.Allow = false
	if _, err := tree.SetPolicy(t.Context(), id, nil); err == nil || !strings.Contains(err.Error(), "allow-generators") {
		t.Fatalf("err = %v, want the permission error", err)
	}
}
