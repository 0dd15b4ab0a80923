package source

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultAuthor(t *testing.T) {
	home := isolateGit(t)
	// A repository under ~/work, whose gitdir an includeIf matches.
	work := filepath.Join(home, "work", "repo")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	r := newRepo(t)
	r.git("init", "-q", "-b", "main", work)
	w := &gitRepo{t: t, dir: work, env: r.env}
	w.commit("first", nil)
	w.git("branch", "release/1")

	want := func(t *testing.T, repo string, name, email string) {
		t.Helper()
		a, err := DefaultAuthor(repo)
		if err != nil || a.Name != name || a.Email != email {
			t.Errorf("DefaultAuthor(%q) = %+v, %v; want %s <%s>", repo, a, err, name, email)
		}
	}

	// Nothing set.
	_, err := DefaultAuthor(r.dir)
	if err == nil || !strings.Contains(err.Error(), "user.name and user.email not set") || !strings.Contains(err.Error(), "set git config user.name/user.email or pass --author") {
		t.Errorf("DefaultAuthor without configuration = %v; want what to set", err)
	}
	t.Log(err)

	// The XDG file, then ~/.gitconfig over it, then the repository's.
	writeConfig(t, filepath.Join(home, ".config", "git", "config"), "[user]\n\tname = XDG Name\n\temail = xdg@example.com\n")
	want(t, r.dir, "XDG Name", "xdg@example.com")
	writeConfig(t, filepath.Join(home, ".gitconfig"), "[user]\n\temail = \"home@example.com\"\n")
	want(t, r.dir, "XDG Name", "home@example.com")
	want(t, "", "XDG Name", "home@example.com")
	want(t, "https://example.com/org/repo.git", "XDG Name", "home@example.com")
	r.git("config", "user.name", "Repo Name")
	want(t, r.dir, "Repo Name", "home@example.com")
	want(t, filepath.Join(r.dir, ".git"), "Repo Name", "home@example.com")

	// Includes, conditional on the git directory or the branch.
	writeConfig(t, filepath.Join(home, ".gitconfig"), `[user]
	email = home@example.com
[include]
	path = ~/.gitconfig-name
[includeIf "gitdir:~/work/"]
	path = .gitconfig-work
[includeIf "onbranch:release/"]
	path = ~/.gitconfig-release
[includeIf "hasconfig:remote.*.url:https://example.com/**"]
	path = ~/.gitconfig-never
`)
	writeConfig(t, filepath.Join(home, ".gitconfig-name"), "[user]\n\tname = Included Name\n")
	writeConfig(t, filepath.Join(home, ".gitconfig-work"), "[user]\n\temail = work@example.com\n")
	writeConfig(t, filepath.Join(home, ".gitconfig-release"), "[user]\n\tname = Release Name\n")
	writeConfig(t, filepath.Join(home, ".gitconfig-never"), "[user]\n\tname = Never\n")
	want(t, r.dir, "Repo Name", "home@example.com")
	want(t, "", "Included Name", "home@example.com")
	want(t, work, "Included Name", "work@example.com")
	w.git("checkout", "-q", "release/1")
	want(t, work, "Release Name", "work@example.com")

	// The environment wins, as in git; GIT_CONFIG_GLOBAL replaces the
	// global files.
	t.Setenv("GIT_AUTHOR_NAME", "Env Name")
	want(t, work, "Env Name", "work@example.com")
	t.Setenv("GIT_AUTHOR_NAME", "")
	global := filepath.Join(t.TempDir(), "global")
	writeConfig(t, global, "[user]\n\tname = Global Name\n\temail = global@example.com\n")
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	want(t, "", "Global Name", "global@example.com")

	// A system file, unless GIT_CONFIG_NOSYSTEM.
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(t.TempDir(), "none"))
	system := filepath.Join(t.TempDir(), "system")
	writeConfig(t, system, "[user]\n\tname = System Name\n\temail = system@example.com\n")
	t.Setenv("GIT_CONFIG_SYSTEM", system)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "")
	want(t, "", "System Name", "system@example.com")
	t.Setenv("GIT_CONFIG_NOSYSTEM", "true")
	if _, err := DefaultAuthor(""); err == nil {
		t.Error("DefaultAuthor with GIT_CONFIG_NOSYSTEM read the system file")
	}

	// Errors.
	if _, err := DefaultAuthor(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a git repository") {
		t.Errorf("DefaultAuthor(not a repository) = %v", err)
	}
	writeConfig(t, global, "[user\n")
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	if _, err := DefaultAuthor(""); err == nil || !strings.Contains(err.Error(), global) {
		t.Errorf("DefaultAuthor with a broken file = %v; want its name", err)
	}
	writeConfig(t, global, "[include]\n\tpath = global\n")
	if _, err := DefaultAuthor(""); err == nil || !strings.Contains(err.Error(), "nested includes") {
		t.Errorf("DefaultAuthor with an include loop = %v", err)
	}
}

