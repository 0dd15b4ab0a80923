package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/yamlbomb"
)

// Attack tests for the render path: what a repository's kustomizations
// and YAML can make the plugin do. A kustomization may load only files of
// the commit being synced, kustomize reads only the files it asks for, and
// YAML is decoded with bounded memory.

// bounded is what a command did and the most memory it held.
type bounded struct {
	result
	peakRSS int64 // bytes
	took    time.Duration
}

// runBounded runs kubectl (which execs the plugin in its own process) with
// env, killing it after timeout or when its resident memory passes
// maxRSS, so that a test of the old, unbounded code cannot exhaust the
// machine.
func runBounded(t *testing.T, env []string, timeout time.Duration, maxRSS int64, args ...string) bounded {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	overLimit := make(chan int64, 1)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if rss := residentBytes(cmd.Process.Pid); rss > maxRSS {
					overLimit <- rss
					_ = cmd.Process.Kill()
					return
				}
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	b := bounded{result: result{stdout: stdout.String(), stderr: stderr.String()}, took: time.Since(start)}
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("%v: %v", cmd.Args, err)
		}
		b.code = exit.ExitCode()
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		b.peakRSS = ru.Maxrss << 10 // KiB on Linux
	}
	select {
	case rss := <-overLimit:
		t.Fatalf("kubectl %s held %d MiB, more than %d MiB: killed\nstderr:\n%s", strings.Join(args, " "), rss>>20, maxRSS>>20, b.stderr)
	default:
	}
	return b
}

