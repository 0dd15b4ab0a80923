package sourcetrust

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

var (
	key   = Key{Server: "https://127.0.0.1:6443", Namespace: "demo", Set: "web"}
	mine  = applyset.Source{Repo: "https://git.example.com/team/web.git", Ref: "main", Path: "deploy"}
	other = applyset.Source{Repo: "https://attacker.example/evil.git", Ref: "main", Path: "deploy"}
)

func newStore(t *testing.T) Store {
	t.Helper()
	return Store{Dir: filepath.Join(t.TempDir(), "config", "kubectl-gitops", "confirmed-sources")}
}

func TestConfirmThenGetRoundTrips(t *testing.T) {
	s := newStore(t)
	if _, ok, err := s.Get(key); err != nil || ok {
		t.Fatalf("Get before Confirm: ok %v, err %v; want nothing confirmed", ok, err)
	}
	if err := s.Confirm(key, mine, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(key)
	if err != nil || !ok || got != mine {
		t.Fatalf("Get = %+v, %v, %v; want %+v", got, ok, err, mine)
	}
	// Another set, namespace or cluster has its own confirmation.
	for _, k := range []Key{
		{Server: key.Server, Namespace: key.Namespace, Set: "api"},
		{Server: key.Server, Namespace: "prod", Set: key.Set},
		{Server: "https://10.0.0.1:6443", Namespace: key.Namespace, Set: key.Set},
	} {
		if _, ok, err := s.Get(k); err != nil || ok {
			t.Errorf("Get(%v): ok %v, err %v; want nothing confirmed", k, ok, err)
		}
	}
	// A new confirmation replaces the old one.
	if err := s.Confirm(key, other, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Get(key); got != other {
		t.Fatalf("after a second Confirm, Get = %+v, want %+v", got, other)
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("the store holds %d files after two confirmations of one set, want 1 (no temporary file left)", len(entries))
	}
}

func TestFilesArePrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits on Windows")
	}
	s := newStore(t)
	if err := s.Confirm(key, mine, time.Now()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path(key))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", s.Path(key), fi.Mode().Perm())
	}
	di, err := os.Stat(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("%s has mode %04o, want 0700", s.Dir, di.Mode().Perm())
	}
}

func TestFileWritableByOthersIsRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits on Windows")
	}
	s := newStore(t)
	if err := s.Confirm(key, mine, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.Path(key), 0o666); err != nil {
		t.Fatal(err)
	}
	_, ok, err := s.Get(key)
	if err == nil || ok || !strings.Contains(err.Error(), s.Path(key)) || !strings.Contains(err.Error(), "written by other users") {
		t.Fatalf("Get of a world-writable file: ok %v, err %v; want an error naming the file", ok, err)
	}
	if err := s.Check(key, mine, Named{}); err == nil {
		t.Fatal("Check trusted a source confirmed in a world-writable file")
	}
}

