// Package syncflags holds the flags that name a sync set and its source, as
// sync, diff, watch, status, images and the policy commands take them, and
// turns them, with the environment, into the options of a session.
package syncflags

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/session"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

// PasswordEnv is the environment variable read for the HTTPS password or token.
const PasswordEnv = "KUBECTL_GITOPS_GIT_PASSWORD"

// AllowGeneratorsEnv, when true, allows generators as --allow-generators does.
const AllowGeneratorsEnv = "KUBECTL_GITOPS_ALLOW_GENERATORS"

// Flags name a sync set and where its manifests come from.
type Flags struct {
	Name string
	Repo string
	Ref  string
	Path string

	GitUsername           string
	GitPasswordFile       string
	SSHKeyFile            string
	KnownHostsFile        string
	InsecureIgnoreHostKey bool
	InsecureSkipTLSVerify bool

	// AllowGenerators lets the programs a .gitops.yaml declares run.
	AllowGenerators bool
}

// AddGitFlags registers the flags on a command that reads git only: there
// --name names the set whose recorded source to read.
func (f *Flags) AddGitFlags(cmd *cobra.Command) {
	f.AddFlags(cmd)
	cmd.Flags().Lookup("name").Usage = "Without --repo: the sync set whose recorded source to read (its parent ConfigMap in the namespace of -n), when that source is confirmed on this machine."
}

// AddFlags registers the flags on a command.
func (f *Flags) AddFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.Name, "name", "", "Name of the sync set: its parent ConfigMap in the default namespace records the set's members and history.")
	fs.StringVar(&f.Repo, "repo", "", "Git repository: a local path, or a URL (https://, ssh://, git@host:org/repo.git, file://). Defaults to the source of the set's last sync, used only when it is the one confirmed on this machine: naming a source with --repo confirms it.")
	fs.StringVar(&f.Ref, "ref", "", "Branch, tag or commit to sync. Defaults to HEAD (the remote's default branch).")
	fs.StringVar(&f.Path, "path", "", "Directory inside the repository holding the manifests. Defaults to the repository's top.")
	fs.StringVar(&f.GitUsername, "git-username", "", "User name for HTTPS git remotes (the password or token is read from $"+PasswordEnv+" or --git-password-file).")
	fs.StringVar(&f.GitPasswordFile, "git-password-file", "", "File holding the password or token for HTTPS git remotes.")
	fs.StringVar(&f.SSHKeyFile, "ssh-key", "", "Private key for SSH git remotes. Defaults to the SSH agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa.")
	fs.StringVar(&f.KnownHostsFile, "known-hosts", "", "known_hosts file used to check SSH host keys. Defaults to ~/.ssh/known_hosts.")
	fs.BoolVar(&f.InsecureIgnoreHostKey, "insecure-ignore-host-key", false, "Do not check SSH host keys (unsafe).")
	fs.BoolVar(&f.InsecureSkipTLSVerify, "git-insecure-skip-tls-verify", false, "Do not verify the TLS certificate of HTTPS git remotes (unsafe).")
	fs.BoolVar(&f.AllowGenerators, "allow-generators", false, "Run the generators, KRM functions and updaters that the repository's .gitops.yaml declares: programs on this machine, so review the file first. $"+AllowGeneratorsEnv+"=1 does the same.")
}

// AddApplyFlags registers the flags sync and diff share.
func AddApplyFlags(cmd *cobra.Command, prune, force *bool, concurrency *int) {
	cmd.Flags().BoolVar(prune, "prune", true, "Delete the set's objects that are no longer in the repository.")
	cmd.Flags().BoolVar(force, "force-conflicts", false, "Take over fields that other field managers own.")
	cmd.Flags().IntVar(concurrency, "concurrency", 16, "Requests in flight at once within a stage.")
}

