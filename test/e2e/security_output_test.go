package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretManifest is a Secret with a password in stringData and the
// annotations given (name: value).
func secretManifest(name, password string, annotations map[string]string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\n")
	if len(annotations) > 0 {
		b.WriteString("  annotations:\n")
		for k, v := range annotations {
			fmt.Fprintf(&b, "    %s: %q\n", k, v)
		}
	}
	b.WriteString("type: Opaque\nstringData:\n  password: " + password + "\n")
	return b.String()
}

// TestSecurityOutputMasksSecretValues: a Secret that kubectl apply wrote
// (as Flux v1 and kubectl users did) holds its values in plain text in the
// kubectl.kubernetes.io/last-applied-configuration annotation. Neither the
// value in the cluster nor the new one in git may show in anything the
// plugin prints: diff (text, -o json, -o yaml), status -o yaml, sync
// --dry-run=server -o yaml and sync -o yaml, each also with -v=9; the diff
// still shows that the password changed, with kubectl's before/after marks.
func TestSecurityOutputMasksSecretValues(t *testing.T) {
	ns := namespace(t)
	oldValue := fmt.Sprintf("old-plaintext-%d", os.Getpid())
	newValue := fmt.Sprintf("new-plaintext-%d", os.Getpid())
	secrets := []string{oldValue, newValue}
	for _, s := range []string{oldValue, newValue} {
		secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(s)))
	}

	// The set creates the Secret; then kubectl apply (client-side) writes
	// it again, which adds the annotation with the plain text.
	repo := newRepo(t, map[string]string{"deploy/secret.yaml": secretManifest("db", oldValue, nil)})
	mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	file := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(file, []byte(secretManifest("db", oldValue, nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "apply", "-n", ns, "-f", file)
	live := mustKubectl(t, "get", "secret", "db", "-n", ns, "-o", "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}")
	if !strings.Contains(live.stdout, oldValue) {
		t.Fatalf("kubectl apply wrote no last-applied-configuration with the value; the test proves nothing: %q", live.stdout)
	}

	// git rotates the password and annotates the Secret, which puts the
	// annotations (last-applied-configuration among them) in the diff.
	repo.commit("rotate", map[string]string{"deploy/secret.yaml": secretManifest("db", newValue, map[string]string{"example.com/rotated": "2026-11"})})

	check := func(r result, args []string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
				t.Errorf("kubectl %s shows the Secret value %q:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), s, r.stdout, r.stderr)
			}
		}
	}
	run := func(wantCode int, args ...string) result {
		t.Helper()
		r := kubectl(t, args...)
		if r.code != wantCode {
			t.Fatalf("kubectl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, wantCode, r.stdout, r.stderr)
		}
		check(r, args)
		return r
	}
	for _, v := range []string{"", "-v=9"} {
		extra := func(args ...string) []string {
			if v != "" {
				args = append(args, v)
			}
			return args
		}
		d := run(1, extra("gitops", "diff", "--name", "set", "-n", ns)...)
		for _, want := range []string{"*** (before)", "*** (after)", "+    example.com/rotated: 2026-11", "kubectl.kubernetes.io/last-applied-configuration", `"stringData":{"password":"***"}`} {
			if !strings.Contains(d.stdout, want) {
				t.Errorf("diff %s lacks %q:\n%s", v, want, d.stdout)
			}
		}
		for _, o := range []string{"json", "yaml"} {
			r := run(1, extra("gitops", "diff", "--name", "set", "-n", ns, "-o", o)...)
			if !strings.Contains(r.stdout, "(after)") {
				t.Errorf("diff -o %s %s shows no masked change:\n%s", o, v, r.stdout)
			}
		}
		run(0, extra("gitops", "sync", "--name", "set", "-n", ns, "--dry-run=server", "-o", "yaml")...)
		run(0, extra("gitops", "status", "--name", "set", "-n", ns, "-o", "yaml")...)
		if v != "" {
			// The requests are logged, their bodies are not.
			r := run(0, extra("gitops", "status", "--name", "set", "-n", ns)...)
			if !strings.Contains(r.stderr, `"Request" verb="GET"`) || strings.Contains(r.stderr, "Body") {
				t.Errorf("status -v=9 should log requests without bodies:\n%s", r.stderr)
			}
		}
	}
	run(0, "gitops", "sync", "--name", "set", "-n", ns, "-o", "yaml", "-v=9")
	run(0, "gitops", "status", "--name", "set", "-n", ns, "-o", "yaml", "-v=9")
	got := mustKubectl(t, "get", "secret", "db", "-n", ns, "-o", "jsonpath={.data.password}")
	if got.stdout != base64.StdEncoding.EncodeToString([]byte(newValue)) {
		t.Errorf("the sync did not apply the new password: %q", got.stdout)
	}
}

// TestSecurityOutputRedactsRecordedURL: a record in the cluster whose
// repository URL holds a password (written by a version that printed such
// URLs whole, or by hand) shows it in nothing the plugin prints.
func TestSecurityOutputRedactsRecordedURL(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{"deploy/cm.yaml": configMap("app", "x")})
	mustKubectl(t, "gitops", "sync", "--name", "set", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	const password = "2024#Winter"
	record := `{"source":{"repo":"https://alice:` + password + `@127.0.0.1:1/org/repo.git","path":"deploy"}}`
	patch := fmt.Sprintf(`{"data":{"record.json":%q}}`, record)
	mustKubectl(t, "patch", "configmap", "set", "-n", ns, "--type=merge", "-p", patch)

	for _, args := range [][]string{
		{"gitops", "status", "--name", "set", "-n", ns},
		{"gitops", "status", "--name", "set", "-n", ns, "-o", "json"},
		{"gitops", "status", "--name", "set", "-n", ns, "-o", "yaml", "-v=9"},
		{"gitops", "sync", "--name", "set", "-n", ns, "--dry-run=server", "-v=9"},
		{"gitops", "diff", "--name", "set", "-n", ns, "-o", "yaml"},
	} {
		r := kubectl(t, args...)
		if strings.Contains(r.stdout+r.stderr, "Winter") || strings.Contains(r.stdout+r.stderr, "2024") {
			t.Errorf("kubectl %s shows the recorded password:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
		if args[1] == "status" && (r.code != 0 || !strings.Contains(r.stdout, "127.0.0.1:1/org/repo.git")) {
			t.Errorf("kubectl %s: exit %d, want 0 and the redacted URL:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
}
