package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// healthCRD defines Database, whose status is written by apply (no status
// subresource), so that a manifest can say what phase it is in.
const healthCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: databases.health.e2e.example.com
spec:
  group: health.e2e.example.com
  names: {kind: Database, plural: databases, singular: database, listKind: DatabaseList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

func database(name, phase string) string {
	return "apiVersion: health.e2e.example.com/v1\nkind: Database\nmetadata:\n  name: " + name + "\nstatus:\n  phase: " + phase + "\n"
}

// The rule is at line 4 of the file.
const databaseRule = `apiVersion: kubectl-gitops.dev/v1alpha1
kind: SyncSet
healthChecks:
  - apiVersion: health.e2e.example.com/v1
    kind: Database
    current: status.phase == 'Ready'
    failed: status.phase == 'Broken'
`

// TestHealthRules runs the set config (.gitops-set.yaml) through the
// built plugin: its CEL rules judge a CRD-defined kind for --wait and
// status, a rule that does not compile stops the sync before any write,
// its dependsOn holds the set until the dependency is synced and healthy
// by its own recorded rules, and sync prints the autoscaler warning.
func TestHealthRules(t *testing.T) {
	ns := namespace(t)
	sync := func(name string, r *repo, args ...string) result {
		t.Helper()
		return kubectl(t, append([]string{"gitops", "sync", name, "--repo", r.dir, "--path", "deploy", "-n", ns}, args...)...)
	}

	t.Run("failed by rule", func(t *testing.T) {
		r := newRepo(t, map[string]string{
			"crd/db.yaml":             healthCRD,
			"deploy/db.yaml":          database("orders", "Broken"),
			"deploy/.gitops-set.yaml": databaseRule,
			"deploy/cm.yaml":          configMap("orders-config", "one"),
		})
		mustKubectl(t, "gitops", "sync", "crds", "--repo", r.dir, "--path", "crd", "-n", ns)
		res := sync("orders", r, "--wait", "--timeout", "3s")
		if res.code == 0 {
			t.Fatalf("sync --wait succeeded with a Database its rule says failed:\n%s\n%s", res.stdout, res.stderr)
		}
		out := res.stdout + res.stderr
		for _, want := range []string{"Database/" + ns + "/orders", "Failed", "deploy/.gitops-set.yaml:4", "status.phase == 'Broken'", "not recorded as synced"} {
			if !strings.Contains(out, want) {
				t.Fatalf("output does not say %q:\n%s", want, out)
			}
		}
		// status judges the member by the rule the record keeps.
		st := mustKubectl(t, "gitops", "status", "orders", "-n", ns, "-o", "json")
		var status struct {
			Record struct {
				HealthChecks []struct{ Kind, Origin string } `json:"healthChecks"`
			} `json:"record"`
			Members []struct {
				Object struct{ Kind, Name string }      `json:"object"`
				Health struct{ Status, Message string } `json:"health"`
			} `json:"members"`
		}
		if err := json.Unmarshal([]byte(st.stdout), &status); err != nil {
			t.Fatalf("%v\n%s", err, st.stdout)
		}
		if len(status.Record.HealthChecks) != 1 || status.Record.HealthChecks[0].Origin != "deploy/.gitops-set.yaml:4" {
			t.Fatalf("recorded rules %+v", status.Record.HealthChecks)
		}
		found := false
		for _, m := range status.Members {
			if m.Object.Kind == "Database" {
				found = true
				if m.Health.Status != "Failed" || !strings.Contains(m.Health.Message, "deploy/.gitops-set.yaml:4") {
					t.Fatalf("status of the Database: %+v", m.Health)
				}
			}
		}
		if !found {
			t.Fatalf("status lists no Database: %s", st.stdout)
		}

		// Fixed in git, the same rule says Current and the wait ends.
		r.commit("ready", map[string]string{"deploy/db.yaml": database("orders", "Ready")})
		if res := sync("orders", r, "--wait", "--timeout", "30s"); res.code != 0 {
			t.Fatalf("sync of a ready Database: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
		}
	})

	t.Run("rule does not compile", func(t *testing.T) {
		r := newRepo(t, map[string]string{
			"deploy/cm.yaml":          configMap("never-written", "one"),
			"deploy/.gitops-set.yaml": strings.Replace(databaseRule, "status.phase == 'Ready'", "status.phase ==", 1),
		})
		res := sync("badrule", r)
		if res.code == 0 || !strings.Contains(res.stderr, "deploy/.gitops-set.yaml:4") || !strings.Contains(res.stderr, "does not compile") {
			t.Fatalf("exit %d; want a failure naming the rule's file:line\n%s\n%s", res.code, res.stdout, res.stderr)
		}
		for _, name := range []string{"never-written", "badrule"} {
			if got := kubectl(t, "get", "configmap", name, "-n", ns); got.code == 0 {
				t.Fatalf("configmap %s exists: the sync wrote before failing", name)
			}
		}
	})

	t.Run("dependsOn in the repository", func(t *testing.T) {
		base := newRepo(t, map[string]string{
			"deploy/db.yaml":          database("shared", "Creating"),
			"deploy/.gitops-set.yaml": databaseRule,
		})
		app := newRepo(t, map[string]string{
			"deploy/cm.yaml":          configMap("app-config", "one"),
			"deploy/.gitops-set.yaml": "apiVersion: kubectl-gitops.dev/v1alpha1\nkind: SyncSet\ndependsOn: [base]\n",
		})
		res := sync("app", app)
		if res.code == 0 || !strings.Contains(res.stderr, `depends on "base"`) || !strings.Contains(res.stderr, "never been synced") {
			t.Fatalf("sync of app before base: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
		}
		// base synced, but its Database is not Current by base's rule.
		mustKubectl(t, "gitops", "sync", "base", "--repo", base.dir, "--path", "deploy", "-n", ns)
		res = sync("app", app)
		if res.code == 0 || !strings.Contains(res.stderr, "not healthy: Database/"+ns+"/shared is InProgress") || !strings.Contains(res.stderr, "recorded from deploy/.gitops-set.yaml:4") {
			t.Fatalf("sync of app while base is not healthy: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
		}
		if got := kubectl(t, "get", "configmap", "app-config", "-n", ns); got.code == 0 {
			t.Fatal("app-config exists: app synced while its dependency was not ready")
		}
		base.commit("ready", map[string]string{"deploy/db.yaml": database("shared", "Ready")})
		mustKubectl(t, "gitops", "sync", "base", "--repo", base.dir, "--path", "deploy", "-n", ns)
		if res := sync("app", app); res.code != 0 {
			t.Fatalf("sync of app once base is healthy: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
		}
		st := mustKubectl(t, "gitops", "status", "app", "-n", ns)
		if !strings.Contains(st.stdout, "Depends on:  base") {
			t.Fatalf("status does not record the dependency:\n%s", st.stdout)
		}
	})

	t.Run("autoscaler warning", func(t *testing.T) {
		r := newRepo(t, map[string]string{
			"deploy/web.yaml": strings.Replace(webDeployment(), "replicas: 1", "replicas: 2", 1),
			"deploy/hpa.yaml": `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 10
`,
		})
		res := sync("scaled", r)
		want := "warning: Deployment/" + ns + "/web: created with spec.replicas from git; later syncs leave it to HorizontalPodAutoscaler web"
		if res.code != 0 || !strings.Contains(res.stderr, want) {
			t.Fatalf("exit %d; stderr does not say %q\n%s\n%s", res.code, want, res.stdout, res.stderr)
		}
		res = sync("scaled", r, "-o", "json")
		var out struct {
			Warnings []string `json:"warnings"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
			t.Fatalf("%v\n%s", err, res.stdout)
		}
		want = "Deployment/" + ns + "/web: spec.replicas is left to HorizontalPodAutoscaler web"
		if res.code != 0 || len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], want) || !strings.Contains(res.stderr, "warning: "+want) {
			t.Fatalf("exit %d; warnings %q, want %q in the JSON and on stderr\n%s", res.code, out.Warnings, want, res.stderr)
		}
	})
}
