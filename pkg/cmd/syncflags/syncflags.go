// Package syncflags holds the flags that name a sync set and its source, as
// sync, diff and status take them, and turns them into a ready plan.
package syncflags

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/apply"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/generate"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/version"
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

	cmd *cobra.Command
}

// AddFlags registers the flags on a command.
func (f *Flags) AddFlags(cmd *cobra.Command) {
	f.cmd = cmd
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

// GenerateOptions says whether the generators of a .gitops.yaml may run, by
// --allow-generators or $KUBECTL_GITOPS_ALLOW_GENERATORS (never by the
// repository), and tells them the revision and default namespace.
func (f *Flags) GenerateOptions(revision, namespace string) (generate.Options, error) {
	allow := f.AllowGenerators
	if v := os.Getenv(AllowGeneratorsEnv); v != "" && !allow {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return generate.Options{}, fmt.Errorf("$%s=%q: want 1 or 0", AllowGeneratorsEnv, v)
		}
		allow = b
	}
	return generate.Options{Allow: allow, Revision: revision, Namespace: namespace}, nil
}

// RenderOptions are the options to render the commit revision with.
func (f *Flags) RenderOptions(revision, namespace string) (render.Options, error) {
	g, err := f.GenerateOptions(revision, namespace)
	return render.Options{Generate: g}, err
}

// Validate checks the flags that can be checked without a cluster.
func (f *Flags) Validate() error {
	if f.Name == "" {
		return errors.New("--name is required: it names the sync set (its parent ConfigMap)")
	}
	if errs := validation.IsDNS1123Subdomain(f.Name); len(errs) > 0 {
		return fmt.Errorf("--name %q is not a valid ConfigMap name: %s", f.Name, strings.Join(errs, "; "))
	}
	return nil
}

// Spec returns the source spec from the flags, with the source the set
// recorded filling in what the flags leave out: without --repo, the recorded
// repository, ref and path are used where --ref and --path are not given.
//
// The record is read from the cluster, where anyone who can edit the set's
// parent can change it, so a recorded source is used only when trust says
// that the operator confirmed it on this machine (see package sourcetrust):
// otherwise Spec fails, before anything is fetched or any credential read.
func (f *Flags) Spec(recorded applyset.Source, trust Trust) (source.Spec, applyset.Source, error) {
	src := applyset.Source{Repo: f.Repo, Ref: f.Ref, Path: f.Path}
	fromRecord := f.Repo == ""
	if fromRecord {
		if recorded.Repo == "" {
			return source.Spec{}, src, fmt.Errorf("--repo is required: sync set %q has no recorded source yet", f.Name)
		}
		src.Repo = recorded.Repo
		if !f.changed("ref") {
			src.Ref = recorded.Ref
		}
		if !f.changed("path") {
			src.Path = recorded.Path
		}
	}
	spec := source.Spec{Repo: src.Repo, Ref: src.Ref}
	if source.IsRemote(src.Repo) {
		src.Repo = source.Redact(src.Repo) // the spec may carry credentials; the record never does
		if fromRecord {
			spec.Repo = src.Repo // nor does a record's URL carry any into the spec
		}
	} else if abs, err := filepath.Abs(src.Repo); err == nil {
		src.Repo, spec.Repo = abs, abs // a later sync from elsewhere finds it
	}
	if fromRecord {
		if err := trust.check(f, src); err != nil {
			return source.Spec{}, src, err
		}
	}
	auth := source.Auth{
		Username:              f.GitUsername,
		Password:              os.Getenv(PasswordEnv),
		SSHKeyFile:            f.SSHKeyFile,
		KnownHostsFile:        f.KnownHostsFile,
		InsecureIgnoreHostKey: f.InsecureIgnoreHostKey,
		InsecureSkipTLSVerify: f.InsecureSkipTLSVerify,
	}
	if f.GitPasswordFile != "" {
		b, err := os.ReadFile(f.GitPasswordFile)
		if err != nil {
			return source.Spec{}, src, fmt.Errorf("--git-password-file: %w", err)
		}
		auth.Password = strings.TrimSpace(string(b))
	}
	spec.Auth = auth
	return spec, src, nil
}

