// Package tools checks, without network, that every tool the Makefile pins
// installs into an empty folder: the cold path of a new machine.
package tools

import (
	"archive/zip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// top is the repository's top folder, from this package's folder.
const top = "../.."

// toolRule is one Makefile rule that installs a pinned tool.
type toolRule struct {
	target, pkg, versionVar string
}

var (
	ruleRE    = regexp.MustCompile(`(?m)^\$\(([A-Z_]+)\):\n\thack/install-tool\.sh \$@ (\S+)@\$\(([A-Z_]+)\)$`)
	versionRE = regexp.MustCompile(`(?m)^([A-Z_]+_VERSION)\s*\?=\s*(\S+)$`)
	targetRE  = regexp.MustCompile(`(?m)^([A-Z_]+)\s*:=\s*\$\(TOOLS_DIR\)/(\S+)$`)
)

// TestEveryToolIsPinnedAndInstalledByTheScript reads the Makefile: every
// tool kept in the tools folder has a rule that installs it with
// hack/install-tool.sh at a pinned semver version.
func TestEveryToolIsPinnedAndInstalledByTheScript(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join(top, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for _, m := range versionRE.FindAllStringSubmatch(string(makefile), -1) {
		versions[m[1]] = m[2]
	}
	rules := map[string]toolRule{}
	for _, m := range ruleRE.FindAllStringSubmatch(string(makefile), -1) {
		rules[m[1]] = toolRule{target: m[1], pkg: m[2], versionVar: m[3]}
	}
	targets := targetRE.FindAllStringSubmatch(string(makefile), -1)
	if len(targets) == 0 {
		t.Fatal("the Makefile names no tool under $(TOOLS_DIR)")
	}
	semver := regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
	for _, m := range targets {
		name := m[1]
		r, ok := rules[name]
		if !ok {
			t.Errorf("Makefile: $(%s) has no rule of the form\n$(%s):\n\thack/install-tool.sh $@ PACKAGE@$(VERSION_VAR)", name, name)
			continue
		}
		v, ok := versions[r.versionVar]
		if !ok || !semver.MatchString(v) {
			t.Errorf("Makefile: $(%s) installs %s at $(%s) = %q, want a pinned vX.Y.Z", name, r.pkg, r.versionVar, v)
		}
	}
}

// TestInstallToolFromAnEmptyCache installs tools of every shape the
// Makefile uses (a major-version module path, a command below a module)
// from a module proxy on disk into an empty module cache.
func TestInstallToolFromAnEmptyCache(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("hack/install-tool.sh is a bash script")
	}
	proxy := t.TempDir()
	writeModule(t, proxy, "example.com/tool/v2", "v2.1.0", map[string]string{
		"main.go": "package main\n\nfunc main() { println(\"tool v2\") }\n",
	})
	writeModule(t, proxy, "example.com/kit", "v1.4.0", map[string]string{
		"cmd/kit-cli/main.go": "package main\n\nfunc main() { println(\"kit-cli\") }\n",
	})

	for _, tc := range []struct {
		pkg, want string
	}{
		{"example.com/tool/v2@v2.1.0", "tool v2"},
		{"example.com/kit/cmd/kit-cli@v1.4.0", "kit-cli"},
	} {
		dest := filepath.Join(t.TempDir(), "tools", "installed")
		cmd := exec.Command("bash", filepath.Join(top, "hack", "install-tool.sh"), dest, tc.pkg)
		cmd.Env = append(os.Environ(),
			"GOPROXY=file://"+filepath.ToSlash(proxy),
			"GOSUMDB=off",
			"GOMODCACHE="+t.TempDir(),
			"GOFLAGS=-modcacherw",
		)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("install-tool.sh %s: %v\n%s", tc.pkg, err, out)
		}
		out, err := exec.Command(dest).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Fatalf("the installed %s printed %q (%v), want %q", tc.pkg, out, err, tc.want)
		}
	}

	// An unpinned tool is refused.
	cmd := exec.Command("bash", filepath.Join(top, "hack", "install-tool.sh"), filepath.Join(t.TempDir(), "x"), "example.com/kit/cmd/kit-cli")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "pin every tool") {
		t.Fatalf("an unpinned package was not refused: %v\n%s", err, out)
	}
}

// writeModule lays out module mod at version in a file-based module proxy
// (GOPROXY=file://...), with a go.mod and the given files.
func writeModule(t *testing.T, proxy, mod, version string, files map[string]string) {
	t.Helper()
	dir := filepath.Join(proxy, filepath.FromSlash(mod), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod := "module " + mod + "\n\ngo 1.22\n"
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("list", version+"\n")
	write(version+".info", `{"Version":"`+version+`","Time":"2026-01-01T00:00:00Z"}`)
	write(version+".mod", gomod)

	f, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z := zip.NewWriter(f)
	files["go.mod"] = gomod
	for name, data := range files {
		w, err := z.Create(mod + "@" + version + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
}
