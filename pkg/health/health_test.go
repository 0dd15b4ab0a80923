package health_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
)

const rulesYAML = `# the repository's config
other: value
healthChecks:
  - apiVersion: example.com/v1
    kind: Widget
    current: "self.status.phase == 'Ready'"
    failed: "self.status.phase == 'Failed'"
    inProgress: "has(self.status.step) && self.status.step == 'migrating'"
  - apiVersion: cert-manager.io/v1
    kind: Certificate
    current: "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"
`

func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return obj
}

func checker(t *testing.T) *health.Checker {
	t.Helper()
	rules, err := health.Parse(".gitops.yaml", []byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[0].Origin != ".gitops.yaml:4" || rules[1].Origin != ".gitops.yaml:9" {
		t.Fatalf("rules %+v, want 2 with origins .gitops.yaml:4 and :9", rules)
	}
	c, err := health.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEvaluate(t *testing.T) {
	c := checker(t)
	widget := "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, generation: 2}\n"
	for _, tc := range []struct {
		name, doc string
		want      status.Status
		msg       string
	}{
		{"current", widget + "status: {phase: Ready}", status.CurrentStatus, "current"},
		{"failed", widget + "status: {phase: Failed}", status.FailedStatus, "failed \"self.status.phase == 'Failed'\" holds"},
		{"inProgress wins over current", widget + "status: {phase: Ready, step: migrating}", status.InProgressStatus, "inProgress"},
		{"none holds", widget + "status: {phase: Pending}", status.InProgressStatus, "does not hold yet"},
		{"missing field", widget, status.InProgressStatus, "no such key"},
		{"generation not observed", widget + "status: {phase: Ready, observedGeneration: 1}", status.InProgressStatus, "generation 2 not observed"},
		{"generation observed", widget + "status: {phase: Ready, observedGeneration: 2}", status.CurrentStatus, "current"},
		{"flux style top-level variables", "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\nstatus:\n  conditions: [{type: Ready, status: 'True'}]\n", status.CurrentStatus, "current"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Evaluate(object(t, tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want || !strings.Contains(res.Message, tc.msg) {
				t.Fatalf("got %s %q, want %s with %q", res.Status, res.Message, tc.want, tc.msg)
			}
			if tc.want != status.CurrentStatus && !strings.Contains(res.Message, ".gitops.yaml:") {
				t.Fatalf("message %q does not name the rule's origin", res.Message)
			}
		})
	}
}

func TestStatusFallsBackToKstatus(t *testing.T) {
	c := checker(t)
	cm := object(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	if c.Has(cm) {
		t.Fatal("a ConfigMap has no rule")
	}
	res, err := c.Status(cm)
	if err != nil || res.Status != status.CurrentStatus {
		t.Fatalf("kstatus of a ConfigMap: %v %v, want Current", res, err)
	}
	if _, err := c.Evaluate(cm); err == nil {
		t.Fatal("Evaluate of a kind without a rule did not fail")
	}
	// Another version of a kind with a rule is another kind.
	w := object(t, "apiVersion: example.com/v2\nkind: Widget\nmetadata: {name: w}\n")
	if c.Has(w) {
		t.Fatal("example.com/v2 Widget has no rule")
	}
}

func TestCompileErrorsNameTheLine(t *testing.T) {
	data := `healthChecks:
  - apiVersion: example.com/v1
    kind: Widget
    current: "self.status.phase == 'Ready'"
  - apiVersion: example.com/v1
    kind: Gadget
    current: "self.status.phase =="
  - apiVersion: example.com/v1
    kind: Gizmo
    current: "self.status.phase"
    failed: "'x' + 1"
`
	rules, err := health.Parse("config.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	_, err = health.Compile(rules)
	if err == nil {
		t.Fatal("no error for expressions that do not compile")
	}
	for _, want := range []string{"config.yaml:5: health rule for example.com/v1 Gadget", "current \"self.status.phase ==\" does not compile", "config.yaml:8: health rule for example.com/v1 Gizmo", "failed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "Widget") {
		t.Errorf("error %q names the good rule", err)
	}
}

func TestCompileRefusesDuplicateKinds(t *testing.T) {
	_, err := health.Compile([]health.Rule{
		{APIVersion: "example.com/v1", Kind: "Widget", Current: "true", Origin: "a:1"},
		{APIVersion: "example.com/v1", Kind: "Widget", Current: "false", Origin: "a:5"},
	})
	if err == nil || !strings.Contains(err.Error(), "a:5") || !strings.Contains(err.Error(), "already has a rule at a:1") {
		t.Fatalf("err = %v, want the duplicate named", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"healthChecks:\n  - apiVersion: a/v1\n    kind: K\n    curent: 'true'\n", "c.yaml:4: health rule: unknown field \"curent\""},
		{"healthChecks:\n  - apiVersion: a/v1\n    kind: K\n", "c.yaml:2: health rule: apiVersion, kind and current are required"},
		{"healthChecks: {a: b}\n", "c.yaml:1: healthChecks must be a list"},
		{"healthChecks:\n  - apiVersion: a/v1\n    kind: K\n    current: [x]\n", "c.yaml:4: health rule: current must be a string"},
	} {
		_, err := health.Parse("c.yaml", []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.data, err, tc.want)
		}
	}
	// The list alone, and a config without rules.
	rules, err := health.Parse("c.yaml", []byte("- apiVersion: a/v1\n  kind: K\n  current: 'true'\n"))
	if err != nil || len(rules) != 1 || rules[0].Origin != "c.yaml:1" {
		t.Fatalf("bare list: %+v %v", rules, err)
	}
	if rules, err := health.Parse("c.yaml", []byte("other: 1\n")); err != nil || rules != nil {
		t.Fatalf("config without rules: %+v %v", rules, err)
	}
}