// named says which parts of the source the operator named by flag.
func (f *Flags) named() sourcetrust.Named {
	return sourcetrust.Named{Repo: f.Repo != "", Ref: f.changed("ref"), Path: f.changed("path")}
}

// Trust is what a recorded source is checked against: the sources the
// operator confirmed on this machine, and the set's key among them.
type Trust struct {
	Store sourcetrust.Store
	Key   sourcetrust.Key
	err   error // why there is no store or no key
}

// NewTrust returns the trust of the set name in namespace on the cluster of
// the kubeconfig. An error finding them is returned when a recorded source
// is checked, not here: with --repo, nothing needs checking.
func NewTrust(factory cmdutil.Factory, name, namespace string) Trust {
	t := Trust{Key: sourcetrust.Key{Namespace: namespace, Set: name}}
	cfg, err := factory.ToRESTConfig()
	if err != nil {
		t.err = fmt.Errorf("reading the kubeconfig: %w", err)
		return t
	}
	t.Key.Server = strings.TrimRight(cfg.Host, "/")
	t.Store, t.err = sourcetrust.DefaultStore()
	return t
}

// Confirmed returns the source confirmed on this machine for the set; ok is
// false when none is.
func (t Trust) Confirmed() (src applyset.Source, ok bool, err error) {
	if t.err != nil {
		return applyset.Source{}, false, t.err
	}
	return t.Store.Get(t.Key)
}

// check fails unless src, whose repository (and ref and path, unless named
// by flag) comes from the set's record, is the source confirmed on this
// machine.
func (t Trust) check(f *Flags, src applyset.Source) error {
	where := fmt.Sprintf("ConfigMap %s/%s", t.Key.Namespace, t.Key.Set)
	if t.err != nil {
		return fmt.Errorf("sync set %q records the source %s in its %s, and whether this machine confirmed it cannot be checked (%w): pass --repo to name the source", f.Name, sourcetrust.Describe(src), where, t.err)
	}
	err := t.Store.Check(t.Key, src, f.named())
	var nc *sourcetrust.NotConfirmedError
	if !errors.As(err, &nc) {
		return err
	}
	why := "a source read from the cluster is data that anyone who can edit that ConfigMap can change, so nothing was fetched and no credential was sent"
	if nc.Confirmed == nil {
		return &untrustedError{err: err, msg: fmt.Sprintf("sync set %q records the source %s in its %s, which is not confirmed on this machine: %s. Check that it is yours, then confirm it by naming it: %s",
			f.Name, sourcetrust.Describe(src), where, why, sourcetrust.Flags(src))}
	}
	return &untrustedError{err: err, msg: fmt.Sprintf("sync set %q records the source %s in its %s, whose %s differs from the source confirmed on this machine, %s: %s. Name the source to use: %s for the confirmed one, or, once you checked it, %s to confirm the recorded one",
		f.Name, sourcetrust.Describe(src), where, strings.Join(nc.Mismatch, " and "), sourcetrust.Describe(*nc.Confirmed), why, sourcetrust.Flags(*nc.Confirmed), sourcetrust.Flags(src))}
}

// untrustedError is a refused recorded source, with the message that says
// what to do; errors.Is(err, sourcetrust.ErrNotConfirmed) matches it.
type untrustedError struct {
	err error
	msg string
}

func (e *untrustedError) Error() string { return e.msg }
func (e *untrustedError) Unwrap() error { return e.err }

// Confirm records src as confirmed on this machine when the operator named
// any part of it by flag; a source used entirely from the record is already
// the confirmed one. A failure to write is a warning, not an error: the run
// goes on with the source the operator named.
func (f *Flags) Confirm(t Trust, src applyset.Source) {
	n := f.named()
	if f.Name == "" || !n.Repo && !n.Ref && !n.Path {
		return
	}
	err := t.err
	if err == nil {
		if cur, ok, gerr := t.Store.Get(t.Key); gerr == nil && ok && cur == src {
			return // confirmed already
		}
		err = t.Store.Confirm(t.Key, src, time.Now())
	}
	if err != nil && f.cmd != nil {
		fmt.Fprintf(f.cmd.ErrOrStderr(), "warning: the source was not recorded as confirmed on this machine (%v); a later run without --repo will refuse the recorded source\n", err)
	}
}

