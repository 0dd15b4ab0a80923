// Package krew checks the release archives and the krew manifest that
// `make dist` builds: krew validates the manifest and installs the plugin
// from it, and the installed plugin runs, also through kubectl.
package krew

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// need returns an environment variable the Makefile sets, failing the test
// with what to do when it is missing.
func need(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("$%s is not set: run this test with `make test`, which builds the release archives (make dist) and krew first", name)
	}
	return v
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestKrewInstallsThePlugin(t *testing.T) {
	dist := need(t, "KUBECTL_GITOPS_DIST")
	krew := need(t, "KREW")
	validate := need(t, "VALIDATE_KREW_MANIFEST")
	manifest := filepath.Join(dist, "krew", "gitops.yaml")
	ext := "tar.gz"
	if runtime.GOOS == "windows" {
		ext = "zip"
	}
	archive := filepath.Join(dist, "kubectl-gitops_"+runtime.GOOS+"_"+runtime.GOARCH+"."+ext)

	home := t.TempDir()
	root := filepath.Join(home, "krew")
	env := []string{"HOME=" + home, "KREW_ROOT=" + root, "PATH=" + filepath.Join(root, "bin") + string(os.PathListSeparator) + os.Getenv("PATH")}

	run(t, env, validate, "-manifest", manifest, "-skip-install")
	run(t, env, krew, "install", "--manifest="+manifest, "--archive="+archive)

	bin := filepath.Join(root, "bin", "kubectl-gitops")
	var info struct{ Version, Commit string }
	if err := json.Unmarshal([]byte(run(t, env, bin, "version", "-o", "json")), &info); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^  version: (v\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no spec.version in %s", manifest)
	}
	version := string(m[1])
	if info.Version != version || len(info.Commit) != 40 {
		t.Fatalf("installed plugin says version %q commit %q; the manifest is for %s", info.Version, info.Commit, version)
	}
	if !strings.Contains(run(t, env, "kubectl", "plugin", "list"), bin) {
		t.Fatal("kubectl plugin list does not show the plugin krew installed")
	}
	if out := run(t, env, "kubectl", "gitops", "version"); !strings.Contains(out, version) {
		t.Fatalf("kubectl gitops version: %s", out)
	}
	// The archive carries the license and the completion script.
	for _, f := range []string{"LICENSE", "kubectl_complete-gitops"} {
		matches, _ := filepath.Glob(filepath.Join(root, "store", "gitops", "*", f))
		if len(matches) != 1 {
			t.Fatalf("%s not installed by krew (found %v)", f, matches)
		}
	}
}
