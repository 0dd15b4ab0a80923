package applyset

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestID(t *testing.T) {
	// The value kubectl computes for configmap/web in namespace demo.
	got := ID("web", "demo", "ConfigMap", "")
	if got != ID("web", "demo", "ConfigMap", "") || len(got) != len("applyset-")+43+len("-v1") {
		t.Fatalf("ID = %q", got)
	}
	if ID("web", "other", "ConfigMap", "") == got || ID("web", "demo", "Secret", "") == got {
		t.Fatal("ID does not depend on the namespace and kind")
	}
}

func TestMembersRoundTrip(t *testing.T) {
	m := Members{
		{Kind: "ConfigMap", Namespace: "demo", Name: "a"}:                   {Hash: "0123456789abcdef", ResourceVersion: "42"},
		{Group: "apps", Kind: "Deployment", Namespace: "demo", Name: "web"}: {Hash: "fedcba9876543210", ResourceVersion: "7"},
		{Kind: "Namespace", Name: "demo"}:                                   {Hash: "00", ResourceVersion: "1"},
	}
	got, err := ParseMembers(m.String())
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: %v %v, want %v", got, err, m)
	}
	if _, err := ParseMembers("ConfigMap demo a"); err == nil {
		t.Fatal("a short line parsed")
	}
}

func TestGroupKindsAndNamespacesFormat(t *testing.T) {
	gks := map[schema.GroupKind]bool{{Group: "apps", Kind: "Deployment"}: true, {Kind: "ConfigMap"}: true}
	if s := formatGroupKinds(gks); s != "ConfigMap,Deployment.apps" {
		t.Fatalf("formatGroupKinds = %q", s)
	}
	if got := parseGroupKinds("ConfigMap,Deployment.apps"); !reflect.DeepEqual(got, gks) {
		t.Fatalf("parseGroupKinds = %v", got)
	}
	if s := formatNamespaces(map[string]bool{"b": true, "a": true, "parent": true}, "parent"); s != "a,b" {
		t.Fatalf("formatNamespaces = %q", s)
	}
}

func TestRecordKeepsTenRunsAndOnlySuccessfulRevisions(t *testing.T) {
	var r Record
	src := Source{Repo: "r"}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 12 {
		r.Add(src, Run{Revision: string(rune('a' + i)), Started: start, Outcome: OutcomeSucceeded})
	}
	r.Add(src, Run{Revision: "bad", Started: start, Outcome: OutcomeFailed})
	if len(r.History) != HistoryLimit || r.History[0].Revision != "bad" {
		t.Fatalf("history %v", r.History)
	}
	if r.LastSyncedRevision != "l" {
		t.Fatalf("last synced %q, want l (the failed run must not move it)", r.LastSyncedRevision)
	}
}

func TestIsParent(t *testing.T) {
	for _, tc := range []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		want        bool
	}{
		{"plain", map[string]string{"app": "web"}, map[string]string{"note": "x"}, false},
		{"member", map[string]string{LabelPartOf: "applyset-x-v1"}, nil, false},
		{"id label", map[string]string{LabelID: "applyset-x-v1"}, nil, true},
		{"tooling", nil, map[string]string{AnnotationTooling: "kubectl/v1.32.0"}, true},
		{"group kinds", nil, map[string]string{AnnotationGKs: "ConfigMap"}, true},
		{"namespaces", nil, map[string]string{AnnotationNSs: "a,b"}, true},
		{"older group resources", nil, map[string]string{annotationGRsOlder: "configmaps"}, true},
	} {
		if got := IsParent(tc.labels, tc.annotations); got != tc.want {
			t.Errorf("%s: IsParent = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRecordRunsKeepTheirSourceAndRollbackMark(t *testing.T) {
	var r Record
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Add(Source{Repo: "r", Path: "a"}, Run{Revision: "1", Started: start, Outcome: OutcomeSucceeded})
	r.NextIsRollback = true
	r.Add(Source{Repo: "r", Path: "b"}, Run{Revision: "2", Started: start, Outcome: OutcomeSucceeded})
	r.Add(Source{Repo: "r", Path: "c"}, Run{Revision: "3", Started: start, Outcome: OutcomeSucceeded})
	if got := r.RunSource(r.History[2]); got.Path != "a" {
		t.Fatalf("the first run's source is %v, want path a", got)
	}
	if r.History[2].Rollback || !r.History[1].Rollback || r.History[0].Rollback {
		t.Fatalf("only the run after NextIsRollback is a rollback: %+v", r.History)
	}
	// A record written before runs kept their source: its runs used the record's.
	var old Record
	if err := json.Unmarshal([]byte(`{"source":{"repo":"r","path":"p"},"lastSyncedRevision":"1","history":[{"revision":"1","started":"2026-01-01T00:00:00Z","durationNanoseconds":1,"outcome":"Succeeded","counts":{"created":1,"configured":0,"unchanged":0,"pruned":0,"failed":0}}]}`), &old); err != nil {
		t.Fatal(err)
	}
	if got := old.RunSource(old.History[0]); got.Path != "p" || old.Suspended != nil || old.DependsOn != nil {
		t.Fatalf("an older record reads as source %v, suspended %v, dependsOn %v", got, old.Suspended, old.DependsOn)
	}
	b, err := json.Marshal(old)
	if err != nil || strings.Contains(string(b), "suspended") || strings.Contains(string(b), "dependsOn") || strings.Contains(string(b), "NextIsRollback") {
		t.Fatalf("an older record gains fields when written back: %s %v", b, err)
	}
}

func TestSuspendBoundsTheReason(t *testing.T) {
	var r Record
	at := time.Date(2026, 1, 1, 12, 0, 0, 500, time.UTC)
	r.Suspend("alice", strings.Repeat("é", 2*MaxReason), at)
	s := r.Suspended
	if s == nil || s.By != "alice" || !s.At.Equal(at.Truncate(time.Second)) || utf8.RuneCountInString(s.Reason) != MaxReason {
		t.Fatalf("suspension %+v", s)
	}
	r.Resume()
	if r.Suspended != nil {
		t.Fatal("still suspended after Resume")
	}
}
