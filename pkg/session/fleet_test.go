package session

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// The sessions of a fleet run open the repository once and render each
// (commit, path, namespace, variables) once, each getting its own copy of
// the objects with its variables substituted; an unset variable is a bad
// revision naming the file, the object and the variable.
func TestFleetSharesSourceAndRenderings(t *testing.T) {
	factory := isolate(t)
	dir, _ := repo(t, map[string]string{"apps/web/cm.yaml": configMap("web", "${REGION}")})
	f := NewFleet()
	vars := []map[string]string{{"REGION": "eu"}, {"REGION": "eu"}, {"REGION": "us"}, {"REGION": "eu"}}
	keys := []string{"eu", "eu", "us", "eu"}
	revs := make([]*Revision, len(vars))
	errs := make([]error, len(vars))
	var wg sync.WaitGroup
	for i := range vars {
		s := newSession(t, factory, named("web", dir, "apps/web"), &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1"}})
		s.JoinFleet(f, vars[i], keys[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			revs[i], errs[i] = s.Read(context.Background(), "")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("target %d: %v", i, err)
		}
	}
	if len(f.repos) != 1 {
		t.Errorf("the repository was opened %d times, want once", len(f.repos))
	}
	if len(f.renders) != 2 {
		t.Errorf("%d renderings for two distinct variable sets", len(f.renders))
	}
	for i, want := range []string{"eu", "eu", "us", "eu"} {
		obj := revs[i].Objects[0].Object
		if got, _, _ := unstructuredString(obj.Object, "data", "key"); got != want {
			t.Errorf("target %d: key = %q, want %q", i, got, want)
		}
	}
	if revs[0].Objects[0].Object == revs[1].Objects[0].Object {
		t.Error("two targets share one object: each must get its own copy")
	}

	strict := newSession(t, factory, named("web", dir, "apps/web"), &fakeCluster{set: &applyset.Set{ID: "applyset-x-v1"}})
	strict.JoinFleet(f, nil, "")
	_, err := strict.Read(context.Background(), "")
	var rerr *RevisionError
	if !errors.As(err, &rerr) || !rerr.Bad() {
		t.Fatalf("an unset variable: %v, want a bad revision", err)
	}
	for _, want := range []string{"apps/web/cm.yaml", "ConfigMap web", "REGION"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[f]
	}
	s, ok := cur.(string)
	return s, ok, nil
}