// residentBytes is the resident memory of process pid, from /proc.
func residentBytes(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// onlyRootCA fails if ns holds a ConfigMap other than the one Kubernetes
// may put in every namespace: nothing was applied, and no sync set parent
// was made (the manifests of these tests are ConfigMaps).
func onlyRootCA(t *testing.T, what, ns string) {
	t.Helper()
	state := clusterState(t, ns)
	delete(state, "kube-root-ca.crt")
	if len(state) != 0 {
		t.Errorf("%s: the namespace holds the ConfigMaps %v, want none", what, state)
	}
}

// TestSecurityKustomizeRemoteBasesRunNothing: a kustomization whose base is
// a remote git URL made kustomize run the system git with the URL's ?ref=
// as an argument, so ?ref=--upload-pack=<command> ran any command. Every
// remote form is now an error naming the kustomization file and the URL,
// from sync, diff and watch, before anything is fetched, run or applied.
func TestSecurityKustomizeRemoteBasesRunNothing(t *testing.T) {
	ns := namespace(t)
	elsewhere := t.TempDir() // a local "remote", whose transport runs upload-pack
	env := trustEnv()

	// Each case's URL, given the attacker's server and a directory where the
	// command in ?ref= would leave a marker.
	upload := func(markers string) string {
		return "?ref=--upload-pack=/usr/bin/touch%20" + filepath.Join(markers, "ran")
	}
	cases := []struct {
		name string
		url  func(server, markers string) string
		// base, when set, puts the URL in a local base of the kustomization.
		base bool
	}{
		{name: "https", url: func(s, m string) string { return s + "/org/repo.git" + upload(m) }},
		{name: "file", url: func(s, m string) string { return "file://" + elsewhere + "/repo.git" + upload(m) }},
		{name: "go-getter", url: func(s, m string) string { return "git::file://" + elsewhere + "/repo.git" + upload(m) }},
		{name: "go-getter-http", url: func(s, m string) string { return "git::" + s + "/org/repo//base?ref=main" }},
		{name: "scp", url: func(s, m string) string { return "git@127.0.0.1:org/repo.git" + upload(m) }},
		{name: "base-of-a-base", base: true, url: func(s, m string) string { return "file://" + elsewhere + "/base.git" + upload(m) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			attacker := newRecorder(t)
			markers := t.TempDir()
			url := c.url(attacker.URL, markers)
			file := "deploy/kustomization.yaml"
			files := map[string]string{
				"deploy/cm.yaml": configMap("app", "x"),
				file:             "resources:\n- cm.yaml\n- " + url + "\n",
			}
			if c.base {
				file = "deploy/base/kustomization.yaml"
				files["deploy/kustomization.yaml"] = "resources:\n- cm.yaml\n- base\n"
				files[file] = "resources:\n- " + url + "\n"
			}
			repo := newRepo(t, files)
			base := []string{"--name", "remote-" + c.name, "--repo", repo.dir, "--path", "deploy", "-n", ns}
			for _, args := range [][]string{
				append([]string{"gitops", "sync"}, base...),
				append([]string{"gitops", "sync", "--dry-run=server"}, base...),
				append([]string{"gitops", "diff"}, base...),
			} {
				r := kubectlEnv(t, env, time.Minute, args...)
				if r.code == 0 || !strings.Contains(r.stderr, file+": resources entry \""+url+"\"") || !strings.Contains(r.stderr, "a kustomization may load only files of the commit") {
					t.Errorf("kubectl %s: exit %d, want an error naming %s and %s:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, file, url, r.stdout, r.stderr)
				}
			}
			// watch keeps trying; give it a few rounds.
			w := kubectlEnv(t, env, 5*time.Second, append([]string{"gitops", "watch", "--interval", "1s"}, base...)...)
			if out := w.stdout + w.stderr; !strings.Contains(out, file+": resources entry \""+url+"\"") {
				t.Errorf("watch does not name %s and %s:\nstdout:\n%s\nstderr:\n%s", file, url, w.stdout, w.stderr)
			}
			if entries, _ := os.ReadDir(markers); len(entries) > 0 {
				t.Errorf("the command given in ?ref= ran")
			}
			if got := attacker.got(); len(got) > 0 {
				t.Errorf("the attacker's server got requests: %v", got)
			}
			onlyRootCA(t, c.name, ns)
		})
	}
}

// TestSecurityKustomizeGeneratorFetchesNothing: a configMapGenerator's
// files and env files, a patch or a resource could be URLs, which
// kustomize fetched. Each is an error naming the kustomization file and
// the URL, and the server gets no request.
func TestSecurityKustomizeGeneratorFetchesNothing(t *testing.T) {
	ns := namespace(t)
	attacker := newRecorder(t)
	u := attacker.URL
	repo := newRepo(t, map[string]string{
		"deploy/cm.yaml": configMap("app", "x"),
		"deploy/kustomization.yaml": "resources:\n- cm.yaml\n- " + u + "/resource.yaml\n" +
			"configMapGenerator:\n- name: stolen\n  files:\n  - token=" + u + "/metadata/token\n  envs:\n  - " + u + "/vars.env\n" +
			"patches:\n- path: " + u + "/patch.yaml\n",
	})
	r := kubectlEnv(t, trustEnv(), time.Minute, "gitops", "sync", "--name", "gen", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	for _, want := range []string{
		"deploy/kustomization.yaml: resources entry \"" + u + "/resource.yaml\" is a URL",
		"deploy/kustomization.yaml: configMapGenerator files entry \"token=" + u + "/metadata/token\" is a URL",
		"deploy/kustomization.yaml: configMapGenerator envs entry \"" + u + "/vars.env\" is a URL",
		"deploy/kustomization.yaml: patches entry \"" + u + "/patch.yaml\" is a URL",
	} {
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("sync: exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
		}
	}
	if got := attacker.got(); len(got) > 0 {
		t.Errorf("the attacker's server got requests: %v", got)
	}
	onlyRootCA(t, "sync", ns)
}

// TestSecurityKustomizeAliasBombFailsFast: plain files were protected from
// alias bombs, but a kustomization's resource went to kustomize, which
// expanded it until memory ran out. Now sync fails at once with an error
// naming the file, in bounded memory, and applies nothing.
func TestSecurityKustomizeAliasBombFailsFast(t *testing.T) {
	ns := namespace(t)
	for _, c := range []struct{ name, file string }{
		{"resource", "deploy/lol.yaml"},
		{"base", "deploy/base/lol.yaml"},
		{"plain", "plain/lol.yaml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{
				"deploy/cm.yaml":                 configMap("app", "x"),
				"deploy/kustomization.yaml":      "resources: [cm.yaml, lol.yaml, base]\n",
				"deploy/lol.yaml":                configMap("other", "y"),
				"deploy/base/kustomization.yaml": "resources: [lol.yaml]\n",
				"deploy/base/lol.yaml":           configMap("base", "z"),
				"plain/cm.yaml":                  configMap("app", "x"),
				"plain/lol.yaml":                 configMap("other", "y"),
			}
			files[c.file] = yamlbomb.ConfigMap()
			path := strings.Split(c.file, "/")[0]
			repo := newRepo(t, files)
			r := runBounded(t, trustEnv(), 2*time.Minute, 1<<30, "gitops", "sync", "--name", "bomb-"+c.name, "--repo", repo.dir, "--path", path, "-n", ns)
			want := c.file + ":1: aliases expand the document's"
			if r.code == 0 || !strings.Contains(r.stderr, want) {
				t.Errorf("sync: exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
			}
			if r.took > 30*time.Second || r.peakRSS > 512<<20 {
				t.Errorf("sync took %s and %d MiB to refuse a %d-byte file, want it at once in little memory", r.took, r.peakRSS>>20, len(yamlbomb.ConfigMap()))
			}
			onlyRootCA(t, c.name, ns)
		})
	}
}

// TestSecurityKustomizeReadsOnlyWhatItLoads: rendering a kustomization
// copied every file of the commit into memory. A commit with a large file
// next to a one-ConfigMap kustomization now syncs without reading it: the
// plugin's peak memory stays below the file's size.
func TestSecurityKustomizeReadsOnlyWhatItLoads(t *testing.T) {
	ns := namespace(t)
	repo := newRepo(t, map[string]string{
		"deploy/cm.yaml":            configMap("app", "x"),
		"deploy/kustomization.yaml": "resources: [cm.yaml]\n",
		"assets/readme.md":          "not a manifest\n",
	})
	const size = 384 << 20
	for _, name := range []string{"deploy/video.bin", "assets/disk.img"} {
		p := filepath.Join(repo.dir, filepath.FromSlash(name))
		f, err := os.Create(p)
		if err == nil {
			err = f.Truncate(size) // zeros: git stores them in a few hundred KiB
		}
		if err == nil {
			err = f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	repo.commit("large files the kustomization does not use", nil)
	if err := os.Remove(filepath.Join(repo.dir, "deploy", "video.bin")); err != nil { // the work tree is not read
		t.Fatal(err)
	}
	r := runBounded(t, trustEnv(), 3*time.Minute, 2<<30, "gitops", "sync", "--name", "lazy", "--repo", repo.dir, "--path", "deploy", "-n", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "ConfigMap/"+ns+"/app created") {
		t.Fatalf("sync: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r.peakRSS >= size/2 {
		t.Errorf("sync held %d MiB at its peak: it read the %d MiB files the kustomization does not use", r.peakRSS>>20, size>>20)
	}
	t.Logf("sync held %d MiB at its peak, took %s", r.peakRSS>>20, r.took)
}
