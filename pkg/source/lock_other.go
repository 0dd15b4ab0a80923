//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// staleLock is the age after which a lock file is taken to be left over by a
// process that died. A clone or fetch that runs longer loses its lock.
const staleLock = 10 * time.Minute

// lockFile creates path exclusively and waits for it until ctx is done. This
// is the fallback where flock(2) is missing (Windows): a lock file older than
// staleLock is removed as stale.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
			_ = f.Close()
			return func() { _ = os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > staleLock {
			_ = os.Remove(path)
			continue
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the lock %s, held by another kubectl-gitops process (remove it if no such process runs): %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
