package watch

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestWatchLeaseIsHeldByOneWatcherAndTakenOverWhenItExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := fake.NewClientset()
		a := &Lease{Client: client.CoordinationV1(), Namespace: "ns", Name: LeaseName("web"), Holder: "alice@a/1"}
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
		// a stops renewing: b takes over once the record has not changed
		// for the lease's duration, on b's own clock.
		time.Sleep(29 * time.Second)
		if held, _, _ := b.Acquire(ctx); held {
			t.Fatal("b took the lease before it expired")
		}
		time.Sleep(2 * time.Second)
		if held, _, err := b.Acquire(ctx); !held || err != nil {
			t.Fatalf("b after expiry: %v, %v", held, err)
		}
		if held, holder, _ := a.Acquire(ctx); held || holder != "bob@b/2" {
			t.Fatalf("a after b took over: held=%v holder=%q", held, holder)
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
		if err := b.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoordinationV1().Leases("ns").Get(ctx, "gitops-watch-web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the released lease is still there: %v", err)
		}
		if held, _, err := a.Acquire(ctx); !held || err != nil {
			t.Fatalf("a after b released: %v, %v", held, err)
		}
	})
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
	if id := Identity(); !strings.Contains(id, "@") || !strings.Contains(id, "/") {
		t.Errorf("Identity() = %q, want user@host/pid", id)
	}
}