func (f *Flags) changed(name string) bool {
	return f.cmd != nil && f.cmd.Flags().Changed(name)
}

// Prepared is everything a run needs: the commit, the plan, the set and the
// client.
type Prepared struct {
	// Repository is the opened source, Snapshot the commit read from it.
	Repository *source.Repository
	Snapshot   *source.Snapshot
	Source     applyset.Source
	Set        *applyset.Set
	Plan       *apply.Plan
	Client     *apply.Client
	Namespace  string
}

// Prepare reads the set's parent, opens the source at its commit, renders
// the manifests and checks them into a plan. Nothing is written.
func (f *Flags) Prepare(ctx context.Context, factory cmdutil.Factory) (*Prepared, error) {
	p := &Prepared{}
	client, namespace, err := NewClient(factory)
	if err != nil {
		return nil, err
	}
	p.Client, p.Namespace = client, namespace
	set, err := applyset.Load(ctx, client.Kube.CoreV1(), f.Name, namespace, version.Version())
	if err != nil {
		return nil, err
	}
	if !set.Exists && f.Repo == "" {
		return nil, notFound(ctx, client.Kube.CoreV1(), f.Name, namespace)
	}
	p.Set = set
	trust := NewTrust(factory, f.Name, namespace)
	spec, src, err := f.Spec(set.Record.Source, trust)
	if err != nil {
		return nil, err
	}
	p.Source = src
	repo, err := source.OpenRepository(ctx, spec)
	if err != nil {
		return nil, err
	}
	snap, err := repo.Snapshot(spec.Ref)
	if err != nil {
		return nil, err
	}
	p.Repository, p.Snapshot = repo, snap
	f.Confirm(trust, src)
	dir := strings.Trim(src.Path, "/")
	if dir == "" {
		dir = "."
	}
	opts, err := f.RenderOptions(snap.Revision, namespace)
	if err != nil {
		return nil, err
	}
	objects, err := render.RenderWith(ctx, snap.FS, dir, opts)
	if err != nil {
		return nil, fmt.Errorf("revision %s of %s: %w", short(snap.Revision), src.Repo, err)
	}
	plan, err := apply.NewPlan(objects, client.Mapper, apply.PlanOptions{DefaultNamespace: namespace, SetID: set.ID})
	if err != nil {
		return nil, fmt.Errorf("revision %s of %s: %w", short(snap.Revision), src.Repo, err)
	}
	p.Plan = plan
	return p, nil
}

// LoadSet reads the set named by --name from the cluster; a set that does
// not exist is an error.
func (f *Flags) LoadSet(ctx context.Context, factory cmdutil.Factory) (*applyset.Set, error) {
	client, namespace, err := NewClient(factory)
	if err != nil {
		return nil, err
	}
	set, err := applyset.Load(ctx, client.Kube.CoreV1(), f.Name, namespace, version.Version())
	if err != nil {
		return nil, err
	}
	if !set.Exists {
		return nil, notFound(ctx, client.Kube.CoreV1(), f.Name, namespace)
	}
	return set, nil
}

// notFound is the error for a set name that has no parent in namespace: it
// names the sets that are there, so that a typo shows. It wraps
// applyset.ErrNotFound.
func notFound(ctx context.Context, client corev1client.ConfigMapsGetter, name, namespace string) error {
	there := "there are no sync sets there"
	if names, err := SetNames(ctx, client, namespace); err != nil {
		there = fmt.Sprintf("listing the sync sets there failed: %v", err)
	} else if len(names) > 0 {
		there = "the sync sets there are " + strings.Join(names, ", ")
	}
	return fmt.Errorf("no sync set %q in namespace %s (%w): %s. Check --name and -n, or pass --repo to name the source of a new set", name, namespace, applyset.ErrNotFound, there)
}

