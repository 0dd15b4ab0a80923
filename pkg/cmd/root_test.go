package cmd

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// commands returns every command of the tree NewCmdRoot builds, the root
// first, so that a new command is covered by the tests below without
// being listed.
func commands(root *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{root}
	for _, c := range root.Commands() {
		out = append(out, commands(c)...)
	}
	return out
}

// path returns the arguments that select c under its root: "policy",
// "completion bash".
func path(c *cobra.Command) []string {
	var p []string
	for ; c.HasParent(); c = c.Parent() {
		p = append([]string{c.Name()}, p...)
	}
	return p
}

// needNoInput are the commands that run without any argument or flag: they
// have no "missing input" case.
var needNoInput = map[string]bool{
	"version":               true,
	"get":                   true, // lists the sets of the namespace
	"completion bash":       true,
	"completion zsh":        true,
	"completion fish":       true,
	"completion powershell": true,
	"completion kubectl":    true, // writes its script next to kubectl-gitops
}

type usageCase struct {
	name string
	args []string
	want string // in the error line
}

// usageCases are the usage errors tried on c: an unknown flag, an -o value
// it does not print, an extra argument, and no input at all.
func usageCases(c *cobra.Command) []usageCase {
	p := path(c)
	with := func(args ...string) []string { return append(append([]string{}, p...), args...) }
	cases := []usageCase{{"unknown flag", with("--no-such-flag"), "unknown flag: --no-such-flag"}}
	if !c.Runnable() {
		return cases
	}
	if c.Flags().Lookup("output") != nil {
		args := with("-o", "wide-and-bogus")
		if c.Flags().Lookup("name") != nil {
			args = append(args, "--name", "web")
		}
		cases = append(cases, usageCase{"bad -o", args, `"wide-and-bogus"`})
	}
	if c.Args != nil {
		// one more argument than any command takes
		cases = append(cases, usageCase{"extra argument", with("a", "b", "c"), ""})
	}
	if !needNoInput[strings.Join(p, " ")] {
		cases = append(cases, usageCase{"missing input", with(), ""})
	}
	return cases
}

// TestUsageErrors runs usage errors of every command in-process: the error
// and a line pointing at the command's help go to stderr, nothing to stdout,
// never the help, with exit status 1 (2 for diff, whose 1 means "differs").
func TestUsageErrors(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	seen := 0
	for _, c := range commands(NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard())) {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		for _, tc := range usageCases(c) {
			name := strings.Join(append(path(c), tc.name), "/")
			t.Run(name, func(t *testing.T) {
				seen++
				streams, _, stdout, stderr := genericiooptions.NewTestIOStreams()
				root := NewCmdRoot(streams)
				root.SetArgs(tc.args)
				code := Execute(context.Background(), root, stderr)
				wantCode := 1
				if len(tc.args) > 0 && tc.args[0] == "diff" {
					wantCode = 2
				}
				if code != wantCode {
					t.Errorf("kubectl gitops %s: exit %d, want %d; stderr:\n%s", strings.Join(tc.args, " "), code, wantCode, stderr)
				}
				if stdout.Len() != 0 {
					t.Errorf("kubectl gitops %s: stdout is not empty:\n%s", strings.Join(tc.args, " "), stdout)
				}
				lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
				see := "See '" + strings.Join(append([]string{"kubectl gitops"}, path(c)...), " ") + " --help' for usage."
				if len(lines) != 2 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], tc.want) || lines[1] != see {
					t.Errorf("kubectl gitops %s: stderr is not the error (with %q) and %q:\n%s", strings.Join(tc.args, " "), tc.want, see, stderr)
				}
				for _, help := range []string{"Usage:", "Flags:", "Examples:"} {
					if strings.Contains(stderr.String(), help) {
						t.Errorf("kubectl gitops %s: stderr holds help text %q", strings.Join(tc.args, " "), help)
					}
				}
			})
		}
	}
	if seen < 30 {
		t.Errorf("only %d usage cases ran: the command tree walk misses commands", seen)
	}
}

// TestUsageErrorsNamed are the usage errors issue 18 reported.
func TestUsageErrorsNamed(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sync", "--name", "web", "--pth", "deploy"}, "error: unknown flag: --pth\n"},
		{[]string{"sync", "--name", "web", "-o", "wide"}, `error: --output "wide" is not supported`},
		{[]string{"sync"}, "error: --name is required"},
		{[]string{"sync", "--name", "web", "--dry-run=client"}, `error: --dry-run="client" is not supported`},
		{[]string{"policy", "deployment/web", "--repo", "."}, "error: nothing to change"},
		{[]string{"no-such-command"}, `error: unknown command "no-such-command"`},
	} {
		streams, _, stdout, stderr := genericiooptions.NewTestIOStreams()
		root := NewCmdRoot(streams)
		root.SetArgs(tc.args)
		code := Execute(context.Background(), root, stderr)
		if code != 1 || stdout.Len() != 0 || !strings.HasPrefix(stderr.String(), tc.want) {
			t.Errorf("kubectl gitops %s: exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr starting %q",
				strings.Join(tc.args, " "), code, stdout, stderr, tc.want)
		}
	}
}

