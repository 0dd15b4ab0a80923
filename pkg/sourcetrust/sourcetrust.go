// Package sourcetrust keeps, on the operator's machine, the source (git
// repository, ref and path) that the operator confirmed for each sync set.
//
// The source a set records in the cluster is data, not authority: anyone who
// can edit the set's parent ConfigMap can change it. Before a command uses a
// recorded source (and sends it the operator's git credentials, and applies
// what it holds with the operator's rights), it checks here that the
// operator named that same source on this machine before.
//
// Each set's confirmation is one small JSON file, written with mode 0600 by
// an atomic rename, in a directory of mode 0700 under the user's config
// directory. One file per set, so that commands working on different sets
// at the same time never lose each other's writes.
package sourcetrust

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// DirName is the directory, under the user's config directory, that holds
// the confirmed sources.
const DirName = "kubectl-gitops/confirmed-sources"

// maxFileSize bounds what is read of a confirmation file.
const maxFileSize = 64 << 10

// Key names a sync set on a cluster.
type Key struct {
	// Server is the API server's URL, from the kubeconfig.
	Server string `json:"server"`
	// Namespace is the namespace of the set's parent.
	Namespace string `json:"namespace"`
	// Set is the set's name.
	Set string `json:"set"`
}

func (k Key) String() string {
	return fmt.Sprintf("sync set %q in namespace %s of %s", k.Set, k.Namespace, k.Server)
}

// file is what a confirmation file holds.
type file struct {
	Key         Key             `json:"key"`
	Source      applyset.Source `json:"source"`
	ConfirmedAt time.Time       `json:"confirmedAt"`
}

// Store is the directory of confirmed sources.
type Store struct {
	Dir string
}

// DefaultStore is the store under os.UserConfigDir() ($XDG_CONFIG_HOME, or
// ~/.config on Linux).
func DefaultStore() (Store, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return Store{}, fmt.Errorf("finding the directory of confirmed sources: %w", err)
	}
	return Store{Dir: filepath.Join(dir, filepath.FromSlash(DirName))}, nil
}

// Path is the file that holds the confirmed source of k.
func (s Store) Path(k Key) string {
	h := sha256.Sum256([]byte(k.Server + "\x00" + k.Namespace + "\x00" + k.Set))
	return filepath.Join(s.Dir, hex.EncodeToString(h[:16])+".json")
}

// Get returns the source confirmed for k; ok is false when none was.
func (s Store) Get(k Key) (src applyset.Source, ok bool, err error) {
	if s.Dir == "" {
		return applyset.Source{}, false, errors.New("no directory of confirmed sources")
	}
	path := s.Path(k)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return applyset.Source{}, false, nil
	}
	if err != nil {
		return applyset.Source{}, false, fmt.Errorf("reading the confirmed source of %s: %w", k, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return applyset.Source{}, false, fmt.Errorf("reading the confirmed source of %s: %w", k, err)
	}
	if !info.Mode().IsRegular() {
		return applyset.Source{}, false, fmt.Errorf("%s is not a regular file: remove it, then pass --repo to confirm the source again", path)
	}
	// Windows reports no permission bits worth checking.
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o022 != 0 {
		return applyset.Source{}, false, fmt.Errorf("%s can be written by other users (mode %04o), so the source it confirms cannot be trusted: check it, then chmod go-w it, or remove it and pass --repo to confirm the source again", path, info.Mode().Perm())
	}
	if info.Size() > maxFileSize {
		return applyset.Source{}, false, fmt.Errorf("%s is %d bytes, more than a confirmed source can be: remove it, then pass --repo to confirm the source again", path, info.Size())
	}
	data := make([]byte, info.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return applyset.Source{}, false, fmt.Errorf("reading %s: %w", path, err)
	}
	var c file
	if err := json.Unmarshal(data, &c); err != nil {
		return applyset.Source{}, false, fmt.Errorf("%s is not a valid confirmed source (%w): remove it, then pass --repo to confirm the source again", path, err)
	}
	if c.Key != k {
		// Copied from elsewhere: it confirms nothing for k.
		return applyset.Source{}, false, nil
	}
	if c.Source.Repo == "" {
		return applyset.Source{}, false, fmt.Errorf("%s names no repository: remove it, then pass --repo to confirm the source again", path)
	}
	return c.Source, true, nil
}

