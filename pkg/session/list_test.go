package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/applyset"
)

// listingCluster is a fake cluster that lists sets.
type listingCluster struct {
	*fakeCluster
	sets      []*applyset.Set
	errs      []error
	namespace string
}

func (c *listingCluster) listSets(_ context.Context, namespace string) ([]*applyset.Set, []error, error) {
	c.namespace = namespace
	return c.sets, c.errs, nil
}

func TestListSetsSummarizesWithoutCredentials(t *testing.T) {
	factory := isolate(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	withCreds := &applyset.Set{Name: "web", Namespace: "demo", Exists: true, Record: applyset.Record{
		Source:             applyset.Source{Repo: "https://alice:s3cret@git.example.com/web.git", Ref: "main"},
		LastSyncedRevision: "0123456789abcdef0123456789abcdef01234567",
		History: []applyset.Run{
			{Revision: "fedc", Outcome: applyset.OutcomeFailed, Started: t0, Duration: time.Second, Message: "https://alice:s3cret@git.example.com"},
			{Revision: "fedc", Outcome: applyset.OutcomeFailed, Started: t0.Add(-time.Minute)},
		},
		Suspended: &applyset.Suspension{By: "bob", Reason: "freeze"},
	}}
	broken := &applyset.Set{Name: "api", Namespace: "demo"}
	other := &applyset.Set{Name: "a", Namespace: "zzz", Exists: true}
	c := &listingCluster{fakeCluster: &fakeCluster{}, sets: []*applyset.Set{other, withCreds, broken}, errs: []error{nil, nil, errors.New("the sync record is not valid JSON")}}
	s := newSession(t, factory, Options{}, nil)
	s.cluster = c

	got, err := s.ListSets(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.namespace != "" {
		t.Errorf("-A listed namespace %q, want all", c.namespace)
	}
	if len(got) != 3 || got[0].Name != "api" || got[1].Name != "web" || got[2].Name != "a" {
		t.Fatalf("sets %+v; want api, web (demo), then a (zzz)", got)
	}
	web := got[1]
	if strings.Contains(web.Source.Repo, "s3cret") || web.LastRun == nil || strings.Contains(web.LastRun.Message, "s3cret") {
		t.Errorf("a credential is listed: %+v %+v", web.Source, web.LastRun)
	}
	if web.Revision != withCreds.Record.LastSyncedRevision || web.LastRun.Outcome != "Failed" || web.LastRun.InARow != 2 || !web.LastRunTime.Equal(t0.Add(time.Second)) || web.Suspended == nil || web.Suspended.By != "bob" {
		t.Errorf("web: %+v", web)
	}
	if got[0].Error == "" {
		t.Errorf("an unreadable set carries no error: %+v", got[0])
	}

	if _, err := s.ListSets(context.Background(), false); err != nil || c.namespace != "demo" {
		t.Errorf("without -A: %v, namespace %q, want demo", err, c.namespace)
	}
}