// TestNotUsageErrors: an error of the work itself, after the flags were
// checked, is not followed by the See-line.
func TestNotUsageErrors(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	streams, _, stdout, stderr := genericiooptions.NewTestIOStreams()
	root := NewCmdRoot(streams)
	root.SetArgs([]string{"workloads", "--repo", filepath.Join(t.TempDir(), "no-repo")})
	code := Execute(context.Background(), root, stderr)
	if code != 1 || stdout.Len() != 0 || !strings.HasPrefix(stderr.String(), "error: ") || strings.Contains(stderr.String(), "See '") {
		t.Errorf("exit %d, stdout %q, stderr %q: want exit 1 and the error alone", code, stdout, stderr)
	}
}

// TestKubeconfigFlagsOnEveryCommand: every flag of kubectl's ConfigFlags
// (--user, --context, -n, -s, ...) is the root's persistent flag on every
// command, never one of the command's own with another meaning: lock once
// had a --user of its own, so that the kubeconfig user could not be chosen.
func TestKubeconfigFlagsOnEveryCommand(t *testing.T) {
	kubeFlags := pflag.NewFlagSet("kubectl", pflag.ContinueOnError)
	genericclioptions.NewConfigFlags(true).AddFlags(kubeFlags)
	var names []string
	shorthands := map[string]string{}
	kubeFlags.VisitAll(func(f *pflag.Flag) {
		names = append(names, f.Name)
		if f.Shorthand != "" {
			shorthands[f.Shorthand] = f.Name
		}
	})
	if len(names) < 10 {
		t.Fatalf("ConfigFlags gave only %v", names)
	}
	root := NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard())
	for _, c := range commands(root) {
		where := strings.Join(append([]string{"kubectl gitops"}, path(c)...), " ")
		for _, name := range names {
			want := root.PersistentFlags().Lookup(name)
			if want == nil {
				t.Fatalf("the root has no --%s", name)
			}
			if got := c.Flag(name); got != want {
				t.Errorf("%s --%s is its own flag (%q), not kubectl's (%q)", where, name, got.Usage, want.Usage)
			}
		}
		c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			if kube, ok := shorthands[f.Shorthand]; ok {
				t.Errorf("%s -%s is --%s, not kubectl's --%s", where, f.Shorthand, f.Name, kube)
			}
		})
	}
}

// TestFlagTexts: a flag that several commands share says what it does in
// each, not what it does in the command its text was copied from.
func TestFlagTexts(t *testing.T) {
	root := NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard())
	usage := map[string]map[string]string{} // command path -> flag -> text
	for _, c := range commands(root) {
		p := strings.Join(path(c), " ")
		usage[p] = map[string]string{}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { usage[p][f.Name] = f.Usage })
	}
	// The three copies issue 18 found.
	for _, tc := range []struct{ command, flag, not string }{
		{"unlock", "message", "lock's"},
		{"lock", "ref", "to sync"},
		{"diff", "prune", "Delete"},
	} {
		if text := usage[tc.command][tc.flag]; text == "" || strings.Contains(text, tc.not) {
			t.Errorf("%s --%s says %q", tc.command, tc.flag, text)
		}
	}
	// Rules for every command, so that a new command or flag that copies
	// a text is caught: a phrase that makes sense only for some commands.
	rules := []struct {
		phrase string
		only   []string // the commands whose texts may hold it
	}{
		{"the lock's message", []string{"lock", "policy"}},
		{"commit to sync", []string{"sync", "watch"}},
		{"Delete the set's objects", []string{"sync", "watch"}},
		{"Take over", []string{"sync", "watch"}},
		{"Take back", []string{"sync", "watch"}},
		{"Sync a revision", []string{"sync", "watch"}},
		{"records the set's members", []string{"sync", "diff", "watch", "status"}},
	}
	for p, flags := range usage {
		for name, text := range flags {
			for _, r := range rules {
				if strings.Contains(text, r.phrase) && !slices.Contains(r.only, p) {
					t.Errorf("kubectl gitops %s --%s says %q, which fits only %v: %q", p, name, r.phrase, r.only, text)
				}
			}
		}
	}
}