// Confirm records src as the source the operator confirmed for k, replacing
// what was confirmed before. src must carry no credentials.
func (s Store) Confirm(k Key, src applyset.Source, now time.Time) error {
	if s.Dir == "" {
		return errors.New("no directory of confirmed sources")
	}
	data, err := json.MarshalIndent(file{Key: k, Source: src, ConfirmedAt: now.UTC()}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("confirming the source of %s: %w", k, err)
	}
	path := s.Path(k)
	tmp, err := os.CreateTemp(s.Dir, ".confirm-*")
	if err != nil {
		return fmt.Errorf("confirming the source of %s: %w", k, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("confirming the source of %s: %w", k, err)
	}
	return nil
}

// Named says which parts of a source the operator named on the command
// line. The parts not named came from the set's record in the cluster.
type Named struct {
	Repo, Ref, Path bool
}

// ErrNotConfirmed is matched by a *NotConfirmedError.
var ErrNotConfirmed = errors.New("the source recorded in the cluster is not confirmed on this machine")

// NotConfirmedError says that a source taken from the cluster's record is
// not the one confirmed on this machine.
type NotConfirmedError struct {
	Key Key
	// Source is the source that would have been used.
	Source applyset.Source
	// Confirmed is the source confirmed for the set, nil when none is.
	Confirmed *applyset.Source
	// Mismatch names the parts taken from the record that differ from the
	// confirmed source.
	Mismatch []string
}

func (e *NotConfirmedError) Error() string {
	if e.Confirmed == nil {
		return fmt.Sprintf("the source recorded for %s, %s, is not confirmed on this machine", e.Key, Describe(e.Source))
	}
	return fmt.Sprintf("the source recorded for %s, %s, differs (%s) from the one confirmed on this machine, %s", e.Key, Describe(e.Source), strings.Join(e.Mismatch, ", "), Describe(*e.Confirmed))
}

// Is makes errors.Is(err, ErrNotConfirmed) true.
func (e *NotConfirmedError) Is(target error) bool { return target == ErrNotConfirmed }

// Check returns nil when src may be used for k: every part of it was named
// by the operator, or equals the part of the source confirmed for k. A
// repository named on the command line needs no confirmation. Otherwise it
// returns a *NotConfirmedError, or an error reading the store.
func (s Store) Check(k Key, src applyset.Source, named Named) error {
	if named.Repo {
		return nil
	}
	confirmed, ok, err := s.Get(k)
	if err != nil {
		return err
	}
	if !ok {
		return &NotConfirmedError{Key: k, Source: src}
	}
	if mismatch := Differences(src, confirmed, named); len(mismatch) > 0 {
		return &NotConfirmedError{Key: k, Source: src, Confirmed: &confirmed, Mismatch: mismatch}
	}
	return nil
}

// Differences names the parts of src, other than those named, that differ
// from confirmed.
func Differences(src, confirmed applyset.Source, named Named) []string {
	var d []string
	if !named.Repo && src.Repo != confirmed.Repo {
		d = append(d, "repository")
	}
	if !named.Ref && src.Ref != confirmed.Ref {
		d = append(d, "ref")
	}
	if !named.Path && src.Path != confirmed.Path {
		d = append(d, "path")
	}
	return d
}

// Describe shows a source on one line: the repository, then its ref and
// path when set. Values that could hide something on a terminal (spaces,
// control characters, quotes) are quoted in Go syntax, as they may come from
// the cluster.
func Describe(src applyset.Source) string {
	s := Quote(src.Repo)
	if src.Ref != "" {
		s += " ref " + Quote(src.Ref)
	}
	if src.Path != "" {
		s += " path " + Quote(src.Path)
	}
	return s
}

// Flags shows a source as the command-line flags that name it.
func Flags(src applyset.Source) string {
	s := "--repo " + Quote(src.Repo)
	if src.Ref != "" {
		s += " --ref " + Quote(src.Ref)
	}
	if src.Path != "" {
		s += " --path " + Quote(src.Path)
	}
	return s
}

// Quote returns s as it is when it holds only characters that are safe on a
// terminal and in a shell word, and in Go's quoted syntax otherwise.
func Quote(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,~", r)) {
			return strconv.Quote(s)
		}
	}
	return s
}
