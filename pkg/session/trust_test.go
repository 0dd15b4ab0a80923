package session

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

// flags returns the options that the command line args give, as the
// command layer makes them: --name, --repo, --ref and --path, the ref and
// path named when given; the password is always "s3cret".
func flags(t *testing.T, args ...string) Options {
	t.Helper()
	o := Options{Auth: source.Auth{Password: "s3cret"}}
	for i := 0; i+1 < len(args); i += 2 {
		switch v := args[i+1]; args[i] {
		case "--name":
			o.Name = v
		case "--repo":
			o.Source.Repo, o.Named.Repo = v, true
		case "--ref":
			o.Source.Ref, o.Named.Ref = v, true
		case "--path":
			o.Source.Path, o.Named.Path = v, true
		default:
			t.Fatalf("unknown flag %s", args[i])
		}
	}
	return o
}

func sessionFor(o Options) *Session { return &Session{opts: o} }

func newTrust(t *testing.T) Trust {
	t.Helper()
	return Trust{
		Store: sourcetrust.Store{Dir: filepath.Join(t.TempDir(), "confirmed-sources")},
		Key:   sourcetrust.Key{Server: "https://127.0.0.1:6443", Namespace: "demo", Set: "web"},
	}
}

func TestSpecUsesARecordedSourceOnlyWhenConfirmed(t *testing.T) {
	recorded := applyset.Source{Repo: "https://git.example.com/team/web.git", Ref: "main", Path: "deploy"}
	attacker := applyset.Source{Repo: "https://attacker.example/evil.git", Ref: "main", Path: "deploy"}

	trust := newTrust(t)
	f := flags(t, "--name", "web")
	spec, _, err := sessionFor(f).Spec(recorded, trust)
	if !errors.Is(err, sourcetrust.ErrNotConfirmed) {
		t.Fatalf("Spec of an unconfirmed record: %v; want a refusal", err)
	}
	if spec.Auth.Password != "" || spec.Repo != "" {
		t.Fatalf("a refused spec carries %q with a password", spec.Repo)
	}
	for _, want := range []string{`sync set "web"`, recorded.Repo, "ConfigMap demo/web", "not confirmed on this machine", "--repo " + recorded.Repo + " --ref main --path deploy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal lacks %q: %v", want, err)
		}
	}

	// The operator names it: it is used, and confirmed once opened.
	named := flags(t, "--name", "web", "--repo", recorded.Repo, "--ref", "main", "--path", "deploy")
	_, src, err := sessionFor(named).Spec(applyset.Source{}, trust)
	if err != nil {
		t.Fatal(err)
	}
	if err := trust.Confirm(src); err != nil {
		t.Fatal(err)
	}

	spec, src, err = sessionFor(f).Spec(recorded, trust)
	if err != nil || src != recorded || spec.Repo != recorded.Repo || spec.Auth.Password != "s3cret" {
		t.Fatalf("Spec of the confirmed record: %+v, %+v, %v", spec, src, err)
	}

	// The record is changed in the cluster: refused, showing both.
	_, _, err = sessionFor(f).Spec(attacker, trust)
	if !errors.Is(err, sourcetrust.ErrNotConfirmed) {
		t.Fatalf("Spec of a changed record: %v; want a refusal", err)
	}
	for _, want := range []string{attacker.Repo, "differs from the source confirmed on this machine", "--repo " + recorded.Repo + " --ref main --path deploy for the confirmed one", "--repo " + attacker.Repo} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal lacks %q: %v", want, err)
		}
	}

	// A changed path or ref is refused too, unless the operator names it.
	moved := recorded
	moved.Path = "other"
	if _, _, err := sessionFor(f).Spec(moved, trust); !errors.Is(err, sourcetrust.ErrNotConfirmed) {
		t.Fatalf("Spec of a record with another path: %v; want a refusal", err)
	}
	if _, src, err := sessionFor(flags(t, "--name", "web", "--path", "staging")).Spec(moved, trust); err != nil || src.Path != "staging" {
		t.Fatalf("Spec with --path over a recorded path: %+v, %v", src, err)
	}

	// Credentials in a recorded URL never reach the spec.
	withCreds := recorded
	withCreds.Repo = "https://user:pw@git.example.com/team/web.git"
	spec, _, err = sessionFor(f).Spec(withCreds, trust)
	if err != nil || strings.Contains(spec.Repo, "pw") {
		t.Fatalf("Spec of a recorded URL with credentials: %q, %v", spec.Repo, err)
	}
}

func TestSpecOfARecordedLocalPathNeedsConfirmingToo(t *testing.T) {
	trust := newTrust(t)
	dir := t.TempDir()
	f := flags(t, "--name", "web")
	if _, _, err := sessionFor(f).Spec(applyset.Source{Repo: dir}, trust); !errors.Is(err, sourcetrust.ErrNotConfirmed) {
		t.Fatalf("Spec of a recorded local path: %v; want a refusal", err)
	}
	if err := trust.Store.Confirm(trust.Key, applyset.Source{Repo: dir}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sessionFor(f).Spec(applyset.Source{Repo: dir}, trust); err != nil {
		t.Fatalf("Spec of the confirmed local path: %v", err)
	}
	if _, _, err := sessionFor(f).Spec(applyset.Source{Repo: filepath.Join(dir, "..")}, trust); !errors.Is(err, sourcetrust.ErrNotConfirmed) {
		t.Fatalf("Spec of another local path: %v; want a refusal", err)
	}
}

func TestSpecWithoutAStoreRefusesARecordedSource(t *testing.T) {
	trust := Trust{Key: sourcetrust.Key{Namespace: "demo", Set: "web"}, err: errors.New("$HOME is not defined")}
	_, _, err := sessionFor(flags(t, "--name", "web")).Spec(applyset.Source{Repo: "https://git.example.com/x.git"}, trust)
	if err == nil || !strings.Contains(err.Error(), "$HOME is not defined") || !strings.Contains(err.Error(), "pass --repo") {
		t.Fatalf("Spec without a store: %v; want a refusal saying why", err)
	}
	// A repository named by flag needs no store.
	if _, _, err := sessionFor(flags(t, "--name", "web", "--repo", "https://git.example.com/x.git")).Spec(applyset.Source{}, trust); err != nil {
		t.Fatalf("Spec with --repo and no store: %v", err)
	}
}
