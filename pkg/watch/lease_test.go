package watch

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	k8stesting "k8s.io/client-go/testing"
)

func TestWatchLeaseIsHeldByOneWatcherAndTakenOverWhenItExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := fake.NewClientset()
		var cut atomic.Bool // a's connection to the API server
		a := &Lease{Client: cuttable{client.CoordinationV1(), &cut}, Namespace: "ns", Name: LeaseName("web"), Holder: "alice@a/1"}
		b := &Lease{Client: client.CoordinationV1(), Namespace: "ns", Name: LeaseName("web"), Holder: "bob@b/2"}
		ctx := t.Context()

		if held, _, err := a.Acquire(ctx); !held || err != nil {
			t.Fatalf("a: held=%v, %v; want the free lease", held, err)
		}
		if held, holder, err := b.Acquire(ctx); held || holder != "alice@a/1" || err != nil {
			t.Fatalf("b: held=%v holder=%q, %v; want it held by a", held, holder, err)
		}
		// a renews; b sees the record change and keeps waiting.
		for range 5 {
			time.Sleep(10 * time.Second)
			if held, _, err := a.Acquire(ctx); !held || err != nil {
				t.Fatalf("a's renewal: %v, %v", held, err)
			}
			if held, _, _ := b.Acquire(ctx); held {
				t.Fatal("b took a lease that a renews")
			}
		}
		// a loses the API server: it gives the lease up once it could not
		// renew it for the renew deadline (20s), before it expires (30s),
		// and b takes it over once the record has not changed for the
		// lease's duration, on b's own clock.
		cut.Store(true)
		time.Sleep(20 * time.Second)
		if held, _, _ := b.Acquire(ctx); held {
			t.Fatal("b took the lease before it expired")
		}
		time.Sleep(5 * time.Second)
		if held, _, err := a.Acquire(ctx); held || !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("a after 25s without the API server: held=%v, %v; want ErrLeaseLost", held, err)
		}
		if held, _, err := a.Acquire(ctx); held || err == nil || errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("a asked again: held=%v, %v; want the API server's error", held, err)
		}
		time.Sleep(15 * time.Second)
		if held, _, err := b.Acquire(ctx); !held || err != nil {
			t.Fatalf("b after expiry: %v, %v", held, err)
		}
		cut.Store(false)
		time.Sleep(5 * time.Second)
		if held, holder, err := a.Acquire(ctx); held || holder != "bob@b/2" || err != nil {
			t.Fatalf("a after b took over: held=%v holder=%q, %v", held, holder, err)
		}
		lease, err := client.CoordinationV1().Leases("ns").Get(ctx, "gitops-watch-web", metav1.GetOptions{})
		if err != nil || *lease.Spec.HolderIdentity != "bob@b/2" || *lease.Spec.LeaseTransitions != 1 || *lease.Spec.LeaseDurationSeconds != 30 {
			t.Fatalf("lease %+v, %v", lease.Spec, err)
		}

		// Release by a non-holder does nothing; by the holder, it frees the
		// lease at once.
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoordinationV1().Leases("ns").Get(ctx, "gitops-watch-web", metav1.GetOptions{}); err != nil {
			t.Fatalf("a's release removed b's lease: %v", err)
		}
		if err := b.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoordinationV1().Leases("ns").Get(ctx, "gitops-watch-web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the released lease is still there: %v", err)
		}
		if held, _, err := a.Acquire(ctx); !held || err != nil {
			t.Fatalf("a after b released: %v, %v", held, err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// A released lease is taken by the waiting watcher at its next attempt,
// and Changed tells the waiting loop at once.
func TestWatchLeaseReleasedIsTakenAtTheNextAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := fake.NewClientset()
		a := &Lease{Client: client.CoordinationV1(), Namespace: "ns", Name: "gitops-watch-web", Holder: "alice@a/1"}
		b := &Lease{Client: client.CoordinationV1(), Namespace: "ns", Name: "gitops-watch-web", Holder: "bob@b/2"}
		ctx := t.Context()
		if held, _, err := a.Acquire(ctx); !held || err != nil {
			t.Fatalf("a: %v, %v", held, err)
		}
		if held, holder, err := b.Acquire(ctx); held || holder != "alice@a/1" || err != nil {
			t.Fatalf("b: held=%v holder=%q, %v", held, holder, err)
		}
		changed := b.Changed()
		released := time.Now()
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
		for {
			<-changed
			changed = b.Changed()
			if held, _, err := b.Acquire(ctx); held && err == nil {
				break
			}
			if time.Since(released) > time.Minute {
				t.Fatal("b did not take the released lease")
			}
		}
		// Attempts come every 2s, with jitter up to 2.4s more.
		if d := time.Since(released); d > DefaultLeaseRetryPeriod*22/10 {
			t.Errorf("b took the released lease after %v", d)
		}
		if err := b.Release(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// cuttable makes every call fail while cut is set.
type cuttable struct {
	coordinationv1client.LeasesGetter
	cut *atomic.Bool
}

func (c cuttable) Leases(ns string) coordinationv1client.LeaseInterface {
	return cutLeases{c.LeasesGetter.Leases(ns), c.cut}
}

type cutLeases struct {
	coordinationv1client.LeaseInterface
	cut *atomic.Bool
}

var errCut = errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")

func (c cutLeases) Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.LeaseInterface.Get(ctx, name, opts)
}

func (c cutLeases) Create(ctx context.Context, l *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.LeaseInterface.Create(ctx, l, opts)
}

func (c cutLeases) Update(ctx context.Context, l *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.LeaseInterface.Update(ctx, l, opts)
}

func TestWatchLeaseForbiddenSaysWhatIsNeeded(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "gitops-watch-web", nil)
	})
	l := &Lease{Client: client.CoordinationV1(), Namespace: "ns", Name: "gitops-watch-web", Holder: "me"}
	_, _, err := l.Acquire(t.Context())
	if err == nil || !strings.Contains(err.Error(), "watch needs to get, create, update and delete leases.coordination.k8s.io in namespace ns") {
		t.Fatalf("error %v", err)
	}
}

func TestWatchLeaseName(t *testing.T) {
	if got := LeaseName("web"); got != "gitops-watch-web" {
		t.Errorf("LeaseName(web) = %q", got)
	}
	long := strings.Repeat("a", 253)
	if got := LeaseName(long); len(got) > 253 || !strings.HasPrefix(got, "gitops-watch-aaa") || got == LeaseName(long[:252]+"b") {
		t.Errorf("LeaseName of a long name: %q (%d)", got, len(got))
	}
	if id := Identity(""); !strings.Contains(id, "@") || !strings.Contains(id, "/") {
		t.Errorf("Identity() = %q, want user@host/pid", id)
	}
}
