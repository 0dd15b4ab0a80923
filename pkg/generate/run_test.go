//go:build unix

package generate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/workload"
)

// TestMain lets the test binary be a KRM function for the tests:
// `generate.test krm-function <mode>`.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "krm-function" {
		os.Exit(krmFunction(os.Args[2], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// krmFunction is a KRM function written with kyaml's framework: "label"
// sets the label the ConfigMap functionConfig names on every item; "fail"
// fails.
func krmFunction(mode string, in io.Reader, out, errOut io.Writer) int {
	if mode == "fail" {
		fmt.Fprintln(errOut, "the function exploded: no such thing")
		return 1
	}
	p := framework.ResourceListProcessorFunc(func(rl *framework.ResourceList) error {
		data := rl.FunctionConfig.GetDataMap()
		for _, item := range rl.Items {
			if err := item.PipeE(yaml.SetLabel(data["key"], data["value"])); err != nil {
				return err
			}
		}
		return nil
	})
	if err := framework.Execute(p, &kio.ByteReadWriter{Reader: in, Writer: out, KeepReaderAnnotations: true}); err != nil {
		fmt.Fprintln(errOut, err)
		return 1
	}
	return 0
}

func testConfig(t *testing.T, body string) *Config {
	t.Helper()
	cfg, err := Parse("deploy/.gitops.yaml", []byte("apiVersion: kubectl-gitops.dev/v1alpha1\nkind: Generators\n"+body))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newTestWorkspace(t *testing.T, files fstest.MapFS) *Workspace {
	t.Helper()
	if files == nil {
		files = fstest.MapFS{}
	}
	files["deploy/vars.env"] = &fstest.MapFile{Data: []byte("X=1\n")}
	w, err := NewWorkspace(files, Options{Revision: "abc123", Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	return w
}

func TestGenerateRunsInTheWorkspaceWithAMinimalEnvironment(t *testing.T) {
	t.Setenv("SECRET_TOKEN", "hunter2")
	cfg := testConfig(t, `generators:
  - name: env
    command: [sh, -c, 'echo "cwd=$(pwd)"; env']
`)
	w := newTestWorkspace(t, nil)
	if err := w.CheckGenerators(cfg, "deploy"); err != nil {
		t.Fatal(err)
	}
	out, err := w.Generate(t.Context(), cfg, cfg.Generators[0], "deploy")
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	root, _ := filepath.EvalSymlinks(w.Root())
	cwd := ""
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		k, v, _ := strings.Cut(line, "=")
		if k == "cwd" {
			cwd = v
			continue
		}
		env[k] = v
	}
	if real, _ := filepath.EvalSymlinks(cwd); real != filepath.Join(root, "deploy") {
		t.Errorf("cwd %s, want %s", cwd, filepath.Join(root, "deploy"))
	}
	if strings.Contains(got, "hunter2") || env["SECRET_TOKEN"] != "" {
		t.Errorf("the user's environment leaked:\n%s", got)
	}
	if h := env["HOME"]; h == os.Getenv("HOME") || !strings.HasPrefix(h, filepath.Dir(w.Root())) {
		t.Errorf("HOME=%s, want a directory of the workspace", h)
	}
	want := map[string]string{
		"LANG": "C", "KUBECTL_GITOPS_PATH": "deploy", "KUBECTL_GITOPS_CONFIG": "deploy/.gitops.yaml",
		"KUBECTL_GITOPS_REVISION": "abc123", "KUBECTL_GITOPS_NAMESPACE": "shop", "KUBECTL_GITOPS_GENERATOR": "env",
		"KUBECTL_GITOPS_ROOT": w.Root(), "PATH": os.Getenv("PATH"),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	// sh adds PWD, SHLVL and _ itself; anything else came from us.
	allowed := map[string]bool{"HOME": true, "TMPDIR": true, "PWD": true, "SHLVL": true, "_": true, "OLDPWD": true}
	for k := range env {
		if _, ok := want[k]; !ok && !allowed[k] {
			t.Errorf("unexpected variable %s=%s", k, env[k])
		}
	}
}

func TestFailureQuotesTheEndOfStderr(t *testing.T) {
	cfg := testConfig(t, `generators:
  - name: short
    command: [sh, -c, 'echo partial; echo "loading vars.env" >&2; echo "error: WEB_TAG is not set" >&2; exit 3']
  - name: long
    command: [sh, -c, 'i=0; while [ $i -lt 2000 ]; do echo "noise line $i" >&2; i=$((i+1)); done; echo "the real reason" >&2; exit 1']
  - name: quiet
    command: [sh, -c, 'exit 2']
`)
	w := newTestWorkspace(t, nil)
	_, err := w.Generate(t.Context(), cfg, cfg.Generators[0], "deploy")
	want := "generator \"short\" (deploy/.gitops.yaml:4) failed: exit status 3; its standard error:\n    loading vars.env\n    error: WEB_TAG is not set"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	_, err = w.Generate(t.Context(), cfg, cfg.Generators[1], "deploy")
	if err == nil || !strings.Contains(err.Error(), "last 4 KiB") || !strings.HasSuffix(err.Error(), "the real reason") || strings.Contains(err.Error(), "noise line 0\n") {
		t.Errorf("long stderr: %v", err)
	}
	if err != nil && len(err.Error()) > 4096+1500 {
		t.Errorf("the error is %d bytes long", len(err.Error()))
	}
	_, err = w.Generate(t.Context(), cfg, cfg.Generators[2], "deploy")
	if err == nil || !strings.HasSuffix(err.Error(), "exit status 2; it printed nothing on standard error") {
		t.Errorf("quiet failure: %v", err)
	}
}

// alive says whether process pid runs (a zombie does not count).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return runtime.GOOS != "linux"
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !alive(pid) {
			return
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("process %d still runs", pid)
}

func readPID(t *testing.T, p string) int {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(p)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
	}
	t.Fatalf("no pid in %s", p)
	return 0
}

func TestTimeoutKillsTheWholeProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	cfg := testConfig(t, fmt.Sprintf(`generators:
  - name: slow
    timeout: 300ms
    command: [sh, -c, 'sleep 60 >/dev/null 2>&1 & echo $! > %s; echo "waiting for the cluster" >&2; wait']
`, pidFile))
	w := newTestWorkspace(t, nil)
	start := time.Now()
	_, err := w.Generate(t.Context(), cfg, cfg.Generators[0], "deploy")
	if err == nil || !strings.Contains(err.Error(), `generator "slow" (deploy/.gitops.yaml:4): timed out after 300ms; its processes were killed`) || !strings.Contains(err.Error(), "waiting for the cluster") {
		t.Fatalf("error: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
	waitGone(t, readPID(t, pidFile))
}

func TestWhatAProgramLeavesRunningIsKilled(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "bg.pid")
	cfg := testConfig(t, fmt.Sprintf(`generators:
  - name: leaves
    command: [sh, -c, 'sleep 60 >/dev/null 2>&1 & echo $! > %s; echo done']
  - name: holds-output
    timeout: 20s
    command: [sh, -c, 'sleep 60 & echo $! > %s.2; echo done']
`, pidFile, pidFile))
	w := newTestWorkspace(t, nil)
	out, err := w.Generate(t.Context(), cfg, cfg.Generators[0], "deploy")
	if err != nil || string(out) != "done\n" {
		t.Fatalf("%q, %v", out, err)
	}
	waitGone(t, readPID(t, pidFile))

	start := time.Now()
	_, err = w.Generate(t.Context(), cfg, cfg.Generators[1], "deploy")
	if err == nil || !strings.Contains(err.Error(), "kept its output open; they were killed") {
		t.Fatalf("a child holding stdout: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
	waitGone(t, readPID(t, pidFile+".2"))
}

func TestCancelKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	cfg := testConfig(t, fmt.Sprintf("generators:\n  - name: slow\n    command: [sh, -c, 'sleep 60 >/dev/null 2>&1 & echo $! > %s; wait']\n", pidFile))
	w := newTestWorkspace(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		readPID(t, pidFile)
		cancel()
	}()
	_, err := w.Generate(ctx, cfg, cfg.Generators[0], "deploy")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error: %v", err)
	}
	waitGone(t, readPID(t, pidFile))
}

func TestPrograms(t *testing.T) {
	files := fstest.MapFS{
		"deploy/gen.sh":    {Data: []byte("#!/bin/sh\necho from-the-repo\n"), Mode: 0o755},
		"tools/shared.sh":  {Data: []byte("#!/bin/sh\necho shared\n"), Mode: 0o755},
		"deploy/plain.sh":  {Data: []byte("#!/bin/sh\necho x\n"), Mode: 0o644},
		"deploy/local.txt": {Data: []byte("local\n")},
	}
	cfg := testConfig(t, `generators:
  - name: repo-script
    command: [./gen.sh]
  - name: shared
    command: [../tools/shared.sh]
  - name: read-local
    command: [cat, local.txt]
`)
	w := newTestWorkspace(t, files)
	if err := w.CheckGenerators(cfg, "deploy"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"from-the-repo\n", "shared\n", "local\n"} {
		out, err := w.Generate(t.Context(), cfg, cfg.Generators[i], "deploy")
		if err != nil || string(out) != want {
			t.Errorf("%s: %q, %v", cfg.Generators[i].Name, out, err)
		}
	}

	bad := testConfig(t, `generators:
  - name: missing
    command: [no-such-program-anywhere]
  - name: outside
    command: [../../etc/x.sh]
  - name: not-executable
    command: [./plain.sh]
`)
	err := w.CheckGenerators(bad, "deploy")
	for _, want := range []string{
		`generator "missing" (deploy/.gitops.yaml:4): program "no-such-program-anywhere" is not in PATH`,
		`generator "outside" (deploy/.gitops.yaml:6): program ../../etc/x.sh is outside the repository`,
		`generator "not-executable" (deploy/.gitops.yaml:8): program ./plain.sh:`, "is not executable",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if err := w.CheckGenerators(cfg, "nowhere"); err == nil || !strings.Contains(err.Error(), "nowhere is not a directory of the repository") {
		t.Errorf("missing dir: %v", err)
	}
	// Relative PATH entries would find programs in the repository.
	w.path = "bin:" + w.path
	if err := os.MkdirAll(filepath.Join(w.Root(), "deploy", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.Root(), "deploy", "bin", "sneaky"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sneaky := testConfig(t, "generators: [{name: s, command: [sneaky]}]\n")
	if err := w.CheckGenerators(sneaky, "deploy"); err == nil {
		t.Error("a program was found through a relative PATH entry")
	}
}

func TestOutputIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("prints 64 MiB")
	}
	cfg := testConfig(t, "generators:\n  - name: flood\n    command: [sh, -c, 'yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']\n")
	w := newTestWorkspace(t, nil)
	_, err := w.Generate(t.Context(), cfg, cfg.Generators[0], "deploy")
	if err == nil || !strings.Contains(err.Error(), "printed more than 64 MiB on standard output") {
		t.Fatalf("error: %v", err)
	}
}

func TestWorkspaceCopy(t *testing.T) {
	files := fstest.MapFS{
		"deploy/app.yaml":    {Data: []byte("a")},
		"deploy/run.sh":      {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"deploy/inside":      {Data: []byte("app.yaml"), Mode: fs.ModeSymlink},
		"deploy/up":          {Data: []byte("../shared/values"), Mode: fs.ModeSymlink},
		"deploy/escape":      {Data: []byte("../../../../etc/passwd"), Mode: fs.ModeSymlink},
		"deploy/absolute":    {Data: []byte("/etc/passwd"), Mode: fs.ModeSymlink},
		"shared/values":      {Data: []byte("v")},
		"deploy/.hidden/cfg": {Data: []byte("h")},
	}
	w := newTestWorkspace(t, files)
	root := w.Root()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	for p, want := range map[string]string{"deploy/app.yaml": "a", "deploy/inside": "a", "deploy/up": "v", "deploy/.hidden/cfg": "h"} {
		if got := read(p); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"deploy/escape", "deploy/absolute"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a link leaving the tree was copied (%v)", p, err)
		}
	}
	if info, err := os.Stat(filepath.Join(root, "deploy/run.sh")); err != nil || info.Mode()&0o111 == 0 {
		t.Errorf("run.sh lost its executable bit: %v", err)
	}

	// Changes: edits are found, created files ignored, removals refused.
	if err := os.WriteFile(filepath.Join(root, "deploy/app.yaml"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "deploy/new.yaml"), []byte("n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changes, err := w.Changes(files)
	if err != nil || len(changes) != 1 || string(changes["deploy/app.yaml"]) != "b" {
		t.Fatalf("changes: %v, %v", changes, err)
	}
	if err := os.Remove(filepath.Join(root, "shared/values")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Changes(files); err == nil || !strings.Contains(err.Error(), "shared/values was removed") {
		t.Errorf("removal: %v", err)
	}
	// Close removes even read-only leftovers.
	ro := filepath.Join(root, "..", "home", "modcache", "x")
	if err := os.MkdirAll(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "f"), []byte("f"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(root)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the workspace is still there: %v", err)
	}
}

func TestFunction(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, fmt.Sprintf(`includeFiles: true
generators:
  - name: label
    function:
      exec: [%q, krm-function, label]
      config: {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {key: team, value: web}}
  - name: fail
    function:
      exec: [%q, krm-function, fail]
`, self, self))
	w := newTestWorkspace(t, nil)
	item, err := yaml.Parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n")
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.Function(t.Context(), cfg, cfg.Generators[0], "deploy", []*yaml.RNode{item})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].GetLabels()["team"] != "web" || out[0].GetName() != "one" {
		t.Fatalf("output: %v", out)
	}
	_, err = w.Function(t.Context(), cfg, cfg.Generators[1], "deploy", []*yaml.RNode{item})
	if err == nil || !strings.Contains(err.Error(), `function "fail" (deploy/.gitops.yaml:9) failed: exit status 1`) || !strings.Contains(err.Error(), "the function exploded: no such thing") {
		t.Errorf("failure: %v", err)
	}
	if _, err := w.Generate(t.Context(), cfg, cfg.Generators[0], "deploy"); err == nil {
		t.Error("Generate ran a function")
	}
}

func TestSetImageAndPolicyEnvironment(t *testing.T) {
	t.Setenv("SECRET_TOKEN", "hunter2")
	cfg := testConfig(t, `generators: [{name: g, command: [x]}]
updaters:
  - name: record
    setImage: [sh, -c, 'env | sort > image.env']
    setPolicy: [sh, -c, 'env | sort > policy.env']
  - name: second
    setImage: [sh, -c, 'echo "$KUBECTL_GITOPS_UPDATER" > second.txt']
`)
	w := newTestWorkspace(t, nil)
	if err := w.CheckUpdaters(cfg, "deploy"); err != nil {
		t.Fatal(err)
	}
	id := workload.ID{Namespace: "shop", Kind: "deployment", Name: "web"}
	err := w.SetImage(t.Context(), cfg, "deploy", ImageUpdate{Workload: id, Container: "app", Repo: "registry.example.com/web", Tag: "1.2.0", Digest: "sha256:abc"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetPolicy(t.Context(), cfg, "deploy", PolicyUpdate{Workload: id, Policy: "tag.app", Value: "semver:^1"}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(w.Root(), "deploy", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	img := read("image.env")
	for _, want := range []string{
		"FLUX_WORKLOAD=shop:deployment/web", "FLUX_WL_NS=shop", "FLUX_WL_KIND=deployment", "FLUX_WL_NAME=web",
		"FLUX_CONTAINER=app", "FLUX_IMG=registry.example.com/web", "FLUX_TAG=1.2.0",
		"KUBECTL_GITOPS_WORKLOAD=shop:deployment/web", "KUBECTL_GITOPS_CONTAINER=app", "KUBECTL_GITOPS_IMAGE=registry.example.com/web",
		"KUBECTL_GITOPS_TAG=1.2.0", "KUBECTL_GITOPS_IMAGE_REF=registry.example.com/web:1.2.0@sha256:abc", "KUBECTL_GITOPS_UPDATER=record",
	} {
		if !strings.Contains(img, want+"\n") {
			t.Errorf("setImage environment lacks %s:\n%s", want, img)
		}
	}
	if strings.Contains(img, "hunter2") {
		t.Error("the user's environment leaked")
	}
	if got := read("second.txt"); got != "second\n" {
		t.Errorf("the second updater: %q", got)
	}
	pol := read("policy.env")
	for _, want := range []string{"FLUX_POLICY=tag.app", "FLUX_POLICY_VALUE=semver:^1", "KUBECTL_GITOPS_POLICY=tag.app", "FLUX_WORKLOAD=shop:deployment/web"} {
		if !strings.Contains(pol, want+"\n") {
			t.Errorf("setPolicy environment lacks %s:\n%s", want, pol)
		}
	}

	none := testConfig(t, "generators: [{name: g, command: [x]}]\n")
	if err := w.SetImage(t.Context(), none, "deploy", ImageUpdate{Workload: id}); err == nil || !strings.Contains(err.Error(), "declares no updater with setImage") {
		t.Errorf("no updater: %v", err)
	}
}