// SetNames returns the names of the sync sets in namespace, sorted: the
// ConfigMaps that are ApplySet parents of kubectl-gitops.
func SetNames(ctx context.Context, client corev1client.ConfigMapsGetter, namespace string) ([]string, error) {
	list, err := client.ConfigMaps(namespace).List(ctx, metav1.ListOptions{LabelSelector: applyset.LabelID})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, cm := range list.Items {
		tool, _, _ := strings.Cut(cm.Annotations[applyset.AnnotationTooling], "/")
		if tool == applyset.ToolingName {
			names = append(names, cm.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// OpenSource opens the repository the flags name, or without --repo the
// source the set recorded, when it is confirmed on this machine, and the
// commit to read. It returns the manifests' path inside the repository too
// ("." for the top).
func OpenSource(ctx context.Context, f *Flags, factory cmdutil.Factory) (*source.Repository, *source.Snapshot, string, error) {
	return openSource(ctx, f, factory, false)
}

// OpenSourceForCompletion is OpenSource for shell completion: a source that
// only the set's record names is opened only when it is confirmed on this
// machine and is a local repository, so that completing never fetches a
// source read from the cluster; and nothing is confirmed.
func OpenSourceForCompletion(ctx context.Context, f *Flags, factory cmdutil.Factory) (*source.Repository, *source.Snapshot, string, error) {
	return openSource(ctx, f, factory, true)
}

func openSource(ctx context.Context, f *Flags, factory cmdutil.Factory, completing bool) (*source.Repository, *source.Snapshot, string, error) {
	var recorded applyset.Source
	var trust Trust
	if f.Repo == "" {
		set, err := f.LoadSet(ctx, factory)
		if err != nil {
			return nil, nil, "", err
		}
		recorded = set.Record.Source
		trust = NewTrust(factory, f.Name, set.Namespace)
	} else if f.Name != "" && !completing {
		namespace, _, err := factory.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			namespace = "default"
		}
		trust = NewTrust(factory, f.Name, namespace)
	}
	spec, src, err := f.Spec(recorded, trust)
	if err != nil {
		return nil, nil, "", err
	}
	if completing && f.Repo == "" && source.IsRemote(spec.Repo) {
		return nil, nil, "", errors.New("completion does not fetch a recorded remote source")
	}
	repo, err := source.OpenRepository(ctx, spec)
	if err != nil {
		return nil, nil, "", err
	}
	snap, err := repo.Snapshot(src.Ref)
	if err != nil {
		return nil, nil, "", err
	}
	if !completing {
		f.Confirm(trust, src)
	}
	path := strings.Trim(src.Path, "/")
	if path == "" {
		path = "."
	}
	return repo, snap, path, nil
}

// Author returns the commit author: flag, "Name <email>", when given, else
// git's user.name and user.email.
func Author(repo *source.Repository, flag string) (source.Author, error) {
	if flag == "" {
		return source.DefaultAuthor(repo.Name())
	}
	author, err := source.ParseAuthor(flag)
	if err != nil {
		return source.Author{}, fmt.Errorf("--author: %w", err)
	}
	return author, nil
}

// NewClient builds the engine's client and finds the default namespace from
// the kubeconfig flags.
func NewClient(factory cmdutil.Factory) (*apply.Client, string, error) {
	namespace, _, err := factory.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the default namespace from the kubeconfig: %w", err)
	}
	cfg, err := factory.ToRESTConfig()
	if err != nil {
		return nil, "", fmt.Errorf("reading the kubeconfig: %w", err)
	}
	cfg.Timeout = 2 * time.Minute
	mapper, err := factory.ToRESTMapper()
	if err != nil {
		return nil, "", fmt.Errorf("discovering the cluster's kinds: %w", err)
	}
	client, err := apply.NewClient(cfg, mapper)
	if err != nil {
		return nil, "", err
	}
	return client, namespace, nil
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
