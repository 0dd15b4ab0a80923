package syncflags

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// parse parses args as a command with the flags would.
func parse(t *testing.T, args ...string) (f *Flags, cmd *cobra.Command) {
	t.Helper()
	f = &Flags{}
	cmd = &cobra.Command{Use: "sync", RunE: func(*cobra.Command, []string) error { return nil }}
	f.AddFlags(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return f, cmd
}

func TestOptionsReadTheFlagsAndTheEnvironmentOnce(t *testing.T) {
	t.Setenv(PasswordEnv, "from-env")
	t.Setenv(AllowGeneratorsEnv, "1")
	f, cmd := parse(t, "--name", "web", "--repo", "https://git.example.com/web.git", "--ref", "", "--git-username", "me")
	o, err := f.Options(cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "web" || o.Auth.Username != "me" || o.Auth.Password != "from-env" || !o.AllowGenerators {
		t.Errorf("options %+v: want the flags, the password and generators allowed from the environment", o)
	}
	// A ref given empty by flag is named: it replaces a recorded one.
	if !o.Named.Repo || !o.Named.Ref || o.Named.Path {
		t.Errorf("named %+v; want repo and ref, not path", o.Named)
	}

	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, cmd = parse(t, "--name", "web", "--git-password-file", file)
	if o, err = f.Options(cmd, nil); err != nil || o.Auth.Password != "from-file" {
		t.Errorf("password %q, %v; want the file's, trimmed", o.Auth.Password, err)
	}
}

func TestOptionsRefuseWhatCannotBeRead(t *testing.T) {
	for _, tc := range []struct {
		env  string
		args []string
		want string
	}{
		{"maybe", []string{"--name", "web"}, AllowGeneratorsEnv + `="maybe": want 1 or 0`},
		{"", []string{"--name", "web", "--git-password-file", "/nonexistent/token"}, "--git-password-file"},
		{"", []string{"--name", "Bad_Name"}, "not a valid ConfigMap name"},
	} {
		t.Setenv(AllowGeneratorsEnv, tc.env)
		f, cmd := parse(t, tc.args...)
		if _, err := f.Options(cmd, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want an error saying %q", tc.args, err, tc.want)
		}
	}
	f, cmd := parse(t)
	if _, err := f.SetSession(cmd, nil, nil); err == nil || !strings.Contains(err.Error(), "--name is required") {
		t.Errorf("a set command without --name: %v", err)
	}
	if _, err := f.SourceSession(cmd, nil, nil); err == nil || !strings.Contains(err.Error(), "--repo is required") {
		t.Errorf("a git command without --repo or --name: %v", err)
	}
}
