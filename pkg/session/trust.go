package session

import (
	"errors"
	"fmt"
	"strings"
	"time"

	kcmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sourcetrust"
)

// Trust is what a recorded source is checked against: the sources the
// operator confirmed on this machine, and the set's key among them.
type Trust struct {
	Store sourcetrust.Store
	Key   sourcetrust.Key
	err   error // why there is no store or no key
}

// NewTrust returns the trust of the set name in namespace on the cluster of
// the kubeconfig. An error finding them is returned when a recorded source
// is checked, not here: with a named repository, nothing needs checking.
func NewTrust(factory kcmdutil.Factory, name, namespace string) Trust {
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

// Confirm records src as the set's confirmed source, unless it is already.
func (t Trust) Confirm(src applyset.Source) error {
	if t.err != nil {
		return t.err
	}
	if t.Key.Set == "" {
		return nil
	}
	if cur, ok, err := t.Store.Get(t.Key); err == nil && ok && cur == src {
		return nil
	}
	return t.Store.Confirm(t.Key, src, time.Now())
}

// check fails unless src, whose repository (and ref and path, unless
// named) comes from the record of the set name, is the source confirmed on
// this machine.
func (t Trust) check(name string, named sourcetrust.Named, src applyset.Source) error {
	where := fmt.Sprintf("ConfigMap %s/%s", t.Key.Namespace, t.Key.Set)
	if t.err != nil {
		return fmt.Errorf("sync set %q records the source %s in its %s, and whether this machine confirmed it cannot be checked (%w): pass --repo to name the source", name, sourcetrust.Describe(src), where, t.err)
	}
	err := t.Store.Check(t.Key, src, named)
	var nc *sourcetrust.NotConfirmedError
	if !errors.As(err, &nc) {
		return err
	}
	why := "a source read from the cluster is data that anyone who can edit that ConfigMap can change, so nothing was fetched and no credential was sent"
	if nc.Confirmed == nil {
		return &untrustedError{err: err, msg: fmt.Sprintf("sync set %q records the source %s in its %s, which is not confirmed on this machine: %s. Check that it is yours, then confirm it by naming it: %s",
			name, sourcetrust.Describe(src), where, why, sourcetrust.Flags(src))}
	}
	return &untrustedError{err: err, msg: fmt.Sprintf("sync set %q records the source %s in its %s, whose %s differs from the source confirmed on this machine, %s: %s. Name the source to use: %s for the confirmed one, or, once you checked it, %s to confirm the recorded one",
		name, sourcetrust.Describe(src), where, strings.Join(nc.Mismatch, " and "), sourcetrust.Describe(*nc.Confirmed), why, sourcetrust.Flags(*nc.Confirmed), sourcetrust.Flags(src))}
}

// untrustedError is a refused recorded source, with the message that says
// what to do; errors.Is(err, sourcetrust.ErrNotConfirmed) matches it.
type untrustedError struct {
	err error
	msg string
}

func (e *untrustedError) Error() string { return e.msg }
func (e *untrustedError) Unwrap() error { return e.err }