// AddOwnershipFlags registers the flags that let sync and diff go past the
// refusals of a sync set's ownership rules. watch has neither: taking objects
// over and emptying a set are one-off decisions of a person.
func AddOwnershipFlags(cmd *cobra.Command, adopt, allowEmpty *bool) {
	cmd.Flags().BoolVar(adopt, "adopt", false, "Take over objects of the repository that exist in the cluster outside any sync set (made by hand, by Helm, by Flux): they get the set's label, and are pruned with it when they leave the repository. Without it they are refused before anything is written. Objects of another sync set and ApplySet parents are refused either way.")
	cmd.Flags().BoolVar(allowEmpty, "allow-empty", false, "Sync a revision that renders no objects although the set has some, pruning every object of the set. Without it such a sync is refused before anything is written.")
}

// Options turns the flags of cmd, and the environment, into the options of
// a session: the password from $KUBECTL_GITOPS_GIT_PASSWORD or
// --git-password-file, generators allowed by --allow-generators or
// $KUBECTL_GITOPS_ALLOW_GENERATORS (never by the repository). Warnings go
// to warnings.
func (f *Flags) Options(cmd *cobra.Command, warnings io.Writer) (session.Options, error) {
	changed := func(name string) bool { return cmd != nil && cmd.Flags().Changed(name) }
	o := session.Options{
		Name:   f.Name,
		Source: applyset.Source{Repo: f.Repo, Ref: f.Ref, Path: f.Path},
		Named:  sourcetrust.Named{Repo: f.Repo != "", Ref: changed("ref"), Path: changed("path")},
		Auth: source.Auth{
			Username:              f.GitUsername,
			Password:              os.Getenv(PasswordEnv),
			SSHKeyFile:            f.SSHKeyFile,
			KnownHostsFile:        f.KnownHostsFile,
			InsecureIgnoreHostKey: f.InsecureIgnoreHostKey,
			InsecureSkipTLSVerify: f.InsecureSkipTLSVerify,
		},
		AllowGenerators: f.AllowGenerators,
		Warnings:        warnings,
	}
	if v := os.Getenv(AllowGeneratorsEnv); v != "" && !o.AllowGenerators {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("$%s=%q: want 1 or 0", AllowGeneratorsEnv, v)
		}
		o.AllowGenerators = b
	}
	if f.GitPasswordFile != "" {
		b, err := os.ReadFile(f.GitPasswordFile)
		if err != nil {
			return o, fmt.Errorf("--git-password-file: %w", err)
		}
		o.Auth.Password = strings.TrimSpace(string(b))
	}
	return o, o.Validate()
}

// SetSession builds the session of a command that works on a sync set
// (sync, diff, watch): --name is required.
func (f *Flags) SetSession(cmd *cobra.Command, factory kcmdutil.Factory, warnings io.Writer) (*session.Session, error) {
	return f.session(cmd, factory, warnings, session.Options.RequireName)
}

// SourceSession builds the session of a command that reads git only
// (images, workloads, the policy commands): --repo, or --name of a set
// whose recorded source to use, is required.
func (f *Flags) SourceSession(cmd *cobra.Command, factory kcmdutil.Factory, warnings io.Writer) (*session.Session, error) {
	return f.session(cmd, factory, warnings, session.Options.RequireSource)
}

func (f *Flags) session(cmd *cobra.Command, factory kcmdutil.Factory, warnings io.Writer, require func(session.Options) error) (*session.Session, error) {
	o, err := f.Options(cmd, warnings)
	if err != nil {
		return nil, err
	}
	if err := require(o); err != nil {
		return nil, err
	}
	return session.New(factory, o), nil
}

// NameFromArgs takes the sync set's name from the command's first
// argument, as `kubectl gitops sync web` names it: the same name given by
// --name as well is fine, another one is an error.
func (f *Flags) NameFromArgs(args []string) error {
	return NameFromArgs(&f.Name, args)
}

// NameFromArgs sets *name, the value of --name, from the first of args.
func NameFromArgs(name *string, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if len(args) > 1 {
		return fmt.Errorf("one sync set at a time: got %d names (%s)", len(args), strings.Join(args, ", "))
	}
	if *name != "" && *name != args[0] {
		return fmt.Errorf("the sync set is named twice, %q as the argument and %q by --name: give one of them", args[0], *name)
	}
	*name = args[0]
	return nil
}
