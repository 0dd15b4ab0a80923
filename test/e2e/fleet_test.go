package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-gitops/kubectl-gitops/test/cluster"
)

// A fleet of three real API servers: the suite's own (context one), a
// second (context two) in the same kubeconfig, and a third named by its own
// kubeconfig file. One repository, per-cluster variables substituted into
// the objects; --target narrows; a target whose API server is down fails
// alone, named in the table, and the run exits 1.
func TestFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	two, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = two.Stop() })
	three, err := cluster.Start(ctx, cluster.Options{})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = three.Stop() })

	dir := t.TempDir()
	merged := filepath.Join(dir, "kubeconfig")
	mergeKubeconfigs(t, merged, map[string]string{"one": kubeconfig, "two": two.Kubeconfig})
	ns := "fleet-e2e"
	mustKubectl(t, "--kubeconfig", merged, "--context", "one", "create", "namespace", ns)
	mustKubectl(t, "--kubeconfig", merged, "--context", "two", "create", "namespace", ns)
	mustKubectl(t, "--kubeconfig", three.Kubeconfig, "create", "namespace", ns)

	r := newRepo(t, map[string]string{
		"apps/web/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  region: ${REGION}\n  greeting: ${GREETING:=hello}\n  literal: $${REGION}\n",
		"apps/web/raw.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: raw\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  script: echo ${HOME}\n",
	})
	fleetFile := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(fleetFile, []byte(fmt.Sprintf(`apiVersion: kubectl-gitops.dev/v1alpha1
kind: Fleet
repo: %s
ref: main
targets:
  - name: one
    context: one
    namespace: %[2]s
    set: site
    path: apps/web
    variables: {REGION: eu-west}
  - name: two
    context: two
    namespace: %[2]s
    set: site
    path: apps/web
    variables: {REGION: us-east, GREETING: hi}
  - name: three
    kubeconfig: %[3]s
    namespace: %[2]s
    set: site
    path: apps/web
    variables: {REGION: ap-south}
`, r.dir, ns, three.Kubeconfig)), 0o644); err != nil {
		t.Fatal(err)
	}
	value := func(ctxArgs []string, name, key string) string {
		t.Helper()
		args := append(append([]string{}, ctxArgs...), "-n", ns, "get", "configmap", name, "-o", "jsonpath={.data."+key+"}")
		return mustKubectl(t, args...).stdout
	}
	targets := map[string][]string{
		"one":   {"--kubeconfig", merged, "--context", "one"},
		"two":   {"--kubeconfig", merged, "--context", "two"},
		"three": {"--kubeconfig", three.Kubeconfig},
	}

	// Every target synced, each with its own variables.
	res := mustKubectl(t, "gitops", "sync", "--kubeconfig", merged, "--fleet", fleetFile)
	for _, name := range []string{"one", "two", "three"} {
		if !tableRow(res.stdout, name, "site") {
			t.Errorf("no row for target %s:\n%s", name, res.stdout)
		}
	}
	want := map[string][2]string{"one": {"eu-west", "hello"}, "two": {"us-east", "hi"}, "three": {"ap-south", "hello"}}
	for name, w := range want {
		if got := value(targets[name], "web", "region"); got != w[0] {
			t.Errorf("%s: region = %q, want %q", name, got, w[0])
		}
		if got := value(targets[name], "web", "greeting"); got != w[1] {
			t.Errorf("%s: greeting = %q, want %q", name, got, w[1])
		}
		if got := value(targets[name], "web", "literal"); got != "${REGION}" {
			t.Errorf("%s: the escape gave %q, want ${REGION}", name, got)
		}
		if got := value(targets[name], "raw", "script"); got != "echo ${HOME}" {
			t.Errorf("%s: an opted-out object was substituted: %q", name, got)
		}
	}

	// Nothing left to change anywhere: diff --fleet exits 0; status --fleet
	// shows every set current, as JSON too.
	if d := kubectl(t, "gitops", "diff", "--kubeconfig", merged, "--fleet", fleetFile); d.code != 0 {
		t.Errorf("diff --fleet after sync: exit %d\n%s%s", d.code, d.stdout, d.stderr)
	}
	st := mustKubectl(t, "gitops", "status", "--kubeconfig", merged, "--fleet", fleetFile, "-o", "json")
	var rows []struct {
		Target, Revision, Health, Error string
	}
	if err := json.Unmarshal([]byte(st.stdout), &rows); err != nil {
		t.Fatalf("status --fleet -o json: %v\n%s", err, st.stdout)
	}
	head := r.git("rev-parse", "HEAD")
	if len(rows) != 3 {
		t.Fatalf("status rows: %+v", rows)
	}
	for _, row := range rows {
		if row.Revision != head || row.Health != "2/2 current" || row.Error != "" {
			t.Errorf("status row %+v, want revision %s, 2/2 current", row, head)
		}
	}

	// --target narrows: only two gets the new commit.
	r.commit("v2", map[string]string{"apps/web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  region: ${REGION}-v2\n"})
	d := kubectl(t, "gitops", "diff", "--kubeconfig", merged, "--fleet", fleetFile, "--target", "two")
	if d.code != 1 || !tableRow(d.stdout, "two", "site") || tableRow(d.stdout, "one", "site") {
		t.Errorf("diff --target two: exit %d, want 1 and only two's row\n%s%s", d.code, d.stdout, d.stderr)
	}
	res = mustKubectl(t, "gitops", "sync", "--kubeconfig", merged, "--fleet", fleetFile, "--target", "two")
	if tableRow(res.stdout, "one", "site") || tableRow(res.stdout, "three", "site") {
		t.Errorf("--target two ran other targets:\n%s", res.stdout)
	}
	if got := value(targets["two"], "web", "region"); got != "us-east-v2" {
		t.Errorf("two: region = %q after --target two", got)
	}
	if got := value(targets["one"], "web", "region"); got != "eu-west" {
		t.Errorf("one was synced by --target two: region = %q", got)
	}
	if bad := kubectl(t, "gitops", "sync", "--kubeconfig", merged, "--fleet", fleetFile, "--target", "nope"); bad.code == 0 || !strings.Contains(bad.stderr, "nope") {
		t.Errorf("--target nope: exit %d\n%s", bad.code, bad.stderr)
	}

	// --target completes from the fleet file.
	comp := mustKubectl(t, "gitops", "__complete", "sync", "--fleet", fleetFile, "--target", "")
	for _, name := range []string{"one", "two", "three"} {
		if !strings.Contains(comp.stdout, name+"\n") {
			t.Errorf("--target completion lacks %s:\n%s", name, comp.stdout)
		}
	}

	// The third API server goes down: the others sync, the table names the
	// failure, the exit status is 1.
	if err := three.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	res = kubectl(t, "gitops", "sync", "--kubeconfig", merged, "--fleet", fleetFile)
	t.Logf("sync --fleet with three down:\n%s", res.stdout)
	if res.code != 1 {
		t.Errorf("sync with a target down: exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, line := range strings.Split(res.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "three":
			if len(f) < 9 {
				t.Errorf("the failed target's row names no error: %q", line)
			}
		case "one", "two":
			if len(f) != 7 {
				t.Errorf("target %s failed: %q", f[0], line)
			}
		}
	}
	if !tableRow(res.stdout, "three", "site") {
		t.Errorf("no row for the failed target:\n%s", res.stdout)
	}
	if got := value(targets["one"], "web", "region"); got != "eu-west-v2" {
		t.Errorf("one: region = %q with three down, want eu-west-v2", got)
	}
}

// tableRow says whether the table has a row for target and set.
func tableRow(table, target, set string) bool {
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == target && f[1] == set {
			return true
		}
	}
	return false
}

// mergeKubeconfigs writes one kubeconfig with a context per file, named
// by the map's keys.
func mergeKubeconfigs(t *testing.T, path string, files map[string]string) {
	t.Helper()
	out := clientcmdapi.NewConfig()
	for name, file := range files {
		cfg, err := clientcmd.LoadFromFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cur := cfg.Contexts[cfg.CurrentContext]
		if cur == nil {
			t.Fatalf("%s has no current context", file)
		}
		out.Clusters[name] = cfg.Clusters[cur.Cluster]
		out.AuthInfos[name] = cfg.AuthInfos[cur.AuthInfo]
		out.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	if err := clientcmd.WriteToFile(*out, path); err != nil {
		t.Fatal(err)
	}
}
