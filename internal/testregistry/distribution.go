// Package testregistry runs a real OCI registry for tests: the distribution
// registry that Debian's docker-registry package installs.
package testregistry

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// binary is where Debian's docker-registry package puts the distribution
// registry (github.com/distribution/distribution).
const binary = "/usr/bin/docker-registry"

// StartDistribution runs the distribution registry on a free loopback port
// with htpasswd basic auth for user and pass, and returns its host. The
// test fails when the registry is not installed: a real-registry test that
// CI runs must not pass by skipping. The registry is stopped when the test
// ends.
func StartDistribution(t testing.TB, user, pass string) string {
	t.Helper()
	bin := binary
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("docker-registry")
		if lerr != nil {
			t.Fatalf("the distribution registry is not installed (%v): install it with `apt-get install docker-registry` (CI installs it); this test runs against a real registry and is never skipped", err)
		}
		bin = p
	}
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: kubectl-gitops-test
auth:
  htpasswd:
    realm: kubectl-gitops-test
    path: %s
`, filepath.Join(dir, "data"), host, htpasswd)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	var out lockedBuffer
	cmd := exec.Command(bin, "serve", configPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited //nolint:errcheck // killed: its exit status says only that
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return host
			}
			t.Fatalf("distribution registry answered %s to an anonymous ping, want 401:\n%s", resp.Status, out.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("distribution registry exited: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("distribution registry did not listen on %s: %v\n%s", host, err, out.String())
		}
	}
}

// lockedBuffer collects the registry's output from its two streams.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
