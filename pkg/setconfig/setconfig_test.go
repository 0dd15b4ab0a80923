package setconfig

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

const head = "apiVersion: kubectl-gitops.dev/v1alpha1\nkind: SyncSet\n"

const good = head + `dependsOn: [database, platform/ingress]
healthChecks:
  - apiVersion: example.com/v1
    kind: Database
    current: status.phase == 'Ready'
    failed: status.phase == 'Broken'
`

func TestParse(t *testing.T) {
	cfg, err := Parse("deploy/.gitops-set.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Names(), ","); got != "database,platform/ingress" || !cfg.HasDependsOn {
		t.Fatalf("dependsOn = %q (given: %v)", got, cfg.HasDependsOn)
	}
	if got := cfg.Where(cfg.DependsOn[1]); got != "deploy/.gitops-set.yaml:3" {
		t.Fatalf("where = %q", got)
	}
	if len(cfg.HealthChecks) != 1 || cfg.HealthChecks[0].Origin != "deploy/.gitops-set.yaml:5" || cfg.Checker.Len() != 1 {
		t.Fatalf("rules = %+v, checker of %d", cfg.HealthChecks, cfg.Checker.Len())
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Database", "status": map[string]any{"phase": "Broken"}}}
	res, err := cfg.Checker.Evaluate(obj)
	if err != nil || res.Status != status.FailedStatus || !strings.Contains(res.Message, "deploy/.gitops-set.yaml:5") {
		t.Fatalf("evaluate = %+v, %v", res, err)
	}

	// No dependsOn: left to the flag or the record; an empty one: none.
	cfg, err = Parse("f", []byte(head))
	if err != nil || cfg.Names() != nil {
		t.Fatalf("without dependsOn: %v, %v", cfg.Names(), err)
	}
	cfg, err = Parse("f", []byte(head+"dependsOn: []\n"))
	if err != nil || cfg.Names() == nil || len(cfg.Names()) != 0 {
		t.Fatalf("dependsOn []: %#v, %v", cfg.Names(), err)
	}
}

func TestParseErrors(t *testing.T) {
	rule := func(expr string) string {
		return "healthChecks:\n  - apiVersion: example.com/v1\n    kind: Database\n    current: " + expr + "\n"
	}
	many := func(n int, item func(i int) string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(item(i))
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"empty", "", []string{"f: the file is empty"}},
		{"not a mapping", "- a\n", []string{"f:1: the set config must be a mapping"}},
		{"two documents", head + "---\n" + head, []string{"f:3: the file holds more than one YAML document"}},
		{"no apiVersion", "kind: SyncSet\n", []string{"f:1: apiVersion is missing: want kubectl-gitops.dev/v1alpha1"}},
		{"wrong apiVersion", "apiVersion: v2\nkind: SyncSet\n", []string{`f:1: apiVersion "v2" is not supported`}},
		{"wrong kind", "apiVersion: kubectl-gitops.dev/v1alpha1\nkind: Generators\n", []string{`f:2: kind "Generators" is not supported: want SyncSet`}},
		{"unknown field", head + "dependson: [a]\n", []string{`f:3: unknown field "dependson" in the set config; known fields: apiVersion, kind, dependsOn, healthChecks`}},
		{"field twice", head + "dependsOn: [a]\ndependsOn: [b]\n", []string{`f:4: field "dependsOn" is given twice (also at line 3)`}},
		{"dependsOn not a list", head + "dependsOn: web\n", []string{`f:3: dependsOn must be a list`}},
		{"bad set name", head + "dependsOn:\n  - ok\n  - Not_Valid\n", []string{`f:5: dependsOn: "Not_Valid" is not a valid sync set name`}},
		{"bad namespace", head + "dependsOn: [ns.x/web]\n", []string{`f:3: dependsOn: "ns.x" is not a valid namespace`}},
		{"named twice", head + "dependsOn:\n  - a\n  - a\n", []string{`f:5: dependsOn: "a" is named twice (also at line 4)`}},
		{"unknown rule field", head + rule("'true'") + "    curent: x\n", []string{`f:7: health rule: unknown field "curent"`}},
		{"rule does not compile", head + rule("status.phase =="), []string{`f:4: health rule for example.com/v1 Database: current "status.phase ==" does not compile`}},
		{"rule of the wrong type", head + rule(`"status.phase + 1 == 2 ? 'a' : 'b'"`), []string{`f:4: health rule for example.com/v1 Database`, "not a bool"}},
		{"too many dependencies", head + "dependsOn:\n" + many(33, func(i int) string { return fmt.Sprintf("  - s%d\n", i) }), []string{"f:4: dependsOn names 33 sync sets: at most 32 are allowed"}},
		{"too many rules", head + "healthChecks:\n" + many(101, func(i int) string {
			return fmt.Sprintf("  - {apiVersion: example.com/v1, kind: K%d, current: 'true'}\n", i)
		}), []string{"f:4: healthChecks holds 101 rules: at most 100 are allowed"}},
		{"expression too long", head + rule(`"'`+strings.Repeat("a", MaxExpression)+`' != ''"`), []string{"f:4: health rule for example.com/v1 Database: current has 2056 bytes, more than the 2048 allowed"}},
		{"file too large", head + "# " + strings.Repeat("x", MaxFileSize), []string{"bytes, more than the 64 KiB a set config may have"}},
		{"alias bomb", head + "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n", []string{"f:1: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("f", []byte(tc.data))
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// TestCostLimit: a rule whose evaluation would run away, a comprehension
// nested over a long list of the object, stops at the cost limit, fast,
// and does not hold.
func TestCostLimit(t *testing.T) {
	cfg, err := Parse("f", []byte(head+`healthChecks:
  - apiVersion: example.com/v1
    kind: Database
    current: status.items.all(a, status.items.all(b, status.items.all(c, a + b + c >= 0)))
`))
	if err != nil {
		t.Fatal(err)
	}
	items := make([]any, 2000)
	for i := range items {
		items[i] = int64(i)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Database", "status": map[string]any{"items": items}}}
	start := time.Now()
	res, err := cfg.Checker.Evaluate(obj)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("evaluation took %s", took)
	}
	if res.Status != status.InProgressStatus || !strings.Contains(res.Message, "cost limit exceeded") {
		t.Fatalf("status %s: %s; want InProgress, the cost limit exceeded", res.Status, res.Message)
	}
	// The same rule over a short list holds: the limit is on the cost.
	obj.Object["status"] = map[string]any{"items": []any{int64(1), int64(2)}}
	if res, err := cfg.Checker.Evaluate(obj); err != nil || res.Status != status.CurrentStatus {
		t.Fatalf("short list: %+v, %v", res, err)
	}
}

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		FileName:                      {Data: []byte(head + "dependsOn: [root]\n")},
		"apps/web/" + FileName:        {Data: []byte(good)},
		"apps/other/x.yaml":           {Data: []byte("a: b\n")},
		"apps/bad/" + FileName:        {Data: []byte(head + "extra: 1\n")},
		"apps/dir/" + FileName:        {Mode: 0o755 | 1<<31},
		"apps/dir/" + FileName + "/x": {Data: []byte("x")},
	}
	cfg, err := Load(fsys, "apps/web")
	if err != nil || cfg == nil || cfg.File != "apps/web/.gitops-set.yaml" || len(cfg.DependsOn) != 2 {
		t.Fatalf("apps/web: %+v, %v", cfg, err)
	}
	// Only the set's own path: the root's file is not a parent's default.
	if cfg, err := Load(fsys, "apps/other"); err != nil || cfg != nil {
		t.Fatalf("apps/other: %+v, %v; want none", cfg, err)
	}
	if cfg, err := Load(fsys, "."); err != nil || cfg == nil || cfg.Names()[0] != "root" {
		t.Fatalf("root: %+v, %v", cfg, err)
	}
	if _, err := Load(fsys, "apps/bad"); err == nil || !strings.Contains(err.Error(), `apps/bad/.gitops-set.yaml:3: unknown field "extra"`) {
		t.Fatalf("apps/bad: %v", err)
	}
	if _, err := Load(fsys, "apps/dir"); err == nil || !strings.Contains(err.Error(), "is not a file") {
		t.Fatalf("apps/dir: %v", err)
	}
	if _, err := Load(fsys, "../x"); err == nil {
		t.Fatal("../x: no error")
	}
}