func TestParseAuthor(t *testing.T) {
	for in, want := range map[string]Author{
		"Kube Bot <bot@example.com>":   {"Kube Bot", "bot@example.com"},
		"  Ann  < ann@example.com >  ": {"Ann", "ann@example.com"},
	} {
		got, err := ParseAuthor(in)
		if err != nil || got != want {
			t.Errorf("ParseAuthor(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if got.String() != want.Name+" <"+want.Email+">" {
			t.Errorf("String() = %q", got.String())
		}
	}
	for _, in := range []string{"", "bot@example.com", "Bot <>", "<bot@example.com>", "Bot <b<ot@example.com>", "Bot <bot@example.com"} {
		if a, err := ParseAuthor(in); err == nil {
			t.Errorf("ParseAuthor(%q) = %+v, want an error", in, a)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		fold, want bool
	}{
		{"/home/u/work/**", "/home/u/work/repo/.git", false, true},
		{"/home/u/work/**", "/home/u/workshop/repo/.git", false, false},
		{"**/work/**", "/home/u/work/repo/.git", false, true},
		{"**/repo/.git", "/home/u/work/repo/.git", false, true},
		{"**/repo/.git", "/repo/.git", false, true},
		{"/home/*/work/**", "/home/u/work/a/.git", false, true},
		{"/home/*/work/**", "/home/u/v/work/a/.git", false, false},
		{"/a/**/b", "/a/b", false, true},
		{"/a/**/b", "/a/x/y/b", false, true},
		{"/a/re?o/.git", "/a/repo/.git", false, true},
		{"/a/re[a-p]o/.git", "/a/repo/.git", false, true},
		{"/a/re[!p]o/.git", "/a/repo/.git", false, false},
		{"/A/Repo/**", "/a/repo/.git", true, true},
		{"/A/Repo/**", "/a/repo/.git", false, false},
		{"release/**", "release/1", false, true},
		{"release/**", "main", false, false},
		{"/a.b/**", "/axb/c", false, false},
		{"/työ/**", "/työ/x", false, true},
	} {
		if got := globMatch(tt.pattern, tt.s, tt.fold); got != tt.want {
			t.Errorf("globMatch(%q, %q, fold %v) = %v, want %v", tt.pattern, tt.s, tt.fold, got, tt.want)
		}
	}
}

// gitIdent returns "Name <email>" as git itself would author a commit in
// dir, with the configuration isolateGit set up.
func gitIdent(t *testing.T, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", "var", "GIT_AUTHOR_IDENT")
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		// Empty variables are unset for DefaultAuthor; git would read an
		// empty GIT_CONFIG_GLOBAL as "no global file".
		if k, v, _ := strings.Cut(kv, "="); v != "" && !strings.HasPrefix(k, "GIT_AUTHOR_") && !strings.HasPrefix(k, "GIT_COMMITTER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git var: %w: %s", err, out)
	}
	ident, _, _ := strings.Cut(string(out), ">")
	return ident + ">", nil
}

// An [includeIf "hasconfig:remote.*.url:<pattern>"] holds when a remote of
// any configuration file, the repository's included, has a URL matching
// the pattern; DefaultAuthor decides it as git does.
func TestDefaultAuthorHasConfigRemoteURL(t *testing.T) {
	home := isolateGit(t)
	withRemote := func(name, url string) string {
		r := newRepo(t)
		if url != "" {
			r.git("remote", "add", name, url)
		}
		return r.dir
	}
	org := withRemote("origin", "https://example.com/org/app.git")
	orgSSH := withRemote("upstream", "git@example.com:org/lib.git")
	other := withRemote("origin", "https://example.com/other/app.git")
	none := withRemote("", "")
	outside := t.TempDir()

	global := `[user]
	name = Home Name
	email = home@example.com
[includeIf "hasconfig:remote.*.url:https://example.com/org/**"]
	path = .gitconfig-org
[includeIf "hasconfig:remote.*.url:git@example.com:org/*"]
	path = ~/.gitconfig-org
`
	writeConfig(t, filepath.Join(home, ".gitconfig"), global)
	writeConfig(t, filepath.Join(home, ".gitconfig-org"), "[user]\n\temail = org@example.com\n")
	check := func(dir, repo, want string) {
		t.Helper()
		a, err := DefaultAuthor(repo)
		if err != nil || a.String() != want {
			t.Errorf("DefaultAuthor(%q) = %v, %v; want %s", repo, a, err, want)
		}
		if got, err := gitIdent(t, dir); err != nil || got != want {
			t.Errorf("git in %s authors as %q, %v; the test expects %s", dir, got, err, want)
		}
	}
	home1, org1 := "Home Name <home@example.com>", "Home Name <org@example.com>"
	check(org, org, org1)
	check(orgSSH, orgSSH, org1)
	check(other, other, home1)
	check(none, none, home1)
	check(outside, "", home1)

	// A remote in the global configuration counts for every repository.
	writeConfig(t, filepath.Join(home, ".gitconfig"), global+"[remote \"mirror\"]\n\turl = https://example.com/org/mirror.git\n")
	check(none, none, org1)
	check(outside, "", org1)

	// A file that an includeIf brings in may not declare remote URLs.
	writeConfig(t, filepath.Join(home, ".gitconfig"), global)
	writeConfig(t, filepath.Join(home, ".gitconfig-org"), "[user]\n\temail = org@example.com\n[remote \"x\"]\n\turl = https://example.com/x.git\n")
	if a, err := DefaultAuthor(org); err == nil || !strings.Contains(err.Error(), "may not declare remote URLs") || !strings.Contains(err.Error(), ".gitconfig-org") {
		t.Errorf("DefaultAuthor with a remote URL in a conditional include = %v, %v; want an error naming the file", a, err)
	}
	if got, err := gitIdent(t, org); err == nil {
		t.Errorf("git accepted a remote URL in a conditional include: %s", got)
	}
}
