package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
)

// Lease defaults.
const (
	DefaultLeaseDuration = 30 * time.Second
	defaultLeaseTimeout  = 5 * time.Second
	leasePrefix          = "gitops-watch-"
)

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
// process's Lease.
func Identity() string {
	name := os.Getenv("USER")
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

// Lease is a Lock kept in a coordination.k8s.io/v1 Lease.
//
// Expiry is judged as client-go's leader election judges it, on this
// machine's clock only: a Lease held by another watcher is taken over once
// its record has not changed for its duration, as observed here. A released
// Lease is deleted, so a waiting watcher takes over at its next attempt.
type Lease struct {
	Client    coordinationv1client.LeasesGetter
	Namespace string
	Name      string
	// Holder is this watcher's identity; see Identity.
	Holder string
	// Duration is how long the Lease lasts without renewal; 0 means 30s.
	Duration time.Duration
	// Timeout bounds each call; 0 means 5s.
	Timeout time.Duration

	mu         sync.Mutex
	observed   string    // the record last seen
	observedAt time.Time // when it was first seen
}

// Identity returns the holder identity of this watcher.
func (l *Lease) Identity() string { return l.Holder }

func (l *Lease) duration() time.Duration {
	if l.Duration > 0 {
		return l.Duration
	}
	return DefaultLeaseDuration
}

func (l *Lease) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	t := l.Timeout
	if t <= 0 {
		t = defaultLeaseTimeout
	}
	return context.WithTimeout(ctx, t)
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

// Acquire takes, renews or reports the holder of the Lease.
func (l *Lease) Acquire(ctx context.Context) (bool, string, error) {
	ctx, cancel := l.ctx(ctx)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	leases := l.Client.Leases(l.Namespace)
	cur, err := leases.Get(ctx, l.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		now := metav1.NowMicro()
		seconds := int32(l.duration() / time.Second)
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.Name, Namespace: l.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-gitops"}},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       &l.Holder,
				LeaseDurationSeconds: &seconds,
				AcquireTime:          &now,
				RenewTime:            &now,
			},
		}
		created, err := leases.Create(ctx, lease, metav1.CreateOptions{FieldManager: "kubectl-gitops"})
		if apierrors.IsAlreadyExists(err) {
			return false, "another watcher", nil // it was just created: the next attempt names it
		}
		if err != nil {
			return false, "", l.failed("creating", err)
		}
		l.observe(created)
		return true, l.Holder, nil
	}
	if err != nil {
		return false, "", l.failed("reading", err)
	}
	holder := ""
	if cur.Spec.HolderIdentity != nil {
		holder = *cur.Spec.HolderIdentity
	}
	l.observe(cur)
	duration := l.duration()
	if cur.Spec.LeaseDurationSeconds != nil && *cur.Spec.LeaseDurationSeconds > 0 {
		duration = time.Duration(*cur.Spec.LeaseDurationSeconds) * time.Second
	}
	if holder != "" && holder != l.Holder && time.Since(l.observedAt) < duration {
		return false, holder, nil
	}
	now := metav1.NowMicro()
	seconds := int32(l.duration() / time.Second)
	next := cur.DeepCopy()
	next.Spec.HolderIdentity = &l.Holder
	next.Spec.LeaseDurationSeconds = &seconds
	next.Spec.RenewTime = &now
	if holder != l.Holder {
		next.Spec.AcquireTime = &now
		transitions := int32(1)
		if cur.Spec.LeaseTransitions != nil {
			transitions = *cur.Spec.LeaseTransitions + 1
		}
		next.Spec.LeaseTransitions = &transitions
	}
	updated, err := leases.Update(ctx, next, metav1.UpdateOptions{FieldManager: "kubectl-gitops"})
	if apierrors.IsConflict(err) {
		return false, holder, nil // someone else wrote it first: the next attempt sees who
	}
	if err != nil {
		return false, "", l.failed("updating", err)
	}
	l.observe(updated)
	return true, l.Holder, nil
}

// observe notes when the Lease's record last changed.
func (l *Lease) observe(lease *coordinationv1.Lease) {
	key := lease.ResourceVersion
	if h := lease.Spec.HolderIdentity; h != nil {
		key += "|" + *h
	}
	if r := lease.Spec.RenewTime; r != nil {
		key += "|" + r.UTC().Format(time.RFC3339Nano)
	}
	if l.observedAt.IsZero() || key != l.observed {
		l.observed, l.observedAt = key, time.Now()
	}
}

// Release deletes the Lease if this watcher holds it.
func (l *Lease) Release(ctx context.Context) error {
	ctx, cancel := l.ctx(ctx)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	leases := l.Client.Leases(l.Namespace)
	cur, err := leases.Get(ctx, l.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return l.failed("reading", err)
	}
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity != l.Holder {
		return nil
	}
	err = leases.Delete(ctx, l.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID, ResourceVersion: &cur.ResourceVersion}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return l.failed("deleting", err)
	}
	return nil
}
