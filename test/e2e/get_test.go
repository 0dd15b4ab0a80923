package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// get (alias list) lists the sync sets of the namespace, or of all with -A,
// as kubectl get does; commands take the set's name as their argument.
func TestGetListsTheSets(t *testing.T) {
	ns := namespace(t)

	r := mustKubectl(t, "gitops", "get", "-n", ns)
	if r.stdout != "" || r.stderr != "No resources found in "+ns+" namespace.\n" {
		t.Fatalf("get in an empty namespace: stdout %q, stderr %q; want kubectl's line on stderr only", r.stdout, r.stderr)
	}
	if r := mustKubectl(t, "gitops", "get", "-n", ns, "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("get -o json in an empty namespace: %q, want []", r.stdout)
	}

	repo := newRepo(t, map[string]string{
		"deploy/a.yaml": configMap("a", "one"),
		"other/b.yaml":  configMap("b", "two"),
	})
	rev := repo.git("rev-parse", "HEAD")
	// The name as the argument, and by --name.
	mustKubectl(t, "gitops", "sync", "web", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	mustKubectl(t, "gitops", "sync", "--name", "api", "--repo", repo.dir, "--ref", "main", "--path", "other", "-n", ns)
	mustKubectl(t, "gitops", "suspend", "--name", "api", "-n", ns, "-m", "testing")

	r = mustKubectl(t, "gitops", "list", "-n", ns)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAME SOURCE REVISION LAST RUN AGE SUSPENDED" {
		t.Fatalf("list: want a header and two sets:\n%s", r.stdout)
	}
	api, web := strings.Fields(lines[1]), strings.Fields(lines[2])
	// api /repo ref main path other <rev> Succeeded <age> true
	if api[0] != "api" || api[1] != repo.dir || api[3] != "main" || api[5] != "other" || api[6] != rev[:12] || api[7] != "Succeeded" || api[9] != "true" {
		t.Errorf("list: the line of api is %q", lines[1])
	}
	if web[0] != "web" || web[1] != repo.dir || web[3] != "deploy" || web[4] != rev[:12] || web[5] != "Succeeded" || web[7] != "false" {
		t.Errorf("list: the line of web is %q", lines[2])
	}

	r = mustKubectl(t, "gitops", "get", "-A")
	if !strings.HasPrefix(r.stdout, "NAMESPACE ") || !strings.Contains(r.stdout, "\n"+ns+" ") {
		t.Errorf("get -A: no NAMESPACE column or no line of %s:\n%s", ns, r.stdout)
	}

	r = mustKubectl(t, "gitops", "get", "web", "-n", ns, "-o", "json")
	var one struct {
		Name, Namespace, Revision string
		Source                    struct{ Repo, Path string }
		LastRun                   struct{ Outcome string }
		Suspended                 *struct{ By string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil {
		t.Fatalf("get web -o json: %v\n%s", err, r.stdout)
	}
	if one.Name != "web" || one.Namespace != ns || one.Revision != rev || one.Source.Path != "deploy" || one.LastRun.Outcome != "Succeeded" || one.Suspended != nil {
		t.Errorf("get web -o json: %+v\n%s", one, r.stdout)
	}

	r = kubectl(t, "gitops", "get", "nope", "-n", ns)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, `no sync set "nope"`) || !strings.Contains(r.stderr, "api, web") {
		t.Errorf("get nope: exit %d, stdout %q, stderr %q; want an error naming the sets there", r.code, r.stdout, r.stderr)
	}

	// status, diff and watch's argument names the set too.
	r = mustKubectl(t, "gitops", "status", "web", "-n", ns)
	if !strings.Contains(r.stdout, "Sync set:    web ") {
		t.Errorf("status web:\n%s", r.stdout)
	}
	if r := kubectl(t, "gitops", "diff", "web", "-n", ns); r.code != 0 {
		t.Errorf("diff web: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = kubectl(t, "gitops", "status", "web", "--name", "api", "-n", ns)
	if r.code != 1 || !strings.Contains(r.stderr, "named twice") {
		t.Errorf("status web --name api: exit %d, stderr %q", r.code, r.stderr)
	}

	// Completion of the argument lists the sets.
	r = mustKubectl(t, "gitops", "__complete", "status", "-n", ns, "")
	if !strings.Contains(r.stdout, "api\nweb\n") {
		t.Errorf("completing status NAME: %q", r.stdout)
	}
}