func TestCorruptFileIsAnErrorNamingIt(t *testing.T) {
	s := newStore(t)
	if err := s.Confirm(key, mine, time.Now()); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"not JSON":   "{\"key\": ",
		"no repo":    `{"key":{"server":"https://127.0.0.1:6443","namespace":"demo","set":"web"},"source":{"repo":""}}`,
		"wrong type": `{"key":{"server":"https://127.0.0.1:6443","namespace":"demo","set":"web"},"source":"x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(s.Path(key), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, ok, err := s.Get(key)
			if err == nil || ok || !strings.Contains(err.Error(), s.Path(key)) || !strings.Contains(err.Error(), "--repo") {
				t.Fatalf("Get: ok %v, err %v; want an error naming %s and how to recover", ok, err, s.Path(key))
			}
			if err := s.Check(key, mine, Named{}); err == nil || errors.Is(err, ErrNotConfirmed) {
				t.Fatalf("Check with a corrupt file: %v; want the read error", err)
			}
		})
	}
}

func TestFileCopiedFromAnotherSetConfirmsNothing(t *testing.T) {
	s := newStore(t)
	theirs := Key{Server: key.Server, Namespace: key.Namespace, Set: "attacker"}
	if err := s.Confirm(theirs, other, time.Now()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(s.Path(theirs))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(key), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(key); err != nil || ok {
		t.Fatalf("Get of a file naming another set: ok %v, err %v; want nothing confirmed", ok, err)
	}
}

func TestCheck(t *testing.T) {
	s := newStore(t)
	var nc *NotConfirmedError
	err := s.Check(key, mine, Named{})
	if !errors.As(err, &nc) || nc.Confirmed != nil || !errors.Is(err, ErrNotConfirmed) {
		t.Fatalf("Check with nothing confirmed: %v; want a NotConfirmedError without a confirmed source", err)
	}
	if !strings.Contains(err.Error(), mine.Repo) || !strings.Contains(err.Error(), "not confirmed") {
		t.Errorf("the error does not show the recorded source: %v", err)
	}
	if err := s.Check(key, other, Named{Repo: true}); err != nil {
		t.Fatalf("a repository named by the operator needs no confirmation: %v", err)
	}
	if err := s.Confirm(key, mine, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(key, mine, Named{}); err != nil {
		t.Fatalf("Check of the confirmed source: %v", err)
	}
	for _, tc := range []struct {
		name  string
		src   applyset.Source
		named Named
		want  string // the parts that differ; "" when allowed
	}{
		{"another repository", other, Named{}, "repository"},
		{"another ref", applyset.Source{Repo: mine.Repo, Ref: "evil", Path: mine.Path}, Named{}, "ref"},
		{"another path", applyset.Source{Repo: mine.Repo, Ref: mine.Ref, Path: "../../etc"}, Named{}, "path"},
		{"a ref named by the operator", applyset.Source{Repo: mine.Repo, Ref: "v2", Path: mine.Path}, Named{Ref: true}, ""},
		{"a path named by the operator", applyset.Source{Repo: mine.Repo, Ref: mine.Ref, Path: "staging"}, Named{Path: true}, ""},
		{"another repository, ref and path named", applyset.Source{Repo: other.Repo, Ref: "x", Path: "y"}, Named{Ref: true, Path: true}, "repository"},
		{"credentials in the recorded URL", applyset.Source{Repo: "https://u:p@git.example.com/team/web.git", Ref: mine.Ref, Path: mine.Path}, Named{}, "repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Check(key, tc.src, tc.named)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check: %v; want it allowed", err)
				}
				return
			}
			var nc *NotConfirmedError
			if !errors.As(err, &nc) || nc.Confirmed == nil || *nc.Confirmed != mine || strings.Join(nc.Mismatch, ",") != tc.want {
				t.Fatalf("Check: %v; want a refusal for the %s, naming the confirmed source", err, tc.want)
			}
			if !strings.Contains(err.Error(), "differs") || !strings.Contains(err.Error(), mine.Repo) {
				t.Errorf("the error does not show both sources: %v", err)
			}
		})
	}
}

func TestDescribeQuotesWhatATerminalWouldActOn(t *testing.T) {
	for _, tc := range []struct {
		src  applyset.Source
		want string
	}{
		{applyset.Source{Repo: "/home/me/fleet", Path: "deploy"}, "/home/me/fleet path deploy"},
		{applyset.Source{Repo: "git@github.com:org/repo.git", Ref: "v1.2.0"}, "git@github.com:org/repo.git ref v1.2.0"},
		{applyset.Source{Repo: "https://evil.example/x\x1b[2K", Path: "a b"}, `"https://evil.example/x\x1b[2K" path "a b"`},
	} {
		if got := Describe(tc.src); got != tc.want {
			t.Errorf("Describe(%+v) = %s, want %s", tc.src, got, tc.want)
		}
	}
	if got := Flags(applyset.Source{Repo: "/r", Ref: "main", Path: "deploy"}); got != "--repo /r --ref main --path deploy" {
		t.Errorf("Flags = %s", got)
	}
}

func TestDefaultStoreFollowsXDGConfigHome(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("XDG_CONFIG_HOME is read on Linux")
	}
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	s, err := DefaultStore()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "kubectl-gitops", "confirmed-sources"); s.Dir != want {
		t.Fatalf("DefaultStore().Dir = %s, want %s", s.Dir, want)
	}
}
