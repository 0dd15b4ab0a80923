package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// Lease defaults.
const (
	DefaultLeaseDuration      = 30 * time.Second
	DefaultLeaseRenewDeadline = 20 * time.Second
	DefaultLeaseRetryPeriod   = 2 * time.Second
	defaultLeaseTimeout       = 5 * time.Second
	leasePrefix               = "gitops-watch-"
)

// ErrLeaseLost is returned by Lease.Acquire, once, when the Lease this
// watcher held could not be renewed in time or was taken.
var ErrLeaseLost = errors.New("the lease was lost")

// LeaseName returns the name of the Lease of a sync set: gitops-watch-<set>,
// shortened with a hash when too long for an object name.
func LeaseName(set string) string {
	name := leasePrefix + set
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(set))
	return name[:240] + "-" + hex.EncodeToString(sum[:])[:12]
}

// Identity returns <user>@<hostname>/<pid>, the holder identity of this
// process's Lease. The user is the account's name, else fallbackUser (the
// command passes $USER), else "unknown".
func Identity(fallbackUser string) string {
	name := fallbackUser
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return fmt.Sprintf("%s@%s/%d", name, host, os.Getpid())
}

// Lease is a Lock kept in a coordination.k8s.io/v1 Lease by client-go's
// leader election (leaderelection.LeaderElector on a resourcelock.LeaseLock):
// from the first Acquire until Release, an elector takes the Lease when it
// is free, released or expired (judged on this machine's clock: its record
// has not changed for its duration), renews it every RetryPeriod while it
// holds it, and gives it up when it cannot renew it for RenewDeadline.
// Acquire reports the elector's state; Release stops the elector, which
// then releases the Lease (ReleaseOnCancel).
type Lease struct {
	Client    coordinationv1client.LeasesGetter
	Namespace string
	Name      string
	// Holder is this watcher's identity; see Identity.
	Holder string
	// Duration is how long the Lease lasts without renewal; 0 means 30s.
	Duration time.Duration
	// RenewDeadline is how long the holder tries to renew the Lease before
	// giving it up; 0 means 20s.
	RenewDeadline time.Duration
	// RetryPeriod is the time between attempts to take or renew the
	// Lease; 0 means 2s.
	RetryPeriod time.Duration
	// Timeout bounds each call; 0 means 5s.
	Timeout time.Duration

	mu      sync.Mutex
	elector *leaderelection.LeaderElector
	stop    context.CancelFunc
	done    chan struct{} // closed when the elector has stopped
	changed chan struct{} // closed, and replaced, when the state below changes
	tried   bool          // the elector's first attempt is over
	leading bool          // this watcher wrote the Lease as its holder last
	lost    bool          // leadership ended and Acquire has not said so yet
	err     error         // of the last call to the API server, nil once one succeeds
}

// Identity returns the holder identity of this watcher.
func (l *Lease) Identity() string { return l.Holder }

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (l *Lease) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, or(l.Timeout, defaultLeaseTimeout))
}

func (l *Lease) where() string {
	return fmt.Sprintf("lease %s/%s", l.Namespace, l.Name)
}

// failed wraps an error of the API server, with what to do when forbidden.
func (l *Lease) failed(doing string, err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%s %s: %w; watch needs to get, create, update and delete leases.coordination.k8s.io in namespace %s", doing, l.where(), err, l.Namespace)
	}
	return fmt.Errorf("%s %s: %w", doing, l.where(), err)
}

// Changed returns a channel that is closed at the next change of what
// Acquire reports, so that the loop need not wait for its next attempt.
func (l *Lease) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// update changes the state under the lock and, when what Acquire reports
// changed (or always, with force), tells the waiters.
func (l *Lease) update(force bool, f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.state()
	f()
	if !force && l.state() == before {
		return
	}
	if l.changed != nil {
		close(l.changed)
	}
	l.changed = make(chan struct{})
}

type leaseState struct {
	tried, leading, lost bool
	err                  string
}

func (l *Lease) state() leaseState {
	s := leaseState{tried: l.tried, leading: l.leading, lost: l.lost}
	if l.err != nil {
		s.err = l.err.Error()
	}
	return s
}

// Acquire starts the elector if it is not running, waiting for its first
// attempt, and reports whether this watcher holds the Lease, else who does,
// or the error of the last call to the API server. Once after leadership
// ended it returns ErrLeaseLost.
func (l *Lease) Acquire(ctx context.Context) (bool, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.elector == nil {
		if err := l.start(); err != nil {
			return false, "", err
		}
	}
	for !l.tried {
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
		}
		l.mu.Lock()
		if ctx.Err() != nil {
			return false, "", ctx.Err()
		}
	}
	switch {
	case l.leading:
		return true, l.Holder, nil
	case l.lost:
		l.lost = false
		if l.err != nil {
			return false, "", fmt.Errorf("%w: %w", ErrLeaseLost, l.err)
		}
		return false, "", ErrLeaseLost
	case l.err != nil:
		return false, "", l.err
	}
	switch holder := l.elector.GetLeader(); holder {
	case l.Holder:
		return false, "", fmt.Errorf("%s: its record names this watcher, which no longer holds it: taking it again", l.where())
	case "":
		return false, "another watcher", nil // released, or just created by another: the next attempt sees
	default:
		return false, holder, nil
	}
}

