package fleet

import (
	"strings"
	"testing"
)

const good = `apiVersion: kubectl-gitops.dev/v1alpha1
kind: Fleet
repo: /srv/repo
ref: main
targets:
  - name: eu
    context: eu-ctx
    set: web
    path: apps/web
    variables: {REGION: eu}
  - name: us
    kubeconfig: /tmp/us.kubeconfig
    namespace: gitops
    set: web
    path: apps/web
    ref: stable
    variables: {REGION: us}
`

func TestParse(t *testing.T) {
	f, err := Parse("fleet.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Targets) != 2 {
		t.Fatalf("targets = %d", len(f.Targets))
	}
	eu, us := f.Targets[0], f.Targets[1]
	if eu.Name != "eu" || eu.Context != "eu-ctx" || eu.Repo != "/srv/repo" || eu.Ref != "main" || eu.Variables["REGION"] != "eu" || eu.Line != 6 {
		t.Errorf("eu = %+v", eu)
	}
	if us.Kubeconfig != "/tmp/us.kubeconfig" || us.Namespace != "gitops" || us.Ref != "stable" || us.Line != 11 {
		t.Errorf("us = %+v", us)
	}
	if eu.VariablesKey() == us.VariablesKey() {
		t.Error("different variables, same key")
	}
	sel, err := f.Select([]string{"us"})
	if err != nil || len(sel) != 1 || sel[0].Name != "us" {
		t.Errorf("Select(us) = %v, %v", sel, err)
	}
	if _, err := f.Select([]string{"asia"}); err == nil || !strings.Contains(err.Error(), "asia") || !strings.Contains(err.Error(), "eu, us") {
		t.Errorf("Select(asia) error = %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"unknown field", strings.Replace(good, "    path: apps/web\n    variables: {REGION: eu}", "    pth: apps/web", 1), "fleet.yaml:9: field pth not found"},
		{"wrong kind", strings.Replace(good, "kind: Fleet", "kind: Fleets", 1), "fleet.yaml:1: want apiVersion"},
		{"duplicate", strings.Replace(good, "name: us", "name: eu", 1), "fleet.yaml:11: target \"eu\" is listed twice (first at line 6)"},
		{"bad name", strings.Replace(good, "name: us", "name: US_1", 1), "fleet.yaml:11: target name \"US_1\""},
		{"no name", strings.Replace(good, "name: us", "context: x", 1), "fleet.yaml:11: target 2 has no name"},
		{"both", strings.Replace(good, "context: eu-ctx", "context: eu-ctx\n    kubeconfig: /x", 1), "fleet.yaml:6: target \"eu\": give one of context"},
		{"no set", strings.Replace(good, "    set: web\n    path: apps/web\n    variables: {REGION: eu}", "", 1), "fleet.yaml:6: target \"eu\" has no set"},
		{"bad variable", strings.Replace(good, "{REGION: eu}", "{1X: eu}", 1), "variable name \"1X\""},
		{"no repo", strings.Replace(good, "repo: /srv/repo\n", "", 1), "target \"eu\" has no repo"},
		{"two docs", good + "---\nkind: Fleet\n", "more than one YAML document"},
		{"empty", "", "the file is empty"},
		{"syntax", "targets: [\n", "fleet.yaml"},
	} {
		_, err := Parse("fleet.yaml", []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestParseHostile(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
	if _, err := Parse("fleet.yaml", []byte(bomb)); err == nil {
		t.Error("an alias bomb parsed")
	}
	if _, err := Parse("fleet.yaml", make([]byte, MaxFileSize+1)); err == nil || !strings.Contains(err.Error(), "KiB") {
		t.Errorf("huge file: %v", err)
	}
}
