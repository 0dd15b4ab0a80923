package e2e

import (
	"net"
	"strings"
	"testing"
)

// closedPort returns a host:port on loopback where nothing listens, so a
// connection to it is refused.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// An unreachable registry leaves the table readable: each row keeps its
// width and shows the tag in git, marked as an error, and the error, the
// same for both workloads, is printed once, below the table, on stderr.
func TestImagesTableWithAnUnreachableRegistry(t *testing.T) {
	host := closedPort(t)
	image := host + "/demo/web:1.4.2"
	repo := newRepo(t, map[string]string{
		"deploy/web.yaml":   deploymentYAML("web", "", image),
		"deploy/other.yaml": deploymentYAML("other", "", image),
	})
	r := gitops(t, repo.dir, "images", "--repo", ".", "--path", "deploy")
	if r.code == 0 {
		t.Fatalf("exit 0 with an unreachable registry\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) < 5 || !strings.HasPrefix(lines[0], "WORKLOAD") {
		t.Fatalf("want a table with a header and two workloads:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	for _, l := range lines {
		if len(l) > 120 {
			t.Errorf("row of %d characters:\n%s", len(l), l)
		}
	}
	for _, w := range []string{"demo:deployment/web", "demo:deployment/other"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("no row for %s:\n%s", w, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "'-> 1.4.2 (in git)"); n != 2 {
		t.Errorf("the tag in git is shown %d times, want once per workload:\n%s", n, r.stdout)
	}
	if n := strings.Count(r.stdout, "error (see below)"); n != 2 {
		t.Errorf("%d rows marked as errors, want 2:\n%s", n, r.stdout)
	}
	// The host is in the IMAGE column of each row, and nowhere else.
	if strings.Contains(r.stdout, "refused") || strings.Count(r.stdout, host) != 2 {
		t.Errorf("the error is in the table:\n%s", r.stdout)
	}
	if n := strings.Count(r.stdout+r.stderr, "dial tcp "+host); n != 1 {
		t.Errorf("the error is printed %d times on stderr, want once:\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stderr, host+"/demo/web") {
		t.Errorf("the error does not name the repository %s/demo/web:\n%s", host, r.stderr)
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
}