// start starts the elector. The caller holds l.mu.
func (l *Lease) start() error {
	lock := &reportingLock{LeaseLock: resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: l.Name, Namespace: l.Namespace},
		Client:     l.Client,
		LockConfig: resourcelock.ResourceLockConfig{Identity: l.Holder},
		Labels:     map[string]string{"app.kubernetes.io/managed-by": "kubectl-gitops"},
	}, lease: l}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            l.Name,
		LeaseDuration:   or(l.Duration, DefaultLeaseDuration),
		RenewDeadline:   or(l.RenewDeadline, DefaultLeaseRenewDeadline),
		RetryPeriod:     or(l.RetryPeriod, DefaultLeaseRetryPeriod),
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			// Holding is known from the lock's own writes (reportingLock),
			// which come before this callback, run on a goroutine.
			OnStartedLeading: func(context.Context) {},
			OnStoppedLeading: func() {
				l.update(false, func() {
					l.lost = l.leading
					l.leading = false
				})
			},
			// The holder is read from the elector (GetLeader).
			OnNewLeader: func(string) { l.update(true, func() { l.tried = true }) },
		},
	})
	if err != nil {
		return fmt.Errorf("%s: %w", l.where(), err)
	}
	// The elector logs through klog; what matters is reported by Acquire,
	// and the terminal belongs to the display.
	ctx, stop := context.WithCancel(klog.NewContext(context.Background(), klog.Logger{}))
	done := make(chan struct{})
	l.elector, l.stop, l.done = elector, stop, done
	l.tried, l.leading, l.lost, l.err = false, false, false, nil
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			elector.Run(ctx) // returns when leadership ends: take it again
		}
	}()
	return nil
}

// Release stops the elector, which releases the Lease if this watcher holds
// it, and then deletes the released Lease.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.elector, l.stop, l.done, l.leading, l.lost, l.err = nil, nil, nil, false, false, nil
	l.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("releasing %s: %w", l.where(), ctx.Err())
	}
	// leaderelection releases a Lease by emptying its holder; a set that no
	// one watches keeps no Lease, so the Lease this watcher released goes.
	ctx, cancel := l.ctx(ctx)
	defer cancel()
	leases := l.Client.Leases(l.Namespace)
	cur, err := leases.Get(ctx, l.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return l.failed("reading", err)
	}
	if h := cur.Spec.HolderIdentity; h != nil && *h != "" {
		return nil // held: by another watcher, or not released by this one
	}
	err = leases.Delete(ctx, l.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID, ResourceVersion: &cur.ResourceVersion}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return l.failed("deleting", err)
	}
	return nil
}

// reportingLock is the elector's LeaseLock, each call bounded by the
// Lease's Timeout and its error kept for Acquire: the elector only logs
// them, and watch must say what is wrong, such as a missing RBAC rule.
type reportingLock struct {
	resourcelock.LeaseLock
	lease *Lease
}

// report notes the outcome of a call. wrote, for a write, says whether it
// named this watcher as the holder.
func (r *reportingLock) report(doing string, err error, wrote bool) {
	l := r.lease
	switch {
	case err == nil && doing != "reading":
		l.update(false, func() { l.err, l.tried, l.leading = nil, true, wrote })
	case err == nil || (doing == "reading" && apierrors.IsNotFound(err)):
		l.mu.Lock()
		l.err = nil
		l.mu.Unlock()
	case errors.Is(err, context.Canceled):
		// The elector is stopping.
	case apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err):
		// Another watcher wrote first: the next attempt sees who.
		l.update(false, func() { l.err, l.tried = nil, true })
	default:
		werr := l.failed(doing, err)
		l.update(false, func() { l.err, l.tried = werr, true })
	}
}

func (r *reportingLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	ctx, cancel := r.lease.ctx(ctx)
	defer cancel()
	rec, raw, err := r.LeaseLock.Get(ctx)
	r.report("reading", err, false)
	return rec, raw, err
}

func (r *reportingLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	ctx, cancel := r.lease.ctx(ctx)
	defer cancel()
	err := r.LeaseLock.Create(ctx, ler)
	r.report("creating", err, ler.HolderIdentity == r.lease.Holder)
	return err
}

func (r *reportingLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	ctx, cancel := r.lease.ctx(ctx)
	defer cancel()
	err := r.LeaseLock.Update(ctx, ler)
	r.report("updating", err, ler.HolderIdentity == r.lease.Holder)
	return err
}
