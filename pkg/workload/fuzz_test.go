package workload

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/annotations"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/setters"
)

// FuzzLockUnlock checks that locking a workload and unlocking it gives
// back the file byte for byte, or fails and leaves it alone. Run it with
//
//	go test ./pkg/workload/ -run '^$' -fuzz FuzzLockUnlock -fuzztime 60s
func FuzzLockUnlock(f *testing.F) {
	for _, dir := range []string{"workload", "setters"} {
		inputs, err := filepath.Glob(filepath.Join("..", "..", "testdata", dir, "*.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		for _, in := range inputs {
			data, err := os.ReadFile(in)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data, "jane", "freeze: until Monday")
		}
	}
	f.Fuzz(func(t *testing.T, src []byte, user, msg string) {
		ws, err := parseFile("f.yaml", src, "default")
		if err != nil {
			return
		}
		for _, w := range ws {
			locked, err := SetPolicy(src, w, PolicyChange{Locked: ptr(true), LockedUser: user, LockedMsg: msg})
			if err != nil {
				if !bytes.Equal(locked, src) {
					t.Fatalf("SetPolicy failed (%v) and changed the file", err)
				}
				continue
			}
			p := findAgain(t, locked, w).Policy()
			if !p.Locked || p.LockedUser != user || p.LockedMsg != msg {
				t.Fatalf("after lock, policy %+v\n%s", p, locked)
			}
			unlocked, err := SetPolicy(locked, w, PolicyChange{Locked: ptr(false)})
			if err != nil {
				t.Fatalf("unlock failed: %v\n%s", err, locked)
			}
			if roundTrips(src, w) && !bytes.Equal(unlocked, src) {
				t.Fatalf("lock then unlock changed the file:\n--- in\n%s\n--- out\n%s", src, unlocked)
			}
		}
	})
}

func findAgain(t *testing.T, src []byte, w Workload) Workload {
	t.Helper()
	x, err := locate(src, w)
	if err != nil {
		t.Fatalf("workload lost: %v\n%s", err, src)
	}
	return x
}

// roundTrips says whether a lock and unlock of w must give back src: when
// w has no lock annotation already, and its annotations are not written
// as null or as "{}" inside a flow mapping (which the unlock removes).
func roundTrips(src []byte, w Workload) bool {
	for _, k := range []string{annotations.Locked, annotations.LockedUser, annotations.LockedMsg} {
		if _, ok := annotations.Lookup(w.Annotations, k); ok {
			return false
		}
	}
	docs, err := setters.Parse(src)
	if err != nil {
		return false
	}
	obj := docs[w.Doc].YNode()
	for i := 0; i+1 < len(w.Path); i += 2 {
		idx, _ := strconv.Atoi(w.Path[i+1])
		obj = deref(field(obj, w.Path[i]).Content[idx])
	}
	meta := field(obj, "metadata")
	a := field(meta, "annotations")
	switch {
	case a == nil:
		return true
	case a.Kind != yaml.MappingNode:
		return false
	case len(a.Content) == 0 && meta.Style&yaml.FlowStyle != 0:
		return false
	}
	return true
}
